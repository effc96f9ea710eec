// Benchmark ([6/8]): bound → Running through the whole node path. A real
// controller (compiled, managed etcd) and a real `flotilla-agent join` with the
// real runtime (crun, conmon, sandboxes, cgroups; the image already in its
// store, as "cached image" asks); 30 pods created already bound (spec.nodeName),
// one after another, each timed from the create call to its Running status
// seen through the API. Beside it, in the same run, raw `crun run -d` of a
// busybox container; and the agent's RSS with the 30 pods running.
//
// Usage: npm run bench -- pod-running        (as root; writes docs/BENCHMARKS.md)
//        node hack/bench/pod-running.mjs     (prints the rows and notes)
// Settings: BENCH_POD_N (default 30).
// Build first: npx tsc -p tsconfig.json && node hack/postbuild.mjs (the controller runs from dist/).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from 'undici';

export const meta = { title: 'Pod bound → Running through controller and agent (cached image)', issue: '[6/8]' };

const N = Number(process.env.BENCH_POD_N ?? 30);
// Targets from issue [6/8].
const MAX_P50_MS = 250;
const MAX_P99_MS = 600;
const MAX_RSS_MB = 80;

const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => process.stderr.write(`pod-running: ${s}\n`);

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

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

/** The agent and its runtime as plain JS, compiled (no type-check) from the current sources, under the repo (for the addon and pause). */
function compileAgent(root, out) {
  execFileSync(join(root, 'node_modules/.bin/tsc'), [
    '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--resolveJsonModule',
    '--rootDir', root, '--outDir', out, join(root, 'node-agent/main.ts'), join(root, 'node-agent/node-runtime.ts'),
  ], { cwd: root });
  cpSync(join(root, 'api', 'proto'), join(out, 'api', 'proto'), { recursive: true });
}

async function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await Promise.race([new Promise((r) => child.once('exit', r)), sleep(ms)]);
}

export async function run({ root }) {
  if (process.getuid?.() !== 0) throw new Error('pod-running needs root (crun, cgroups, network namespaces)');
  const controllerMain = join(root, 'dist', 'controller', 'main.js');
  if (!existsSync(controllerMain)) throw new Error(`${controllerMain} is missing: build first with "npx tsc -p tsconfig.json && node hack/postbuild.mjs"`);
  const prefix = `fb${randomBytes(3).toString('hex')}`;
  const work = mkdtempSync(join(tmpdir(), `flotilla-bench-${prefix}-`));
  const out = join(root, 'node_modules', '.cache', `flotilla-bench-pod-running-${prefix}`);
  const cgroupParent = `/flotilla-bench-${prefix}`;
  const node = `bench-${prefix}`;
  const agentState = join(work, 'agent-state');
  const agentRun = join(work, 'agent-run');
  const imageRef = 'localhost/flotilla/busybox:bench';
  const children = [];
  let client;
  let mod;
  try {
    say('compiling the agent');
    compileAgent(root, out);
    mod = await import(pathToFileURL(join(out, 'node-agent/node-runtime.js')).href);
    const { silentLogger } = await import(pathToFileURL(join(out, 'api/log.js')).href);

    // The image, cached in the agent's store before it starts.
    execFileSync(process.execPath, [join(root, 'hack', 'test-image.mjs'), join(work, 'image'), '--name', imageRef, '--tar', join(work, 'image.tar')], { stdio: 'ignore' });
    const seed = await mod.NodeRuntime.create({ stateDir: agentState, runDir: agentRun, cgroupParent, log: silentLogger() });
    await seed.images.importImage(join(work, 'image.tar'));

    // The controller.
    say('starting the controller');
    const cstate = join(work, 'controller');
    const [port, bootstrapPort, nodePort] = [await freePort(), await freePort(), await freePort()];
    execFileSync(process.execPath, [controllerMain, 'init', '--state-dir', cstate, '--advertise-address', '127.0.0.1', '--api-port', String(port)], { stdio: 'pipe' });
    const clog = openSync(join(work, 'controller.log'), 'a');
    const ctl = spawn(process.execPath, [controllerMain, 'run', '--state-dir', cstate, '--listen', `127.0.0.1:${port}`, '--bootstrap-port', String(bootstrapPort), '--node-port', String(nodePort), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', clog] });
    closeSync(clog);
    children.push(ctl);
    await new Promise((resolve, reject) => {
      let buf = '';
      const t = setTimeout(() => reject(new Error('the controller did not start within 60 s')), 60_000);
      ctl.stdout.on('data', (d) => {
        buf += d;
        if (buf.includes('serving https://')) {
          clearTimeout(t);
          resolve();
        }
      });
      ctl.once('exit', (c) => reject(new Error(`the controller exited (${c}): ${readFileSync(join(work, 'controller.log'), 'utf8').slice(-2000)}`)));
    });
    ctl.stdout.resume();
    const token = readFileSync(join(cstate, 'admin.token'), 'utf8').trim();
    const ca = readFileSync(join(cstate, 'pki', 'ca.crt'), 'utf8');
    const joinToken = JSON.parse(readFileSync(join(cstate, 'bootstrap-token.json'), 'utf8')).token;
    const { caPinOf } = await import(pathToFileURL(join(root, 'dist', 'api', 'ca-pin.js')).href);
    client = new Client(`https://127.0.0.1:${port}`, { connect: { ca } });
    const api = async (method, path, body) => {
      const r = await client.request({ method, path, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const text = await r.body.text();
      return { status: r.statusCode, body: text ? JSON.parse(text) : undefined };
    };

    // The agent.
    say('starting the agent');
    const alog = openSync(join(work, 'agent.log'), 'a');
    // Node flags as the bin's shebang gives them (BENCH_AGENT_NODE_FLAGS overrides, e.g. '' for V8's defaults).
    const nodeFlags = (process.env.BENCH_AGENT_NODE_FLAGS ?? '--max-semi-space-size=1').split(' ').filter(Boolean);
    const agent = spawn(process.execPath, [
      ...nodeFlags, join(out, 'node-agent', 'main.js'), 'join', '--server', `127.0.0.1:${bootstrapPort}`, '--token', joinToken, '--ca-hash', caPinOf(Buffer.from(ca)),
      '--node-name', node, '--node-ip', '127.0.0.1', '--state-dir', agentState, '--run-dir', agentRun, '--cgroup-parent', cgroupParent,
      '--health-port', '0', '--heartbeat-seconds', '2', '--log-level', 'warn', '--no-pod-network',
    ], { stdio: ['ignore', 'ignore', alog] });
    closeSync(alog);
    children.push(agent);
    for (let i = 0; ; i++) {
      const r = await api('GET', `/api/v1/nodes/${node}`);
      if (r.status === 200 && r.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) break;
      if (agent.exitCode !== null || i > 600) throw new Error(`the agent did not register: ${readFileSync(join(work, 'agent.log'), 'utf8').slice(-2000)}`);
      await sleep(50);
    }

    await sleep(1_000); // let start-up settle: this is the agent's RSS with no pod
    const rssOf = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))[1]) / 1024;
    const idleRssMb = rssOf();

    // Raw crun: a busybox bundle run with `crun run -d`, interleaved with the pods.
    const rootfs = join(work, 'raw-rootfs');
    for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    for (const a of ['sh', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', a));
    const rawRoot = join(work, 'raw-crun');
    const rawIds = [];
    const rawRun = () => {
      const id = randomBytes(8).toString('hex');
      const bundle = join(work, 'raw', id);
      mkdirSync(bundle, { recursive: true });
      const t = now();
      execFileSync('/usr/bin/crun', ['spec', '--bundle', bundle], { stdio: 'ignore' });
      const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
      spec.root = { path: rootfs, readonly: true };
      spec.process.args = ['sleep', '3600'];
      spec.process.terminal = false;
      spec.linux.cgroupsPath = `${cgroupParent}/raw/${id}`;
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
      execFileSync('/usr/bin/crun', [`--root=${rawRoot}`, 'run', '-d', '--bundle', bundle, id], { stdio: 'ignore' });
      rawIds.push(id);
      return now() - t;
    };

    say(`${N} pods`);
    const ours = [];
    const raw = [];
    for (let i = 0; i < N + 2; i++) {
      const name = `bench-${i}`;
      const t = now();
      const r = await api('POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: imageRef, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], resources: { limits: { cpu: '100m', memory: '32Mi' } } }] },
      });
      if (r.status !== 201) throw new Error(`create ${name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      for (;;) {
        const p = await api('GET', `/api/v1/namespaces/default/pods/${name}`);
        if (p.body.status?.phase === 'Running') break;
        if (now() - t > 30_000) throw new Error(`${name} not Running after 30 s: ${JSON.stringify(p.body.status)}`);
        await sleep(5);
      }
      const a = now() - t;
      const b = rawRun();
      if (i >= 2) {
        ours.push(a);
        raw.push(b);
      }
    }
    const rssMb = rssOf();

    say('deleting the pods');
    for (const id of rawIds.splice(0)) execFileSync('/usr/bin/crun', [`--root=${rawRoot}`, 'delete', '--force', id], { stdio: 'ignore' });
    for (let i = 0; i < N + 2; i++) await api('DELETE', `/api/v1/namespaces/default/pods/bench-${i}`);
    for (let i = 0; i < N + 2; i++) {
      const deadline = now() + 60_000;
      while ((await api('GET', `/api/v1/namespaces/default/pods/bench-${i}`)).status !== 404 && now() < deadline) await sleep(50);
    }

    const o50 = pct(ours, 50);
    const o99 = pct(ours, 99);
    const r50 = pct(raw, 50);
    const r99 = pct(raw, 99);
    return {
      command: 'npx tsc -p tsconfig.json && node hack/postbuild.mjs && npm run bench -- pod-running',
      rows: [
        { metric: 'bound → Running p50', value: o50, baseline: r50, baselineLabel: 'crun run -d', unit: 'ms', ratio: o50 / r50, target: `< ${MAX_P50_MS} ms`, pass: o50 < MAX_P50_MS },
        { metric: 'bound → Running p99', value: o99, baseline: r99, baselineLabel: 'crun run -d', unit: 'ms', ratio: o99 / r99, target: `< ${MAX_P99_MS} ms`, pass: o99 < MAX_P99_MS },
        { metric: `agent RSS with ${N + 2} pods`, value: rssMb, baseline: idleRssMb, baselineLabel: 'the same agent, no pod', unit: 'MB', ratio: rssMb / idleRssMb, target: `< ${MAX_RSS_MB} MB`, pass: rssMb < MAX_RSS_MB },
      ],
      notes:
        `${N} pods (after 2 warm-up) created one after another through the API already bound (spec.nodeName) to one real agent ` +
        '(`flotilla-agent join`, crun, loopback-only sandboxes: no pod network yet), one busybox `sleep` container each with cpu and memory limits, ' +
        'the image already in the agent\'s store; timed from the create call to the first GET that shows phase Running (polled every 5 ms), so it ' +
        'includes the watch delivery to the agent, sandbox + container start and the status write. Baseline = `crun run -d` of a busybox `sleep` ' +
        'bundle (no sandbox, no monitor, no API). RSS = VmRSS of the agent process ' +
        `(node ${nodeFlags.join(' ') || 'with V8 defaults'}, as the flotilla-agent bin starts it) before the first pod and with all pods running.`,
    };
  } finally {
    await client?.close().catch(() => {});
    for (const c of children.reverse()) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await waitExit(c, 15_000);
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }
    }
    // Whatever is left of the pods (a failed run): removed through the runtime, then the raw containers and mounts.
    if (mod) {
      const { silentLogger } = await import(pathToFileURL(join(out, 'api/log.js')).href);
      const rt = await mod.NodeRuntime.create({ stateDir: agentState, runDir: agentRun, cgroupParent, log: silentLogger() }).catch(() => undefined);
      for (const st of (await rt?.listPods().catch(() => [])) ?? []) await rt.killPod({ metadata: { uid: st.uid } }, 0).catch(() => {});
    }
    try {
      execFileSync('sh', ['-c', `for id in $(/usr/bin/crun --root=${join(work, 'raw-crun')} list -q 2>/dev/null); do /usr/bin/crun --root=${join(work, 'raw-crun')} delete --force $id; done`], { stdio: 'ignore' });
    } catch {
      /* none */
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(`${work}/`)).sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    for (const hier of ['cpu', 'cpuacct', 'memory', 'pids', 'systemd', 'unified', 'blkio', 'devices', 'freezer', 'cpuset', 'hugetlb', 'net_cls', 'perf_event']) {
      const dir = join('/sys/fs/cgroup', hier, cgroupParent);
      if (existsSync(dir)) {
        try {
          execFileSync('sh', ['-c', `find ${dir} -depth -type d -exec rmdir {} \\;`], { stdio: 'ignore' });
        } catch {
          /* busy */
        }
      }
    }
    rmSync(work, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  run({ root }).then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`));
}
