// Benchmark ([4/8]): scheduling throughput of the real controller (compiled,
// managed etcd, scheduler on the leader) for BENCH_HOLLOW_PODS pods on
// BENCH_HOLLOW_NODES hollow nodes (`flotilla-agent join --hollow N`, one
// process), with the bind latency of each pod as seen on a pod watch, and the
// resident memory of the controller and of its etcd.
//
//   1. baseline: a first controller with `run --no-scheduler` and no nodes takes the
//      same pods through the same API at the same concurrency: the rate at which the
//      API accepts pods here, with nothing else running. Then it is stopped.
//   2. a second controller (scheduler on) + the hollow agent; time until every
//      node is Ready; RSS of the controller and its etcd (VmRSS in /proc).
//   3. a pod watch through the API, then the pods are created at the same
//      concurrency; for each pod: ADDED (unbound) and the first event with
//      spec.nodeName, both as seen by this watch; throughput = bound pods /
//      (last bound − first added). Then RSS again, after the pods are Running.
//
// Targets: >= 300 pods/s (issue [4/8]; Kubernetes' scheduler_perf: ~680 pods/s at 5000
// nodes, in-process). Latency (creation -> bound) includes the wait in the queue.
//
// Usage: npm run bench -- hollow-scheduling     (writes docs/BENCHMARKS.md)
//        node hack/bench/hollow-scheduling.mjs  (prints the rows and notes)
// Settings: BENCH_HOLLOW_NODES (1000), BENCH_HOLLOW_PODS (10000), BENCH_HOLLOW_CONCURRENCY
// (creates in flight, 8), BENCH_HOLLOW_JOIN_TIMEOUT_S (240), BENCH_HOLLOW_SCHED_TIMEOUT_S (360),
// BENCH_NODE_ARGS (node flags for the scheduling controller, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
// BENCH_KEEP=1 (keep the work dir with the controller, etcd and agent logs).
// Build first: npx tsc -p tsconfig.json && node hack/postbuild.mjs
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Pool } from 'undici';

export const meta = { title: 'Scheduling throughput on hollow nodes', issue: '[4/8]' };

const NODES = Number(process.env.BENCH_HOLLOW_NODES ?? 1000);
const PODS = Number(process.env.BENCH_HOLLOW_PODS ?? 10000);
// Creates in flight. With 8, each create waited its turn behind the scheduler's work
// in the controller's event loop, and the create rate (8 / latency) capped the bind
// rate: the run measured the load generator, not the scheduler. 32 keeps pods
// arriving faster than they are bound, so the scheduler is the bottleneck measured.
const CONCURRENCY = Number(process.env.BENCH_HOLLOW_CONCURRENCY ?? 32);
const JOIN_TIMEOUT_MS = Number(process.env.BENCH_HOLLOW_JOIN_TIMEOUT_S ?? 240) * 1000;
const SCHED_TIMEOUT_MS = Number(process.env.BENCH_HOLLOW_SCHED_TIMEOUT_S ?? 360) * 1000;
const STALL_MS = Number(process.env.BENCH_HOLLOW_STALL_S ?? 60) * 1000; // no new binding this long: give up
const TARGET = 300;

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms, monotonic
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => process.stderr.write(`hollow-scheduling: ${s}\n`);

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

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

// ---------------------------------------------------------------- /proc

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
/** kB → MiB of a /proc/PID/status field (VmRSS, VmHWM). */
function statusMiB(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
const TICK = 100; // USER_HZ
/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}
function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------- processes we start

/** Everything started here, to be stopped by PID (also on SIGINT). */
const started = []; // { pid, comm, name }

function killNow(sig = 'SIGKILL') {
  for (const p of started) if (alive(p.pid) && commOf(p.pid) === p.comm) process.kill(p.pid, sig);
}

async function stopPid(p, graceMs) {
  if (!alive(p.pid) || commOf(p.pid) !== p.comm) return;
  process.kill(p.pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (alive(p.pid) && commOf(p.pid) === p.comm && Date.now() < until) await sleep(100);
  if (alive(p.pid) && commOf(p.pid) === p.comm) {
    say(`${p.name} (pid ${p.pid}) ignored SIGTERM for ${graceMs} ms: SIGKILL`);
    process.kill(p.pid, 'SIGKILL');
  }
}

async function startController(root, work, label, runArgs, nodeArgs = []) {
  const main = join(root, 'dist', 'controller', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first with "npx tsc -p tsconfig.json && node hack/postbuild.mjs"`);
  const stateDir = join(work, `${label}-state`);
  const port = await freePort();
  const bootstrapPort = await freePort();
  const nodePort = await freePort();
  const env = { ...process.env, FLOTILLA_LOG_LEVEL: 'info' };
  execFileSync(process.execPath, [main, 'init', '--state-dir', stateDir, '--advertise-address', '127.0.0.1', '--api-port', String(port)], { stdio: 'pipe', env });
  const logFile = join(work, `${label}.log`);
  const logFd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [...nodeArgs, main, 'run', '--state-dir', stateDir, '--listen', `127.0.0.1:${port}`, '--bootstrap-port', String(bootstrapPort), '--node-port', String(nodePort), ...runArgs],
    { stdio: ['ignore', 'pipe', logFd], env },
  );
  closeSync(logFd);
  const me = { pid: child.pid, comm: commOf(child.pid) ?? 'node', name: `controller ${label}` };
  started.push(me);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`controller ${label} did not start within 60 s; log: ${logFile}`)), 60_000);
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
      reject(new Error(`controller ${label} exited (${c ?? s}) before serving:\n${readFileSync(logFile, 'utf8').slice(-3000)}`));
    });
  });
  child.stdout.resume();
  // its managed etcd
  const etcdPid = childPids(child.pid).find((p) => commOf(p) === 'etcd');
  const etcd = etcdPid ? { pid: etcdPid, comm: 'etcd', name: `etcd of ${label}` } : undefined;
  if (etcd) started.push(etcd);
  const token = readFileSync(join(stateDir, 'admin.token'), 'utf8').trim();
  const ca = readFileSync(join(stateDir, 'pki', 'ca.crt'), 'utf8');
  const joinToken = JSON.parse(readFileSync(join(stateDir, 'bootstrap-token.json'), 'utf8')).token;
  const { caPinOf } = await import(join(root, 'dist', 'api', 'ca-pin.js'));
  const caHash = caPinOf(readFileSync(join(stateDir, 'pki', 'ca.crt')));
  const pool = new Pool(`https://127.0.0.1:${port}`, { connections: CONCURRENCY + 2, pipelining: 1, keepAliveTimeout: 60_000, connect: { ca } });
  const api = async (method, path, body) => {
    const r = await pool.request({
      method,
      path,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body } : {}),
    });
    const text = await r.body.text();
    return { status: r.statusCode, text };
  };
  const stop = async () => {
    await pool.close().catch(() => {});
    await stopPid(me, 20_000);
    if (etcd) await stopPid(etcd, 5_000); // the controller stops it; this only acts if it did not
  };
  return { label, port, bootstrapPort, stateDir, logFile, token, ca, joinToken, caHash, pid: child.pid, etcdPid, api, stop };
}

function podBody(name) {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'sched-bench' } },
    spec: {
      nodeSelector: { 'flotilla.io/hollow': 'true' },
      containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'], resources: { requests: { cpu: '100m', memory: '128Mi' } } }],
    },
  });
}

/** Creates pods sched-0 … sched-(n-1) with `concurrency` in flight; per-create start times (ms). */
// With `opts.tolerate`, a failed create is counted (and its first error kept) instead of
// ending the run; `opts.stop()` true ends the creates early.
async function createPods(ctl, n, concurrency, startedAt = new Array(n), prefix = 'sched-', opts = {}) {
  const lat = [];
  let next = 0;
  let ok = 0;
  const failures = { count: 0, first: undefined, codes: new Map() };
  const t0 = now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n && !opts.stop?.(); i = next++) {
        const s = now();
        startedAt[i] = s;
        let r;
        try {
          r = await ctl.api('POST', '/api/v1/namespaces/default/pods', podBody(`${prefix}${i}`));
        } catch (e) {
          r = { status: 0, text: String(e?.message ?? e) };
        }
        if (r.status !== 201) {
          const msg = `create ${prefix}${i}: HTTP ${r.status}: ${r.text.slice(0, 300)}`;
          if (!opts.tolerate) throw new Error(msg);
          failures.count++;
          failures.first ??= msg;
          const reason = `${r.status} ${(/"message":"([^"]{0,80})/.exec(r.text)?.[1] ?? r.text.slice(0, 80))}`;
          failures.codes.set(reason, (failures.codes.get(reason) ?? 0) + 1);
          continue;
        }
        ok++;
        lat.push(now() - s);
      }
    }),
  );
  const wallMs = now() - t0;
  const sorted = lat.sort((a, b) => a - b);
  return { ok, failures, wallMs, perSec: (ok / wallMs) * 1000, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/** A pod watch through the API: records when each pod was first seen unbound, bound, and Running. */
async function watchPods(ctl, fromRV) {
  const seen = new Map(); // name -> { added, bound, running, node }
  const client = new Client(`https://127.0.0.1:${ctl.port}`, { connect: { ca: ctl.ca }, bodyTimeout: 0, headersTimeout: 0 });
  const ac = new AbortController();
  const counts = { bound: 0, running: 0, events: 0 };
  let resolveErr;
  const failed = new Promise((_, rej) => (resolveErr = rej));
  const r = await client.request({
    method: 'GET',
    path: `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${fromRV}`,
    headers: { authorization: `Bearer ${ctl.token}` },
    signal: ac.signal,
  });
  if (r.statusCode !== 200) throw new Error(`watch: HTTP ${r.statusCode}: ${await r.body.text()}`);
  const done = (async () => {
    let buf = '';
    for await (const chunk of r.body) {
      const t = now();
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const ev = JSON.parse(line);
        counts.events++;
        if (ev.type === 'ERROR') throw new Error(`watch error: ${JSON.stringify(ev.object)}`);
        const pod = ev.object;
        const name = pod?.metadata?.name;
        if (!name?.startsWith('sched-')) continue;
        let s = seen.get(name);
        if (!s) seen.set(name, (s = {}));
        if (s.added === undefined && ev.type === 'ADDED' && !pod.spec?.nodeName) s.added = t;
        if (s.bound === undefined && pod.spec?.nodeName) {
          s.bound = t;
          s.node = pod.spec.nodeName;
          counts.bound++;
        }
        if (s.running === undefined && pod.status?.phase === 'Running') {
          s.running = t;
          counts.running++;
        }
      }
    }
  })().catch((e) => {
    if (!ac.signal.aborted) resolveErr(e);
  });
  return {
    seen,
    counts,
    failed,
    close: async () => {
      ac.abort();
      await done;
      await client.close().catch(() => {});
    },
  };
}

/** Waits for `cond()` polling every `everyMs`, racing `failed`; false on timeout. */
/** Promise.race whose rejection is also handled when nobody awaits it any more (the agent exits at cleanup). */
function quietRace(ps) {
  const r = Promise.race(ps);
  r.catch(() => {});
  return r;
}

async function until(cond, timeoutMs, everyMs, failed, onTick) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await Promise.race([sleep(everyMs), failed ?? new Promise(() => {})]);
    onTick?.();
  }
}

const readyCount = async (ctl) => {
  const r = await ctl.api('GET', '/api/v1/nodes?labelSelector=flotilla.io%2Fhollow%3Dtrue');
  if (r.status !== 200) return 0;
  return JSON.parse(r.text).items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
};

/** etcd's own watch counters (its client port serves /metrics). */
async function etcdWatchStats(ctl) {
  try {
    const { client } = JSON.parse(readFileSync(join(ctl.stateDir, 'etcd-ports.json'), 'utf8'));
    // the managed etcd takes only the controller's client certificate
    const pki = (f) => readFileSync(join(ctl.stateDir, 'pki', f));
    const tls = new Client(`https://127.0.0.1:${client}`, { connect: { ca: pki('etcd/ca.crt'), cert: pki('apiserver-etcd-client.crt'), key: pki('apiserver-etcd-client.key') } });
    const text = await tls.request({ method: 'GET', path: '/metrics' }).then((r) => r.body.text()).finally(() => tls.close());
    const v = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return {
      watchers: v('etcd_debugging_mvcc_watcher_total'),
      slowWatchers: v('etcd_debugging_mvcc_slow_watcher_total'),
      pendingEvents: v('etcd_debugging_mvcc_pending_events_total'),
      events: v('etcd_debugging_mvcc_events_total'),
      puts: v('etcd_mvcc_put_total'),
      sentBytes: v('etcd_network_client_grpc_sent_bytes_total'),
    };
  } catch {
    return undefined;
  }
}

/** Prometheus histogram → {count, p50, p99 as bucket bounds}. */
function histogram(metricsText, name, labelFilter = '') {
  const buckets = [...metricsText.matchAll(new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\S+)$`, 'gm'))]
    .filter((m) => m[1].includes(labelFilter))
    .map((m) => ({ le: /le="([^"]+)"/.exec(m[1])[1], n: Number(m[2]) }))
    .map((b) => ({ le: b.le === '+Inf' ? Infinity : Number(b.le), n: b.n }));
  const total = buckets.at(-1)?.n ?? 0;
  const q = (p) => buckets.find((b) => b.n >= p * total)?.le;
  return { count: total, p50: q(0.5), p99: q(0.99) };
}

/** Leadership and scheduler lifecycle lines of the controller log, as "+SECONDS msg" from `t0` (epoch ms). */
function lifecycle(file, t0) {
  if (!existsSync(file)) return [];
  const out = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!/"msg":"(started leading|stopping leading|lease renewal failed|scheduler started|scheduler stopped|initial list failed, retrying)"/.test(line)) continue;
    try {
      const o = JSON.parse(line);
      const at = (Date.parse(o.time) - t0) / 1000;
      if (at < 0) continue;
      out.push(`+${at.toFixed(0)} s ${o.msg}${o.err?.message ? ` (${String(o.err.message).slice(0, 60)})` : ''}`);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/** The most frequent messages at warn level or above in a pino JSON-lines log. */
function logSummary(file) {
  if (!existsSync(file)) return { lines: 0, warn: 0, top: [] };
  const text = readFileSync(file, 'utf8');
  const counts = new Map();
  let lines = 0;
  let warn = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    lines++;
    let o;
    try {
      o = JSON.parse(line);
    } catch {
      continue;
    }
    if ((o.level ?? 0) < 40) continue;
    warn++;
    const k = `${o.level >= 50 ? 'error' : 'warn'}: ${o.msg}${o.err?.message ? ` (${String(o.err.message).slice(0, 80)})` : ''}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return { lines, bytes: statSync(file).size, warn, top: [...counts].sort((a, b) => b[1] - a[1]).slice(0, 4) };
}

/** Every counter sample of a Prometheus text page: `name{labels}` → value. */
function counterSeries(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = /^(flotilla_etcd_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

export async function run(ctx) {
  const root = ctx?.root ?? fileURLToPath(new URL('../..', import.meta.url));
  const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-hollow-'));
  const onSignal = () => {
    killNow();
    if (!process.env.BENCH_KEEP) rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let base;
  let ctl;
  let watch;
  let agent;
  try {
    // ------------------------------------------------ 1. baseline: the API alone
    say(`baseline: ${PODS} pod creates, scheduler off, no nodes (concurrency ${CONCURRENCY})`);
    base = await startController(root, work, 'baseline', ['--no-scheduler']);
    await createPods(base, 50, CONCURRENCY, undefined, 'warm-');
    const baseline = await createPods(base, PODS, CONCURRENCY);
    const baseRss = { ctl: statusMiB(base.pid, 'VmRSS'), etcd: base.etcdPid ? statusMiB(base.etcdPid, 'VmRSS') : undefined };
    say(`baseline: ${baseline.perSec.toFixed(0)} creates/s, p99 ${baseline.p99.toFixed(1)} ms`);
    await base.stop();
    base = undefined;

    // ------------------------------------------------ 2. controller + hollow nodes
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    ctl = await startController(root, work, 'controller', [], nodeArgs);
    const rssIdle = { ctl: statusMiB(ctl.pid, 'VmRSS'), etcd: statusMiB(ctl.etcdPid, 'VmRSS') };
    say(`controller pid ${ctl.pid}, etcd pid ${ctl.etcdPid}; starting ${NODES} hollow nodes`);
    const agentLog = join(work, 'agent.log');
    const agentFd = openSync(agentLog, 'a');
    const cpu0 = { ctl: cpuSeconds(ctl.pid), etcd: cpuSeconds(ctl.etcdPid) };
    const joinT0 = now();
    const agentNodeArgs = (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const a = spawn(
      process.execPath,
      [
        ...agentNodeArgs,
        join(root, 'dist', 'node-agent', 'main.js'),
        'join',
        '--server',
        `127.0.0.1:${ctl.bootstrapPort}`,
        '--token',
        ctl.joinToken,
        '--ca-hash',
        ctl.caHash,
        '--hollow',
        String(NODES),
        '--node-name',
        'hollow',
        '--state-dir',
        join(work, 'agent-state'),
        '--health-port',
        '0',
        '--heartbeat-seconds',
        '10',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', agentFd, agentFd] },
    );
    closeSync(agentFd);
    agent = { pid: a.pid, comm: commOf(a.pid) ?? 'node', name: 'hollow agent' };
    started.push(agent);
    const agentExited = new Promise((_, rej) =>
      a.once('exit', (c, s) => rej(new Error(`the hollow agent exited (${c ?? s}):\n${readFileSync(agentLog, 'utf8').slice(-3000)}`))),
    );
    agentExited.catch(() => {});
    let ready = 0;
    const joined = await until(async () => (ready = await readyCount(ctl)) >= NODES, JOIN_TIMEOUT_MS, 1000, agentExited);
    const joinMs = now() - joinT0;
    const cpuJoin = { ctl: cpuSeconds(ctl.pid) - cpu0.ctl, etcd: cpuSeconds(ctl.etcdPid) - cpu0.etcd, agent: cpuSeconds(agent.pid) };
    if (!joined) throw new Error(`only ${ready}/${NODES} hollow nodes were Ready after ${JOIN_TIMEOUT_MS / 1000} s; logs in ${work} (set BENCH_KEEP=1)`);
    say(`${NODES} nodes Ready after ${(joinMs / 1000).toFixed(1)} s`);
    await sleep(12_000); // a heartbeat round (10 s) with every node registered
    const rssNodes = { ctl: statusMiB(ctl.pid, 'VmRSS'), etcd: statusMiB(ctl.etcdPid, 'VmRSS'), agent: statusMiB(agent.pid, 'VmRSS') };
    say(`RSS with ${NODES} nodes: controller ${rssNodes.ctl?.toFixed(0)} MiB, etcd ${rssNodes.etcd?.toFixed(0)} MiB, agent ${rssNodes.agent?.toFixed(0)} MiB`);

    // ------------------------------------------------ 3. the pods
    const rv = JSON.parse((await ctl.api('GET', '/api/v1/namespaces/default/pods?limit=1')).text).metadata.resourceVersion;
    watch = await watchPods(ctl, rv);
    const etcd0 = await etcdWatchStats(ctl);
    const reqs0 = counterSeries((await ctl.api('GET', '/metrics')).text);
    const cpu1 = { ctl: cpuSeconds(ctl.pid), etcd: cpuSeconds(ctl.etcdPid), agent: cpuSeconds(agent.pid) };
    const benchCpu0 = process.cpuUsage();
    const startedAt = new Array(PODS);
    const samples = [];
    const schedT0 = now();
    const schedWall = Date.now();
    let lastSample = { t: schedT0, bound: 0, cpu: cpu1 };
    const sample = () => {
      const t = now();
      if (t - lastSample.t < 5000) return;
      const cpu = { ctl: cpuSeconds(ctl.pid), etcd: cpuSeconds(ctl.etcdPid), agent: cpuSeconds(agent.pid) };
      const dt = (t - lastSample.t) / 1000;
      const s = {
        at: (t - schedT0) / 1000,
        bound: watch.counts.bound,
        running: watch.counts.running,
        rate: (watch.counts.bound - lastSample.bound) / dt,
        cpu: { ctl: (cpu.ctl - lastSample.cpu.ctl) / dt, etcd: (cpu.etcd - lastSample.cpu.etcd) / dt, agent: (cpu.agent - lastSample.cpu.agent) / dt },
      };
      samples.push(s);
      say(
        `t=${s.at.toFixed(0)}s bound ${s.bound}/${PODS} running ${s.running} (${s.rate.toFixed(0)} binds/s); CPU controller ${(s.cpu.ctl * 100).toFixed(0)}% etcd ${(s.cpu.etcd * 100).toFixed(0)}% agent ${(s.cpu.agent * 100).toFixed(0)}%`,
      );
      lastSample = { t, bound: watch.counts.bound, cpu };
    };
    const ticker = setInterval(sample, 1000);
    let creates;
    let allBound;
    let stalled;
    try {
      let giveUp = false;
      const creating = createPods(ctl, PODS, CONCURRENCY, startedAt, 'sched-', { tolerate: true, stop: () => giveUp }).then((r) => (creates = r));
      creating.catch(() => {});
      let lastBound = 0;
      let lastChange = now();
      const failedRace = quietRace([watch.failed, agentExited]);
      allBound = await until(
        () => {
          if (watch.counts.bound !== lastBound) {
            lastBound = watch.counts.bound;
            lastChange = now();
          }
          if (now() - lastChange > STALL_MS) {
            stalled = { at: (lastChange - schedT0) / 1000, bound: lastBound };
            say(`no binding for ${STALL_MS / 1000} s (${lastBound} bound): giving up`);
            return true;
          }
          // every create answered and every created pod bound (failed creates never will be)
          return watch.counts.bound >= PODS || (creates !== undefined && watch.counts.bound >= creates.ok);
        },
        SCHED_TIMEOUT_MS,
        250,
        failedRace,
      );
      allBound = allBound && !stalled && watch.counts.bound >= PODS;
      giveUp = true;
      await creating;
    } finally {
      clearInterval(ticker);
    }
    const boundAt = now();
    const etcd1 = await etcdWatchStats(ctl);
    const reqs1 = counterSeries((await ctl.api('GET', '/metrics')).text);
    const benchCpu = process.cpuUsage(benchCpu0);
    const cpuSched = {
      ctl: cpuSeconds(ctl.pid) - cpu1.ctl,
      etcd: cpuSeconds(ctl.etcdPid) - cpu1.etcd,
      agent: cpuSeconds(agent.pid) - cpu1.agent,
      bench: (benchCpu.user + benchCpu.system) / 1e6,
    };
    // Running (agent side): wait a little longer, not part of the target.
    const allRunning = await until(() => watch.counts.running >= watch.counts.bound, allBound ? 60_000 : 20_000, 500, quietRace([watch.failed, agentExited]));
    const runningAt = now();
    const rssPods = {
      ctl: statusMiB(ctl.pid, 'VmRSS'),
      ctlPeak: statusMiB(ctl.pid, 'VmHWM'),
      etcd: statusMiB(ctl.etcdPid, 'VmRSS'),
      agent: statusMiB(agent.pid, 'VmRSS'),
    };
    const metricsText = (await ctl.api('GET', '/metrics')).text;
    const lastSeen = watch.seen;
    const runningCount = watch.counts.running;
    await watch.close();
    watch = undefined;
    return figures();

    // ------------------------------------------------ figures
    function figures() {
      const all = [...lastSeen.values()];
      const bound = all.filter((s) => s.bound !== undefined && s.added !== undefined);
      const firstAdded = Math.min(...all.filter((s) => s.added !== undefined).map((s) => s.added));
      const lastBound = Math.max(...bound.map((s) => s.bound));
      const throughput = (bound.length / (lastBound - firstAdded)) * 1000;
      const lat = bound.map((s) => s.bound - s.added).sort((x, y) => x - y);
      const fromPost = [...lastSeen.entries()]
        .filter(([, s]) => s.bound !== undefined)
        .map(([name, s]) => s.bound - startedAt[Number(name.slice(6))])
        .filter((x) => Number.isFinite(x))
        .sort((x, y) => x - y);
      const runLat = all.filter((s) => s.running !== undefined && s.added !== undefined).map((s) => s.running - s.added).sort((x, y) => x - y);
      const perNode = new Map();
      for (const s of all) if (s.node) perNode.set(s.node, (perNode.get(s.node) ?? 0) + 1);
      const spread = [...perNode.values()].sort((x, y) => x - y);
      const sched = histogram(metricsText, 'scheduler_pod_scheduling_duration_seconds');
      const peak = samples.length ? Math.max(...samples.map((s) => s.rate)) : undefined;
      // The two phases of the run: pods still being created (the API's work competes with
      // the scheduler's in one process), then only the backlog left to bind.
      const createsDoneAt = creates ? schedT0 + creates.wallMs : undefined;
      const phases =
        createsDoneAt !== undefined && lastBound > createsDoneAt
          ? {
              during: bound.filter((s) => s.bound <= createsDoneAt).length / ((createsDoneAt - firstAdded) / 1000),
              after: bound.filter((s) => s.bound > createsDoneAt).length / ((lastBound - createsDoneAt) / 1000),
              left: bound.filter((s) => s.bound > createsDoneAt).length,
            }
          : undefined;
      const ctlLog = logSummary(ctl.logFile);
      const agLog = logSummary(agentLog);
      const life = lifecycle(ctl.logFile, schedWall);
      const created = creates?.ok ?? 0;
      const f0 = (v) => (v === undefined || Number.isNaN(v) ? '?' : v.toFixed(0));
      const f1 = (v) => (v === undefined || Number.isNaN(v) ? '?' : v.toFixed(1));
      const etcdLine =
        etcd0 && etcd1
          ? ` etcd while the pods were created and bound: ${f0(etcd1.puts - etcd0.puts)} puts, ${f0(etcd1.events - etcd0.events)} watch events sent (${f0((etcd1.events - etcd0.events) / Math.max(1, etcd1.puts - etcd0.puts))} per put) to ${f0(etcd1.watchers)} watchers, ${f0((etcd1.sentBytes - etcd0.sentBytes) / 2 ** 20)} MiB sent to clients; at the end ${f0(etcd1.slowWatchers)} slow watchers and ${f0(etcd1.pendingEvents)} events pending in etcd.`
          : '';
      const cpuLine = (c, secs) =>
        `controller ${f1(c.ctl)} s (${f0((c.ctl / secs) * 100)}% of one core), etcd ${f1(c.etcd)} s (${f0((c.etcd / secs) * 100)}%)${c.agent !== undefined ? `, hollow agent ${f1(c.agent)} s (${f0((c.agent / secs) * 100)}%)` : ''}${c.bench !== undefined ? `, this bench (the creates and the pod watch) ${f1(c.bench)} s (${f0((c.bench / secs) * 100)}%)` : ''}`;
      const schedSecs = (boundAt - schedT0) / 1000;
      const perPod = (name) =>
        [...reqs1]
          .filter(([k]) => k.startsWith(`${name}{`))
          .map(([k, v]) => [k.slice(name.length), (v - (reqs0.get(k) ?? 0)) / Math.max(1, created)])
          .filter(([, v]) => v >= 0.005)
          .sort((a, b) => b[1] - a[1]);
      const label = (k) => Object.fromEntries([...k.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      const reqPerPod = perPod('flotilla_etcd_requests_total');
      const watchPerPod = perPod('flotilla_etcd_watch_events_total');
      const reqLine = reqPerPod.length
        ? ` The controller's etcd requests while the pods were created and bound, per pod: ${reqPerPod
            .map(([k, v]) => `${label(k).operation} ${label(k).resource} ${v.toFixed(2)}`)
            .join(', ')} (${reqPerPod.reduce((a, [, v]) => a + v, 0).toFixed(2)} in all); etcd watch events it received per pod: ${watchPerPod
            .map(([k, v]) => `${label(k).resource} ${v.toFixed(2)}`)
            .join(', ')}.`
        : '';
      const rows = [
        {
          metric: `scheduling throughput, pending → bound (${bound.length}/${PODS} pods, ${NODES} hollow nodes)`,
          value: throughput,
          baseline: baseline.perSec,
          baselineLabel: 'API creates/s of the same pods, scheduler off, no nodes',
          unit: 'pods/s',
          ratio: throughput / baseline.perSec,
          target: `≥ ${TARGET} pods/s`,
          pass: allBound && throughput >= TARGET,
        },
        { metric: 'bind latency p50 (ADDED → bound, pod watch)', value: percentile(lat, 50), unit: 'ms' },
        { metric: 'bind latency p99 (ADDED → bound, pod watch)', value: percentile(lat, 99), unit: 'ms' },
        { metric: `API create rate during the run (concurrency ${CONCURRENCY})`, value: creates?.perSec, baseline: baseline.perSec, baselineLabel: 'scheduler off, no nodes', unit: '/s', ratio: creates ? creates.perSec / baseline.perSec : undefined },
        { metric: 'API create p99 during the run', value: creates?.p99, baseline: baseline.p99, baselineLabel: 'scheduler off, no nodes', unit: 'ms' },
        { metric: `controller RSS, ${NODES} nodes registered`, value: rssNodes.ctl, baseline: rssIdle.ctl, baselineLabel: 'just started, no nodes', unit: 'MiB' },
        { metric: `etcd RSS, ${NODES} nodes registered`, value: rssNodes.etcd, baseline: rssIdle.etcd, baselineLabel: 'just started, no nodes', unit: 'MiB' },
        { metric: `controller RSS after ${created} pods created`, value: rssPods.ctl, baseline: baseRss.ctl, baselineLabel: `scheduler off, ${PODS} pods, no nodes`, unit: 'MiB' },
        { metric: `etcd RSS after ${created} pods created`, value: rssPods.etcd, baseline: baseRss.etcd, baselineLabel: `scheduler off, ${PODS} pods, no nodes`, unit: 'MiB' },
        { metric: `${NODES} hollow nodes: join → all Ready`, value: joinMs / 1000, unit: 's' },
      ];
      const notes = [
        `Baseline: a first controller started with \`run --no-scheduler\` and no nodes took the same ${PODS} pods through the same HTTPS API at the same concurrency (${CONCURRENCY} in flight, undici keep-alive), after 50 warm-up creates, then was stopped; it is the rate at which the API alone accepts these pods here (${f0(baseline.perSec)}/s, p50 ${f1(baseline.p50)} ms, p99 ${f1(baseline.p99)} ms). ` +
          `The measured controller then ran the scheduler (default profile, bind concurrency 128) with ${NODES} hollow nodes from one \`flotilla-agent join --hollow ${NODES}\` process (4 CPU, 8 Gi, 110 pods each; heartbeats every 10 s), and the pods (requests 100m/128Mi, nodeSelector flotilla.io/hollow=true) were created at the same concurrency while a pod watch through the API recorded, for each pod, its ADDED (unbound) event and the first event carrying spec.nodeName. ` +
          `Throughput = bound pods / (last bound − first ADDED), so it can exceed neither the create rate nor the API's watch fan-out; latency includes the wait in the scheduling queue. Creates ${created < PODS ? 'stopped' : 'were done'} after ${f1(creates ? creates.wallMs / 1000 : undefined)} s (${created} of ${PODS} created); ${allBound ? `all pods were bound after ${f1(schedSecs)} s.` : `NOT all pods were bound: ${bound.length} of ${PODS}${stalled ? `, and no binding came for ${STALL_MS / 1000} s after +${f0(stalled.at)} s, so the run gave up at +${f1(schedSecs)} s` : ` after the ${SCHED_TIMEOUT_MS / 1000} s timeout`}.`}` +
          (creates?.failures.count ? ` ${creates.failures.count} creates failed (${[...creates.failures.codes].map(([k, n]) => `${n}× HTTP ${k}`).join('; ')}).` : '') +
          (life.length ? ` Controller lifecycle from the first create: ${life.slice(0, 14).join('; ')}${life.length > 14 ? `; … (${life.length} lines)` : ''}.` : ''),
        `From the POST being sent to the bound event: p50 ${f0(percentile(fromPost, 50))} ms, p99 ${f0(percentile(fromPost, 99))} ms. ${sched.count > 0 ? `The scheduler's own histogram (queue entry → binding written): ${sched.count} pods, p50 ≤ ${sched.p50 * 1000} ms, p99 ≤ ${sched.p99 * 1000} ms (bucket bounds). ` : 'The controller exports no scheduler metrics (`run` builds the Scheduler without a metrics registry). '}Peak 5-s bind rate ${f0(peak)}/s. ${phases ? `Bind rate while pods were still being created ${f0(phases.during)}/s; after the last create, for the ${phases.left} pods still pending, ${f0(phases.after)}/s. ` : ''}` +
          `${allRunning ? 'All' : `${runningCount} of`} ${PODS} pods reported Running by the hollow agent ${f1((runningAt - schedT0) / 1000)} s after the first create (ADDED → Running p50 ${f0(percentile(runLat, 50))} ms, p99 ${f0(percentile(runLat, 99))} ms). Pods per node: min ${spread[0] ?? 0}, median ${percentile(spread, 50) ?? 0}, max ${spread.at(-1) ?? 0} over ${perNode.size} nodes.`,
        `RSS is VmRSS from /proc of the controller process and, separately, of the etcd it manages; controller peak (VmHWM) ${f0(rssPods.ctlPeak)} MiB; the hollow agent process ${f0(rssNodes.agent)} MiB with ${NODES} nodes, ${f0(rssPods.agent)} MiB with the pods. ` +
          `CPU time while ${NODES} nodes joined (${f1(joinMs / 1000)} s): ${cpuLine(cpuJoin, joinMs / 1000)}. CPU time while the pods were created and bound (${f1(schedSecs)} s): ${cpuLine(cpuSched, schedSecs)}.${etcdLine}${reqLine} ` +
          `Controller log: ${ctlLog.lines} lines (${f0((ctlLog.bytes ?? 0) / 1024)} KiB at info level), ${ctlLog.warn} warn/error${ctlLog.top.length ? `: ${ctlLog.top.map(([k, n]) => `${n}× ${k}`).join('; ')}` : ''}. Agent log (warn level): ${agLog.warn} warn/error${agLog.top.length ? `: ${agLog.top.map(([k, n]) => `${n}× ${k}`).join('; ')}` : ''}.`,
      ];
      return {
        command: `npx tsc -p tsconfig.json && node hack/postbuild.mjs && npm run bench -- hollow-scheduling   (BENCH_HOLLOW_NODES=${NODES} BENCH_HOLLOW_PODS=${PODS} BENCH_HOLLOW_CONCURRENCY=${CONCURRENCY})`,
        rows,
        notes: notes.join('\n\n'),
        samples,
      };
    }
  } finally {
    await watch?.close().catch(() => {});
    if (agent) await stopPid(agent, 15_000);
    await ctl?.stop().catch((e) => say(`stopping the controller: ${e}`));
    await base?.stop().catch((e) => say(`stopping the baseline controller: ${e}`));
    killNow();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (process.env.BENCH_KEEP) say(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await run({});
  for (const row of r.rows) process.stdout.write(`${JSON.stringify(row)}\n`);
  process.stdout.write(`\n${r.notes}\n`);
}
