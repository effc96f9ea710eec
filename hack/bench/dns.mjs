// Cluster DNS queries per second on one core: the node agent's name server
// (node-agent/dns) against dnsmasq serving the same names from a hosts file,
// both pinned to the same CPU with taskset, loaded by dnsperf from the other
// CPU, interleaved in one run.
//
// Usage: npm run bench -- dns            (needs dnsperf, dnsmasq, taskset and 2 CPUs)
//        node hack/bench/dns.mjs         (prints the rows as JSON)
// Settings (environment):
//   BENCH_DNS_SERVICES=1000   Services (names) served, each queried in turn
//   BENCH_DNS_SECONDS=8       dnsperf run length per round
//   BENCH_DNS_ROUNDS=5        rounds per server, interleaved (the medians count: the machine is shared)
//   BENCH_DNS_SERVER_CPU=0    the CPU both servers are pinned to; dnsperf gets the next one
//   BENCH_DNS_NODE_FLAGS='--max-semi-space-size=1'   node flags of our server (the agent bin's)
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SERVICES = Number(process.env.BENCH_DNS_SERVICES ?? 1000);
const SECONDS = Number(process.env.BENCH_DNS_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_DNS_ROUNDS ?? 5);
const SERVER_CPU = Number(process.env.BENCH_DNS_SERVER_CPU ?? 0);
// Targets of issue 16 (c): half of dnsmasq, and CoreDNS's published 17 000 QPS per core.
const MIN_RATIO = 0.5;
const MIN_QPS = 17_000;

export const meta = { title: 'Cluster DNS: queries per second on one core, node agent vs dnsmasq', issue: '[3/6]' };

function which(bin) {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** The DNS code as plain JS, compiled (without type-checking) from the current sources. */
function compile(root) {
  const out = join(root, 'node_modules', '.cache', 'flotilla-bench-dns');
  execFileSync(join(root, 'node_modules/.bin/tsc'), [
    '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--esModuleInterop', '--resolveJsonModule',
    '--rootDir', root, '--outDir', out, join(root, 'node-agent/dns/index.ts'), join(root, 'node-agent/services/catalog.ts'),
  ], { cwd: root });
  return out;
}

const ipOf = (i) => `10.96.${Math.floor(i / 250) + 1}.${(i % 250) + 1}`;
const nameOf = (i) => `svc-${i}.bench.svc.cluster.local`;

/** Starts CMD pinned to the server CPU and waits until it prints READY (or a second passes when READY is empty). */
async function startPinned(cmd, args, ready) {
  const p = spawn('taskset', ['-c', String(SERVER_CPU), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => (ready ? reject(new Error(`${cmd} did not start: ${err}`)) : resolve()), ready ? 30_000 : 1000);
    if (ready) p.stdout.on('data', (d) => String(d).includes(ready) && (clearTimeout(t), resolve()));
    p.once('exit', (code) => (clearTimeout(t), reject(new Error(`${cmd} exited (${code}): ${err}`))));
  });
  p.removeAllListeners('exit');
  return p;
}

async function stop(p) {
  if (p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}

/** dnsperf from the other CPU against 127.0.0.1:PORT; resolves to { qps, lost }. */
function dnsperf(port, queries) {
  const cpu = (SERVER_CPU + 1) % cpus().length;
  const out = execFileSync('taskset', ['-c', String(cpu), 'dnsperf', '-s', '127.0.0.1', '-p', String(port), '-d', queries, '-l', String(SECONDS), '-c', '4', '-q', '100', '-t', '2'], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1]);
  const lost = Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const noerror = /Response codes:\s+NOERROR (\d+)/.exec(out)?.[1];
  if (!Number.isFinite(qps)) throw new Error(`dnsperf printed no rate:\n${out}`);
  return { qps, lost, noerror: Number(noerror ?? 0) };
}

export async function run({ root }) {
  for (const b of ['dnsperf', 'dnsmasq', 'taskset']) if (!which(b)) throw new Error(`the dns benchmark needs ${b}: run hack/deps.sh first`);
  if (cpus().length < 2) throw new Error('the dns benchmark needs 2 CPUs (one for the server, one for dnsperf)');
  const out = compile(root);
  const tmp = mkdtempSync(join(tmpdir(), `flotilla-bench-dns-${randomBytes(3).toString('hex')}-`));
  const procs = [];
  try {
    const queries = join(tmp, 'queries.txt');
    writeFileSync(queries, Array.from({ length: SERVICES }, (_, i) => `${nameOf(i)} A\n`).join(''));
    const hosts = join(tmp, 'hosts');
    writeFileSync(hosts, Array.from({ length: SERVICES }, (_, i) => `${ipOf(i)} ${nameOf(i)}\n`).join(''), { mode: 0o644 });
    const ourPort = 20000 + Math.floor(Math.random() * 10000);
    const masqPort = ourPort + 1;
    const server = join(tmp, 'server.mjs');
    writeFileSync(
      server,
      [
        `import { ClusterZone, DnsServer, DnsMetrics } from ${JSON.stringify(pathToFileURL(join(out, 'node-agent/dns/index.js')).href)};`,
        `import { MemoryServiceCatalog } from ${JSON.stringify(pathToFileURL(join(out, 'node-agent/services/catalog.js')).href)};`,
        `import { MetricsRegistry } from ${JSON.stringify(pathToFileURL(join(out, 'api/metrics.js')).href)};`,
        `import { silentLogger } from ${JSON.stringify(pathToFileURL(join(out, 'api/index.js')).href)};`,
        'const catalog = new MemoryServiceCatalog();',
        `const svcs = Array.from({ length: ${SERVICES} }, (_, i) => ({ metadata: { name: 'svc-' + i, namespace: 'bench' }, spec: { type: 'ClusterIP', clusterIP: '10.96.' + (Math.floor(i / 250) + 1) + '.' + ((i % 250) + 1), clusterIPs: ['10.96.' + (Math.floor(i / 250) + 1) + '.' + ((i % 250) + 1)], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } }));`,
        'catalog.replace(svcs, []);',
        // as the agent runs it: metrics on, the answer cache on
        'const s = new DnsServer({ zone: new ClusterZone(catalog), metrics: new DnsMetrics(new MetricsRegistry()), log: silentLogger() });',
        `await s.listen('127.0.0.1', ${ourPort});`,
        "process.stdout.write('listening\\n');",
        "process.once('SIGTERM', () => process.exit(0));",
      ].join('\n'),
    );
    const rounds = { ours: [], dnsmasq: [] };
    for (let r = 0; r < ROUNDS; r++) {
      // agent's name server, the way the agent starts it (the bin's V8 flag included)
      const ours = await startPinned(process.execPath, [...(process.env.BENCH_DNS_NODE_FLAGS ?? '--max-semi-space-size=1').split(' ').filter(Boolean), server], 'listening');
      procs.push(ours);
      rounds.ours.push(dnsperf(ourPort, queries));
      await stop(ours);
      const masq = await startPinned(which('dnsmasq'), [
        '-k', '-C', '/dev/null', '--no-resolv', '--no-hosts', '-H', hosts, '--local-ttl=5', '--bind-interfaces', '--listen-address=127.0.0.1', '-p', String(masqPort), '--pid-file=',
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      ], '');
      procs.push(masq);
      rounds.dnsmasq.push(dnsperf(masqPort, queries));
      await stop(masq);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const o = { qps: median(rounds.ours.map((x) => x.qps)), lost: rounds.ours.reduce((n, x) => n + x.lost, 0) };
    const m = { qps: median(rounds.dnsmasq.map((x) => x.qps)), lost: rounds.dnsmasq.reduce((n, x) => n + x.lost, 0) };
    // each round's ratio against the dnsmasq round beside it, so load from elsewhere cancels out as far as it can
    const ratio = median(rounds.ours.map((x, i) => x.qps / rounds.dnsmasq[i].qps));
    return {
      command: 'npm run bench -- dns',
      rows: [
        { metric: 'A queries per second, one core (median round; ratio: median of paired rounds)', value: o.qps, baseline: m.qps, baselineLabel: 'dnsmasq, hosts file', unit: 'qps', ratio, target: `≥ ${MIN_QPS} qps, ratio ≥ ${MIN_RATIO}`, pass: o.qps >= MIN_QPS && ratio >= MIN_RATIO },
        { metric: 'queries lost (all rounds)', value: o.lost, baseline: m.lost, baselineLabel: 'dnsmasq', unit: '' },
        { metric: 'every round (ours / dnsmasq)', value: undefined, baseline: undefined, target: `${rounds.ours.map((x) => x.qps.toFixed(0)).join(', ')} / ${rounds.dnsmasq.map((x) => x.qps.toFixed(0)).join(', ')}` },
      ],
      notes:
        `${SERVICES} ClusterIP Services (\`svc-N.bench.svc.cluster.local\`), each asked for its A record in turn; dnsmasq serves the same names and addresses from a hosts file (\`--no-resolv --local-ttl=5\`). ` +
        `Both servers are pinned to CPU ${SERVER_CPU} with taskset, dnsperf (4 clients, 100 queries outstanding — a load neither server drops queries at; at 500 dnsmasq's socket buffer overflows — ${SECONDS} s a round) to the other CPU; ${ROUNDS} interleaved rounds each, medians reported (the machine is shared with CI: rounds vary). ` +
        'Ours runs as the agent runs it: a DnsServer over a ClusterZone with metrics, answering from its per-question answer cache (rebuilt on every catalog change).',
    };
  } finally {
    for (const p of procs) await stop(p).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  run({ root }).then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`));
}
