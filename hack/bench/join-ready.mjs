// Benchmark ([4/8]): join-to-Ready time of one agent against the real controller
// (compiled, managed etcd): from spawning `flotilla-agent join --server … --token …
// --ca-hash …` to its Node turning Ready=True, as seen on a node watch through
// the API. Target: under 2 s.
//
// The agent is a hollow one (`--hollow 1`): it joins, registers and heartbeats
// like a real agent but skips starting the pod runtime (image store, crun,
// network plugin), so this measures the join path (process start, key + CSR,
// CA pin check, Join, node credential, RegisterNode, first heartbeat). The real
// agent in a lab host (BENCH_JOIN_REAL=1) is the next step: the start of the
// agent is `agentCommand()` below, and `readyWatch` does not care which kind of
// agent it is.
//
// Baselines in the same run, each the median of the rounds:
//   - process start: `node dist/node-agent/main.js --help` (Node start + loading the agent's modules);
//   - TLS + Join RPC: in this process, the pinned-CA TLS handshake plus one Join call
//     with a CSR made beforehand (dist/node-agent/join/join.js, the code the agent runs);
//   - key + CSR: the agent's createNodeCsr (RSA 2048 in node-forge) vs node:crypto's
//     generateKeyPairSync of the same size.
//
// Usage: npm run bench -- join-ready         (writes docs/BENCHMARKS.md)
//        node hack/bench/join-ready.mjs      (prints the rows and notes)
// Settings: BENCH_JOIN_ROUNDS (default 7), BENCH_JOIN_REAL=1 (a real agent: not yet).
// Build first: npx tsc -p tsconfig.json && node hack/postbuild.mjs
import { spawn, execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from 'undici';

export const meta = { title: 'Join to Ready, one agent', issue: '[4/8]' };

const ROUNDS = Number(process.env.BENCH_JOIN_ROUNDS ?? 7);
const REAL = process.env.BENCH_JOIN_REAL === '1';
const TARGET_MS = 2000;

const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const max = (xs) => Math.max(...xs);
const say = (s) => process.stderr.write(`join-ready: ${s}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const commOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
};
const started = []; // { pid, comm }
function killNow() {
  for (const p of started) if (alive(p.pid) && commOf(p.pid) === p.comm) process.kill(p.pid, 'SIGKILL');
}
async function stopPid(p, graceMs) {
  if (!alive(p.pid) || commOf(p.pid) !== p.comm) return;
  process.kill(p.pid, 'SIGTERM');
  const end = Date.now() + graceMs;
  while (alive(p.pid) && commOf(p.pid) === p.comm && Date.now() < end) await sleep(50);
  if (alive(p.pid) && commOf(p.pid) === p.comm) process.kill(p.pid, 'SIGKILL');
}

async function startController(root, work) {
  const main = join(root, 'dist', 'controller', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first with "npx tsc -p tsconfig.json && node hack/postbuild.mjs"`);
  const stateDir = join(work, 'controller-state');
  const [port, bootstrapPort, nodePort] = [await freePort(), await freePort(), await freePort()];
  execFileSync(process.execPath, [main, 'init', '--state-dir', stateDir, '--advertise-address', '127.0.0.1', '--api-port', String(port)], { stdio: 'pipe' });
  const logFile = join(work, 'controller.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [main, 'run', '--state-dir', stateDir, '--listen', `127.0.0.1:${port}`, '--bootstrap-port', String(bootstrapPort), '--node-port', String(nodePort), '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', fd] },
  );
  closeSync(fd);
  const me = { pid: child.pid, comm: commOf(child.pid) ?? 'node' };
  started.push(me);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`controller did not start within 60 s; log: ${logFile}`)), 60_000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('serving https://')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (c, s) => {
      clearTimeout(t);
      reject(new Error(`controller exited (${c ?? s}) before serving:\n${readFileSync(logFile, 'utf8').slice(-3000)}`));
    });
  });
  child.stdout.resume();
  let etcd;
  try {
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    const pid = kids.find((p) => commOf(p) === 'etcd');
    if (pid) started.push((etcd = { pid, comm: 'etcd' }));
  } catch {
    /* no etcd child */
  }
  const { caPinOf } = await import(pathToFileURL(join(root, 'dist', 'api', 'ca-pin.js')).href);
  return {
    port,
    bootstrapAddress: `127.0.0.1:${bootstrapPort}`,
    token: readFileSync(join(stateDir, 'admin.token'), 'utf8').trim(),
    ca: readFileSync(join(stateDir, 'pki', 'ca.crt'), 'utf8'),
    joinToken: JSON.parse(readFileSync(join(stateDir, 'bootstrap-token.json'), 'utf8')).token,
    caHash: caPinOf(readFileSync(join(stateDir, 'pki', 'ca.crt'))),
    logFile,
    stop: async () => {
      await stopPid(me, 15_000);
      if (etcd) await stopPid(etcd, 5_000);
    },
  };
}

/** A node watch through the API: resolves `readyAt(name)` with the time a node named `name` is first seen Ready=True. */
async function readyWatch(ctl) {
  const client = new Client(`https://127.0.0.1:${ctl.port}`, { connect: { ca: ctl.ca }, bodyTimeout: 0, headersTimeout: 0 });
  const ac = new AbortController();
  const ready = new Map();
  const waiters = new Map();
  const list = await client.request({ method: 'GET', path: '/api/v1/nodes', headers: { authorization: `Bearer ${ctl.token}` } });
  const rv = JSON.parse(await list.body.text()).metadata.resourceVersion;
  const r = await client.request({
    method: 'GET',
    path: `/api/v1/nodes?watch=true&resourceVersion=${rv}`,
    headers: { authorization: `Bearer ${ctl.token}` },
    signal: ac.signal,
  });
  if (r.statusCode !== 200) throw new Error(`node watch: HTTP ${r.statusCode}`);
  const done = (async () => {
    let buf = '';
    for await (const chunk of r.body) {
      const t = now();
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const ev = JSON.parse(buf.slice(0, nl) || 'null');
        buf = buf.slice(nl + 1);
        const n = ev?.object;
        const name = n?.metadata?.name;
        if (!name || ready.has(name)) continue;
        if (n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
          ready.set(name, t);
          waiters.get(name)?.(t);
        }
      }
    }
  })().catch(() => {});
  return {
    readyAt: (name, timeoutMs) =>
      ready.has(name)
        ? Promise.resolve(ready.get(name))
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`node ${name} was not Ready within ${timeoutMs} ms`)), timeoutMs);
            waiters.set(name, (t) => {
              clearTimeout(timer);
              resolve(t);
            });
          }),
    close: async () => {
      ac.abort();
      await done;
      await client.close().catch(() => {});
    },
  };
}

/** argv of the agent under test, and the name its Node gets. */
function agentCommand(root, ctl, name, stateDir) {
  if (REAL) {
    // A real agent needs a lab host (crun, the image store, the network plugin):
    // run it there, e.g. `hack/lab.sh exec h1 node dist/node-agent/main.js join …`.
    throw new Error('BENCH_JOIN_REAL=1: timing a real agent in a lab host is not implemented yet (hollow only; see the comment at the top of hack/bench/join-ready.mjs)');
  }
  const args = [
    join(root, 'dist', 'node-agent', 'main.js'),
    'join',
    '--server',
    ctl.bootstrapAddress,
    '--token',
    ctl.joinToken,
    '--ca-hash',
    ctl.caHash,
    '--hollow',
    '1',
    '--node-name',
    name,
    '--state-dir',
    stateDir,
    '--health-port',
    '0',
    '--heartbeat-seconds',
    '10',
    '--log-level',
    'warn',
  ];
  return { argv: [process.execPath, ...args], nodeName: `${name}-0` }; // hollow nodes are PREFIX-i
}

export async function run(ctx) {
  const root = ctx?.root ?? fileURLToPath(new URL('../..', import.meta.url));
  if (REAL) agentCommand(root, {}, 'x', 'x'); // fail before starting anything
  const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-join-'));
  const onSignal = () => {
    killNow();
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let ctl;
  let watch;
  const agents = [];
  try {
    ctl = await startController(root, work);
    watch = await readyWatch(ctl);
    const { joinCluster } = await import(pathToFileURL(join(root, 'dist', 'node-agent', 'join', 'join.js')).href);
    const { fetchPinnedCa } = await import(pathToFileURL(join(root, 'dist', 'node-agent', 'join', 'pinned-ca.js')).href);
    const { createNodeCsr } = await import(pathToFileURL(join(root, 'dist', 'node-agent', 'join', 'credentials.js')).href);
    const { silentLogger } = await import(pathToFileURL(join(root, 'dist', 'api', 'index.js')).href);
    const log = silentLogger();

    const joinReady = [];
    const procStart = [];
    const tlsOnly = [];
    const tlsJoin = [];
    const forgeKey = [];
    const nodeKey = [];
    for (let r = 0; r < ROUNDS + 1; r++) {
      // (round 0 is a warm-up for the controller's code paths and the page cache)
      // process start + module load
      let t = now();
      execFileSync(process.execPath, [join(root, 'dist', 'node-agent', 'main.js'), '--help'], { stdio: 'ignore' });
      const ps = now() - t;
      // key + CSR
      t = now();
      const csr = createNodeCsr(`raw-${r}`);
      const fk = now() - t;
      t = now();
      generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
      const nk = now() - t;
      // the pinned-CA TLS handshake alone, then handshake + one Join RPC (CSR made above)
      t = now();
      await fetchPinnedCa(ctl.bootstrapAddress, ctl.caHash);
      const tls = now() - t;
      t = now();
      await joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: `raw-${r}`, stateDir: join(work, `raw-${r}`), log, csr });
      const tj = now() - t;
      // the agent under test
      const { argv, nodeName } = agentCommand(root, ctl, `jr${r}`, join(work, `agent-${r}`));
      const logFile = join(work, `agent-${r}.log`);
      const fd = openSync(logFile, 'a');
      t = now();
      const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      const a = { pid: child.pid, comm: commOf(child.pid) ?? 'node' };
      started.push(a);
      agents.push(a);
      const exited = new Promise((_, rej) => child.once('exit', (c, s) => rej(new Error(`agent exited (${c ?? s}):\n${readFileSync(logFile, 'utf8').slice(-2000)}`))));
      exited.catch(() => {});
      const readyT = await Promise.race([watch.readyAt(nodeName, 30_000), exited]);
      const jr = readyT - t;
      await stopPid(a, 5_000);
      say(`round ${r}${r === 0 ? ' (warm-up)' : ''}: join→Ready ${jr.toFixed(0)} ms; process start ${ps.toFixed(0)} ms, forge key+CSR ${fk.toFixed(0)} ms, node:crypto key ${nk.toFixed(0)} ms, TLS ${tls.toFixed(1)} ms, TLS+Join ${tj.toFixed(1)} ms`);
      if (r === 0) continue;
      joinReady.push(jr);
      procStart.push(ps);
      forgeKey.push(fk);
      nodeKey.push(nk);
      tlsOnly.push(tls);
      tlsJoin.push(tj);
    }
    const jr = median(joinReady);
    const fmtList = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
    return {
      command: `npx tsc -p tsconfig.json && node hack/postbuild.mjs && npm run bench -- join-ready   (BENCH_JOIN_ROUNDS=${ROUNDS})`,
      rows: [
        { metric: `join → Ready, hollow agent process (median of ${ROUNDS})`, value: jr, baseline: median(tlsJoin), baselineLabel: 'pinned-CA TLS + one Join RPC, in-process', unit: 'ms', ratio: jr / median(tlsJoin), target: '< 2000 ms', pass: jr < TARGET_MS },
        { metric: 'join → Ready, worst round', value: max(joinReady), unit: 'ms', target: '< 2000 ms', pass: max(joinReady) < TARGET_MS },
        { metric: 'agent process start + module load (`--help`)', value: median(procStart), unit: 'ms' },
        { metric: 'key + CSR: createNodeCsr (node-forge RSA 2048)', value: median(forgeKey), baseline: median(nodeKey), baselineLabel: 'node:crypto generateKeyPairSync RSA 2048', unit: 'ms', ratio: median(forgeKey) / median(nodeKey) },
        { metric: 'pinned-CA TLS handshake alone', value: median(tlsOnly), unit: 'ms' },
      ],
      notes:
        `From spawning \`flotilla-agent join --server … --token … --ca-hash … --hollow 1\` to the Node's first Ready=True event on a node watch through the API; each round a new node name and state dir, the agent stopped after. ` +
        `Hollow skips the pod runtime start (image store, crun, network plugin, stream server), so this is the join path only: Node start and module load, an RSA key + CSR, the CA pin check (TLS), the Join RPC (the controller signs the node certificate), RegisterNode, the first heartbeat. ` +
        `The real agent in a lab host will add its runtime start; \`BENCH_JOIN_REAL=1\` is reserved for it and fails clearly for now. ` +
        `Rounds (ms) — join→Ready: ${fmtList(joinReady)}; forge key+CSR: ${fmtList(forgeKey)}; node:crypto key: ${fmtList(nodeKey)}; TLS+Join: ${fmtList(tlsJoin)}. A first warm-up round is left out. Controller with its managed etcd, log level warn.`,
    };
  } finally {
    await watch?.close().catch(() => {});
    for (const a of agents) await stopPid(a, 3_000);
    await ctl?.stop().catch(() => {});
    killNow();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await run({});
  for (const row of r.rows) process.stdout.write(`${JSON.stringify(row)}\n`);
  process.stdout.write(`\n${r.notes}\n`);
}
