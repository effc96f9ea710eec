// Benchmark: 1000 pod creates through the HTTPS API of the real controller
// (compiled, managed etcd), against 1000 raw etcd3 puts of the same stored
// JSON to the same etcd in the same run. Both with the same concurrency over
// keep-alive connections (undici Pool for the API, the etcd3 gRPC channel).
// Targets: API create p99 < 50 ms; API throughput >= 30% of the raw put rate.
//
// Usage: npm run bench -- api-create        (writes docs/BENCHMARKS.md)
//        node hack/bench/api-create.mjs     (prints the rows)
// Settings: BENCH_N (default 1000), BENCH_CONCURRENCY (default 4), BENCH_NODE_ARGS (node flags for
// the controller, e.g. --cpu-prof). Build first: npx tsc -p tsconfig.json
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { Pool } from 'undici';

export const meta = { title: 'API pod create vs raw etcd put', issue: '[3/8] control plane' };

const N = Number(process.env.BENCH_N ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const WARMUP = 50;

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

/** Runs `op(i)` for i in [0, n) with `concurrency` in flight; returns per-op ms and the wall time. */
async function drive(n, concurrency, op) {
  const lat = new Array(n);
  let next = 0;
  const t0 = process.hrtime.bigint();
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const s = process.hrtime.bigint();
      await op(i);
      lat[i] = Number(process.hrtime.bigint() - s) / 1e6;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const sorted = [...lat].sort((a, b) => a - b);
  return { wallMs, perSec: (n / wallMs) * 1000, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

function podBody(name) {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'bench' } },
    spec: { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
  });
}

async function startController(root) {
  const main = join(root, 'dist', 'controller', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: compile first with "npx tsc -p tsconfig.json"`);
  const stateDir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  const port = await freePort();
  execFileSync(process.execPath, [main, 'init', '--state-dir', stateDir, '--advertise-address', '127.0.0.1', '--api-port', String(port)], { stdio: 'pipe' });
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, main, 'run', '--state-dir', stateDir, '--listen', `127.0.0.1:${port}`, '--no-scheduler', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`controller did not start:\n${stderr}`)), 30_000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('serving https://')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`controller exited (${c}):\n${stderr}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(r, 15_000);
        child.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    rmSync(stateDir, { recursive: true, force: true });
  };
  return { stateDir, port, stop };
}

export async function run(ctx) {
  const root = ctx?.root ?? fileURLToPath(new URL('../..', import.meta.url));
  const ctl = await startController(root);
  let pool;
  let etcd;
  try {
    const token = readFileSync(join(ctl.stateDir, 'admin.token'), 'utf8').trim();
    const ca = readFileSync(join(ctl.stateDir, 'pki', 'ca.crt'), 'utf8');
    const { client } = JSON.parse(readFileSync(join(ctl.stateDir, 'etcd-ports.json'), 'utf8'));
    // the managed etcd takes only the controller's client certificate
    const pki = (f) => readFileSync(join(ctl.stateDir, 'pki', f));
    etcd = new Etcd3({
      hosts: [`https://127.0.0.1:${client}`],
      credentials: { rootCertificate: pki('etcd/ca.crt'), certChain: pki('apiserver-etcd-client.crt'), privateKey: pki('apiserver-etcd-client.key') },
    });
    pool = new Pool(`https://127.0.0.1:${ctl.port}`, { connections: CONCURRENCY, pipelining: 1, keepAliveTimeout: 60_000, connect: { ca } });

    const create = async (name) => {
      const r = await pool.request({
        method: 'POST',
        path: '/api/v1/namespaces/default/pods',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: podBody(name),
      });
      const text = await r.body.text();
      if (r.statusCode !== 201) throw new Error(`create ${name}: HTTP ${r.statusCode}: ${text}`);
    };
    // the stored value is about what the API writes for a pod
    const sample = await (async () => {
      await create('bench-sample');
      return (await etcd.get('/flotilla/pods/default/bench-sample').string()) ?? podBody('x');
    })();
    const put = (i) => etcd.put(`/flotilla-bench/pods/default/raw-${i}`).value(sample);

    await drive(WARMUP, CONCURRENCY, (i) => put(`warm-${i}`));
    await drive(WARMUP, CONCURRENCY, (i) => create(`bench-warm-${i}`));

    // interleave the two measurements twice and keep the better of each, to damp noise
    const raws = [];
    const apis = [];
    for (let round = 0; round < 2; round++) {
      raws.push(await drive(N, CONCURRENCY, (i) => put(`${round}-${i}`)));
      apis.push(await drive(N, CONCURRENCY, (i) => create(`bench-${round}-${i}`)));
    }
    // server-side view: the controller's own latency histogram for creates (all rounds, warm-up included)
    const metrics = await (await pool.request({ method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${token}` } })).body.text();
    const buckets = [...metrics.matchAll(/^apiserver_request_duration_seconds_bucket\{code="201",le="([^"]+)",resource="pods",verb="create"\} (\d+)$/gm)].map((m) => ({
      le: m[1] === '+Inf' ? Infinity : Number(m[1]),
      n: Number(m[2]),
    }));
    const totalCreates = buckets.at(-1)?.n ?? 0;
    const serverP99 = buckets.find((b) => b.n >= 0.99 * totalCreates)?.le;
    const serverUnder50 = (buckets.find((b) => b.le === 0.05)?.n ?? 0) / (totalCreates || 1);
    const raw = raws.sort((a, b) => b.perSec - a.perSec)[0];
    const api = apis.sort((a, b) => b.perSec - a.perSec)[0];
    const ratio = api.perSec / raw.perSec;
    return {
      command: 'npx tsc -p tsconfig.json && npm run bench -- api-create',
      rows: [
        { metric: `API pod create throughput (${N}, concurrency ${CONCURRENCY})`, value: api.perSec, baseline: raw.perSec, baselineLabel: 'raw etcd3 put', unit: '/s', ratio, target: '>= 0.30', pass: ratio >= 0.3 },
        { metric: 'API pod create p50 latency', value: api.p50, baseline: raw.p50, baselineLabel: 'raw etcd3 put', unit: 'ms' },
        { metric: 'API pod create p99 latency', value: api.p99, baseline: raw.p99, baselineLabel: 'raw etcd3 put', unit: 'ms', target: '< 50 ms', pass: api.p99 < 50 },
        { metric: 'server-side create p99 (histogram bucket bound)', value: serverP99 === undefined ? undefined : serverP99 * 1000, unit: 'ms' },
        { metric: 'server-side creates answered within 50 ms', value: serverUnder50 * 100, unit: '%' },
      ],
      notes:
        'Both sides run against the controller\'s managed etcd (one local member, fast-start tuning) in the same run, with the same concurrency; ' +
        'the API path includes HTTPS over keep-alive connections (undici Pool), bearer-token check, JSON decoding, defaulting, validation, the namespace check and the etcd create transaction. ' +
        'Each side is measured twice, interleaved; the better round of each is reported.',
    };
  } finally {
    await pool?.close().catch(() => {});
    etcd?.close();
    await ctl.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await run({});
  for (const row of r.rows) process.stdout.write(`${JSON.stringify(row)}\n`);
}
