// Benchmark ([2/6]): a 1000-replica Deployment on 100 hollow nodes (one
// `flotilla-agent join --hollow 100` process) against the real compiled
// controller (managed etcd, scheduler, replicaset and deployment controllers).
//
//   1. baseline: the same 1000 pods created directly through the API
//      (BENCH_DEPLOY_CONCURRENCY in flight) and scheduled, first create → all
//      Ready (pod list polled every second); then they are deleted.
//   2. a Deployment of 1000 replicas: create → status.availableReplicas 1000.
//      Rate ratio deployment / direct (target ≥ 0.8).
//   3. a rolling update of it (maxSurge 25 %, maxUnavailable 25 %): image
//      changed → updated = available = replicas = 1000, observedGeneration current.
//
// Usage: npx tsc -p tsconfig.json && node hack/postbuild.mjs && npm run bench -- deployment
//        node hack/bench/deployment.mjs   (prints the rows and notes)
// Settings: BENCH_DEPLOY_NODES (100), BENCH_DEPLOY_REPLICAS (1000),
// BENCH_DEPLOY_CONCURRENCY (32), BENCH_DEPLOY_TIMEOUT_S (600), BENCH_KEEP=1 (keep logs).
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

export const meta = { title: 'Deployment on hollow nodes: creation and rolling update', issue: '[2/6]' };

const NODES = Number(process.env.BENCH_DEPLOY_NODES ?? 100);
const REPLICAS = Number(process.env.BENCH_DEPLOY_REPLICAS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_DEPLOY_CONCURRENCY ?? 32);
const TIMEOUT_MS = Number(process.env.BENCH_DEPLOY_TIMEOUT_S ?? 600) * 1000;
const TARGET = 0.8;

const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => process.stderr.write(`deployment: ${s}\n`);
const started = [];
const commOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
};
const alive = (p) => commOf(p.pid) === p.comm;

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

async function stop(p, graceMs) {
  if (!alive(p)) return;
  process.kill(p.pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (alive(p) && Date.now() < until) await sleep(100);
  if (alive(p)) process.kill(p.pid, 'SIGKILL');
}

async function until(what, fn, timeoutMs = TIMEOUT_MS, everyMs = 1000) {
  const end = now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return now();
    if (now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

const isReady = (p) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export async function run() {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const main = join(root, 'dist', 'controller', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first`);
  const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-deploy-'));
  let pool;
  try {
    const stateDir = join(work, 'state');
    const [port, bootstrapPort, nodePort] = [await freePort(), await freePort(), await freePort()];
    execFileSync(process.execPath, [main, 'init', '--state-dir', stateDir, '--advertise-address', '127.0.0.1', '--api-port', String(port)], { stdio: 'pipe' });
    const logFd = openSync(join(work, 'controller.log'), 'a');
    const c = spawn(process.execPath, [main, 'run', '--state-dir', stateDir, '--listen', `127.0.0.1:${port}`, '--bootstrap-port', String(bootstrapPort), '--node-port', String(nodePort)], {
      stdio: ['ignore', 'pipe', logFd],
      env: { ...process.env, FLOTILLA_LOG_LEVEL: 'warn' },
    });
    closeSync(logFd);
    started.push({ pid: c.pid, comm: commOf(c.pid) ?? 'node' });
    await new Promise((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('controller did not start in 60 s')), 60_000);
      c.stdout.on('data', (d) => {
        out += d;
        if (out.includes('serving https://')) {
          clearTimeout(t);
          resolve();
        }
      });
      c.once('exit', (code) => reject(new Error(`controller exited ${code}`)));
    });
    c.stdout.resume();
    const token = readFileSync(join(stateDir, 'admin.token'), 'utf8').trim();
    const ca = readFileSync(join(stateDir, 'pki', 'ca.crt'), 'utf8');
    const joinToken = JSON.parse(readFileSync(join(stateDir, 'bootstrap-token.json'), 'utf8')).token;
    const { caPinOf } = await import(join(root, 'dist', 'api', 'ca-pin.js'));
    const caHash = caPinOf(readFileSync(join(stateDir, 'pki', 'ca.crt')));
    pool = new Pool(`https://127.0.0.1:${port}`, { connections: CONCURRENCY + 4, connect: { ca } });
    const api = async (method, path, body, type = 'application/json') => {
      const r = await pool.request({ method, path, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': type } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const text = await r.body.text();
      if (r.statusCode >= 300) throw new Error(`${method} ${path}: HTTP ${r.statusCode}: ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : undefined;
    };
    const agentFd = openSync(join(work, 'agent.log'), 'a');
    const a = spawn(
      process.execPath,
      [join(root, 'dist', 'node-agent', 'main.js'), 'join', '--server', `127.0.0.1:${bootstrapPort}`, '--token', joinToken, '--ca-hash', caHash, '--hollow', String(NODES), '--node-name', 'hollow', '--state-dir', join(work, 'agent-state'), '--health-port', '0', '--heartbeat-seconds', '10', '--log-level', 'warn'],
      { stdio: ['ignore', agentFd, agentFd] },
    );
    closeSync(agentFd);
    started.push({ pid: a.pid, comm: commOf(a.pid) ?? 'node' });
    await until(`${NODES} Ready nodes`, async () => {
      const l = await api('GET', '/api/v1/nodes');
      return l.items.filter((n) => (n.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True')).length >= NODES;
    }, 240_000);
    say(`${NODES} hollow nodes Ready`);
    const template = (image) => ({
      metadata: { labels: { app: 'bench' } },
      spec: { containers: [{ name: 'c', image, command: ['sleep', '3600'], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
    });
    const readyPods = async () => (await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dbench')).items;

    // 1. baseline: the pods directly
    const t0 = now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < REPLICAS; i = next++) await api('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', ...template('busybox:1.35'), metadata: { name: `direct-${i}`, labels: { app: 'bench' } } });
      }),
    );
    const tDirect = await until('direct pods Ready', async () => (await readyPods()).filter(isReady).length >= REPLICAS);
    const directSecs = (tDirect - t0) / 1000;
    say(`direct: ${REPLICAS} pods Ready in ${directSecs.toFixed(1)} s`);
    await api('DELETE', '/api/v1/namespaces/default/pods?labelSelector=app%3Dbench');
    await until('direct pods gone', async () => (await readyPods()).length === 0);

    // 2. the deployment
    const t1 = now();
    await api('POST', '/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'bench' },
      spec: { replicas: REPLICAS, selector: { matchLabels: { app: 'bench' } }, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, template: template('busybox:1.35') },
    });
    const done = (d) => d.status?.observedGeneration === d.metadata.generation && d.status?.updatedReplicas === REPLICAS && d.status?.availableReplicas === REPLICAS && d.status?.replicas === REPLICAS;
    const tDeploy = await until('deployment available', async () => (await api('GET', '/apis/apps/v1/namespaces/default/deployments/bench')).status?.availableReplicas === REPLICAS);
    const deploySecs = (tDeploy - t1) / 1000;
    say(`deployment: ${REPLICAS} available in ${deploySecs.toFixed(1)} s`);
    await until('rolled out', async () => done(await api('GET', '/apis/apps/v1/namespaces/default/deployments/bench')));

    // 3. the rolling update
    const t2 = now();
    await api('PATCH', '/apis/apps/v1/namespaces/default/deployments/bench', { spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } } } }, 'application/strategic-merge-patch+json');
    const tRoll = await until('rolling update done', async () => done(await api('GET', '/apis/apps/v1/namespaces/default/deployments/bench')), TIMEOUT_MS, 500);
    const rollSecs = (tRoll - t2) / 1000;
    say(`rolling update: ${rollSecs.toFixed(1)} s`);
    const directRate = REPLICAS / directSecs;
    const deployRate = REPLICAS / deploySecs;
    return {
      command: `npx tsc -p tsconfig.json && node hack/postbuild.mjs && npm run bench -- deployment   (BENCH_DEPLOY_NODES=${NODES} BENCH_DEPLOY_REPLICAS=${REPLICAS} BENCH_DEPLOY_CONCURRENCY=${CONCURRENCY})`,
      rows: [
        {
          metric: `Deployment of ${REPLICAS} replicas on ${NODES} hollow nodes: create → all Available`,
          value: deployRate,
          baseline: directRate,
          baselineLabel: `the same ${REPLICAS} pods created directly (${CONCURRENCY} in flight) → all Ready`,
          unit: 'pods/s',
          ratio: deployRate / directRate,
          target: `ratio ≥ ${TARGET}`,
          pass: deployRate / directRate >= TARGET,
        },
        { metric: 'Deployment create → all Available', value: deploySecs, unit: 's' },
        { metric: `${REPLICAS} pods created directly → all Ready`, value: directSecs, unit: 's' },
        { metric: `rolling update of ${REPLICAS} replicas (maxSurge 25 %, maxUnavailable 25 %): image changed → rolled out`, value: rollSecs, unit: 's' },
      ],
      notes:
        `One controller (managed etcd, scheduler, replicaset and deployment controllers on the leader) and one \`flotilla-agent join --hollow ${NODES}\` process; pods request 10m/16Mi. ` +
        `The baseline creates the pods through the API with ${CONCURRENCY} requests in flight and waits (pod list polled every second) until all are Ready; they are then deleted. ` +
        `The Deployment is created once; its controllers create the pods (slow-start batches 1, 2, 4, … up to 500 per reconcile); time until status.availableReplicas = ${REPLICAS} (polled every second, so figures carry up to 1 s of polling). ` +
        `The rolling update changes the image and waits for updated = available = replicas = ${REPLICAS} with observedGeneration current (polled every 0.5 s).`,
    };
  } finally {
    await pool?.close().catch(() => {});
    for (const p of [...started].reverse()) await stop(p, 15_000);
    if (process.env.BENCH_KEEP) say(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await run({});
  for (const row of r.rows) process.stdout.write(`${JSON.stringify(row)}\n`);
  process.stdout.write(`\n${r.notes}\n`);
}
