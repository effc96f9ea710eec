// The node's name server for real: on a loopback UDP/TCP port, queried by
// Node's resolver and by busybox nslookup (what a pod's user types), with
// other names forwarded to a fake upstream this test runs on loopback (never
// the machine's resolvers); as the agent runs it, in a node namespace this
// test makes — the kube-dns IP on the flotilla-dns interface, reached from a
// pod namespace by its default route; and through the real daemons, a pod on
// a lab node resolving Services by name.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packet from 'dns-packet';
import type { Answer } from 'dns-packet';
import { silentLogger, type EndpointSlice, type Node, type Pod, type Service } from '../../api/index.js';
import * as native from '../../native/index.js';
import { CgroupManager, openLayout, pushImage, RegistryClient } from '../../node-agent/index.js';
import { NodeRuntime } from '../../node-agent/node-runtime.js';
import { mountsUnder } from '../../node-agent/sandbox/sandbox-manager.js';
import { MetricsRegistry } from '../../api/metrics.js';
import { ClusterZone, DnsMetrics, DnsServer, Forwarder } from '../../node-agent/dns/index.js';
import { MemoryServiceCatalog } from '../../node-agent/services/catalog.js';
import { CONTROLLER_MAIN, controllerApi, freeTcpPort, REPO_ROOT, startController, type StartedController } from '../helpers/controller.js';
import { eventually, flotctl, FLOTCTL } from '../helpers/flotctl.js';
import { Lab } from '../helpers/lab.js';
import { buildTestImage } from '../helpers/registry.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const BUSYBOX = '/bin/busybox';

// ---------------------------------------------------------------- the catalog

function services(): Service[] {
  const svc = (name: string, namespace: string, spec: Service['spec']): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { type: 'ClusterIP', ...spec } });
  return [
    svc('web', 'demo', { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
    svc('db', 'demo', { clusterIP: 'None', clusterIPs: ['None'], ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] }),
    svc('ext', 'demo', { type: 'ExternalName', externalName: 'example.test' }),
  ];
}

function slices(): EndpointSlice[] {
  return [
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'db-x', namespace: 'demo', labels: { 'kubernetes.io/service-name': 'db' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.244.1.5'], hostname: 'db-0', conditions: { ready: true } },
        { addresses: ['10.244.2.7'], hostname: 'db-1', conditions: { ready: true } },
      ],
      ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
    },
  ];
}

// ---------------------------------------------------------------- a fake upstream

interface FakeUpstream {
  port: number;
  /** Queries received, by transport. */
  udp: string[];
  tcp: string[];
  close(): Promise<void>;
}

/** Many A records for big.test: over 512 bytes, so the UDP answer is truncated and the TCP one complete. */
const BIG = Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}`);

function upstreamAnswer(query: Buffer, proto: 'udp' | 'tcp'): Buffer {
  const q = packet.decode(query);
  const question = q.questions![0]!;
  const soa: Answer = { name: 'test', type: 'SOA', ttl: 300, data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 60, minimum: 30 } };
  const base = { id: q.id, type: 'response' as const, flags: packet.RECURSION_AVAILABLE | packet.RECURSION_DESIRED, questions: [question] };
  const name = question.name.toLowerCase();
  if (name === 'example.test' && question.type === 'A') return packet.encode({ ...base, answers: [{ name: question.name, type: 'A', ttl: 60, data: '192.0.2.10' }] });
  if (name === 'big.test' && question.type === 'A') {
    if (proto === 'udp') return packet.encode({ ...base, flags: base.flags | packet.TRUNCATED_RESPONSE });
    return packet.encode({ ...base, answers: BIG.map((ip) => ({ name: question.name, type: 'A' as const, ttl: 60, data: ip })) });
  }
  if (name === 'example.test') return packet.encode({ ...base, authorities: [soa] });
  return packet.encode({ ...base, flags: base.flags | 3, authorities: [soa] });
}

async function startUpstream(): Promise<FakeUpstream> {
  const udp = dgram.createSocket('udp4');
  const got: FakeUpstream = { port: 0, udp: [], tcp: [], close: async () => {} };
  udp.on('message', (msg, rinfo) => {
    got.udp.push(packet.decode(msg).questions![0]!.name);
    udp.send(upstreamAnswer(msg, 'udp'), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  got.port = udp.address().port;
  const tcp = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      got.tcp.push(packet.decode(msg).questions![0]!.name);
      const out = upstreamAnswer(msg, 'tcp');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(out.length, 0);
      s.end(Buffer.concat([len, out]));
    });
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => tcp.listen(got.port, '127.0.0.1', () => r()));
  got.close = async () => {
    udp.close();
    await new Promise<void>((r) => tcp.close(() => r()));
  };
  return got;
}

// ---------------------------------------------------------------- raw queries

async function askUdp(port: number, name: string, type: 'A' | 'SRV' | 'AAAA' = 'A', edns?: number): Promise<packet.DecodedPacket & { rcode?: string }> {
  const s = dgram.createSocket('udp4');
  try {
    const q = packet.encode({
      type: 'query',
      id: 77,
      flags: packet.RECURSION_DESIRED,
      questions: [{ name, type }],
      ...(edns ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: edns, flags: 0, options: [] } as unknown as Answer] } : {}),
    });
    const answer = new Promise<Buffer>((resolve, reject) => {
      s.once('message', (m) => resolve(m));
      setTimeout(() => reject(new Error(`no UDP answer for ${name}`)), 5000).unref();
    });
    s.send(q, port, '127.0.0.1');
    return packet.decode(await answer) as packet.DecodedPacket & { rcode?: string };
  } finally {
    s.close();
  }
}

async function askTcp(port: number, name: string): Promise<packet.DecodedPacket & { rcode?: string }> {
  const q = packet.streamEncode({ type: 'query', id: 78, flags: packet.RECURSION_DESIRED, questions: [{ name, type: 'A' }] });
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(q));
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        s.destroy();
        resolve(packet.decode(buf.subarray(2)) as packet.DecodedPacket & { rcode?: string });
      }
    });
    s.on('error', reject);
    setTimeout(() => reject(new Error(`no TCP answer for ${name}`)), 5000).unref();
  });
}

/** busybox nslookup, run without blocking this process (the loopback server answers from it). */
function nslookup(args: string[], netns?: string): Promise<{ code: number | null; out: string }> {
  const [bin, argv] = netns ? ['ip', ['netns', 'exec', netns, BUSYBOX, 'nslookup', ...args]] : [BUSYBOX, ['nslookup', ...args]];
  return new Promise((resolve) => {
    const p = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => resolve({ code, out }));
  });
}

// ---------------------------------------------------------------- on loopback

describe('[dns] the node name server on a loopback port, asked by real resolvers', () => {
  let upstream: FakeUpstream;
  let server: DnsServer;
  let port: number;
  let catalog: MemoryServiceCatalog;
  const registry = new MetricsRegistry();
  let resolver: Resolver;

  beforeAll(async () => {
    requireBinaries('the node DNS suite', 'busybox');
    upstream = await startUpstream();
    catalog = new MemoryServiceCatalog();
    catalog.replace(services(), slices());
    server = new DnsServer({
      zone: new ClusterZone(catalog),
      forwarder: new Forwarder({ upstreams: [{ host: '127.0.0.1', port: upstream.port }], timeoutMs: 1000 }),
      metrics: new DnsMetrics(registry),
      log: silentLogger(),
    });
    port = await server.listen('127.0.0.1', 0);
    resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  it('Node\'s resolver gets A, SRV, PTR and CNAME answers for Services', async () => {
    expect(await resolver.resolve4('web.demo.svc.cluster.local')).toEqual(['10.96.0.20']);
    expect((await resolver.resolve4('db.demo.svc.cluster.local')).sort()).toEqual(['10.244.1.5', '10.244.2.7']);
    expect(await resolver.resolve4('db-1.db.demo.svc.cluster.local')).toEqual(['10.244.2.7']);
    expect(await resolver.resolveSrv('_http._tcp.web.demo.svc.cluster.local')).toEqual([{ name: 'web.demo.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
    expect((await resolver.resolveSrv('_pg._tcp.db.demo.svc.cluster.local')).map((r) => r.name).sort()).toEqual(['db-0.db.demo.svc.cluster.local', 'db-1.db.demo.svc.cluster.local']);
    expect(await resolver.reverse('10.96.0.20')).toEqual(['web.demo.svc.cluster.local']);
    expect(await resolver.resolveCname('ext.demo.svc.cluster.local')).toEqual(['example.test']);
  });

  it('NXDOMAIN is ENOTFOUND and NODATA is ENODATA to Node\'s resolver', async () => {
    await expect(resolver.resolve4('nope.demo.svc.cluster.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('web.demo.svc.cluster.local')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('busybox nslookup finds a Service by its full name, and says so when there is none', async () => {
    const ok = await nslookup([`-port=${port}`, 'web.demo.svc.cluster.local', '127.0.0.1']);
    expect(ok.out).toMatch(/Name:\s+web\.demo\.svc\.cluster\.local\s+Address:\s+10\.96\.0\.20/);
    const headless = await nslookup([`-port=${port}`, 'db.demo.svc.cluster.local', '127.0.0.1']);
    expect(headless.out).toContain('10.244.1.5');
    expect(headless.out).toContain('10.244.2.7');
    const none = await nslookup([`-port=${port}`, 'nope.demo.svc.cluster.local', '127.0.0.1']);
    expect(none.out).toContain("can't find nope.demo.svc.cluster.local: NXDOMAIN");
    expect(none.code).not.toBe(0);
  });

  it('other names go to the upstream once, then come from the cache (counted in the metrics)', async () => {
    const before = upstream.udp.filter((n) => n === 'example.test').length;
    expect(await resolver.resolve4('example.test')).toEqual(['192.0.2.10']);
    expect(await resolver.resolve4('example.test')).toEqual(['192.0.2.10']);
    const third = await askUdp(port, 'EXAMPLE.test');
    expect(third.answers![0]).toMatchObject({ data: '192.0.2.10' });
    // the cached answer's TTL counts down from the upstream's 60 s
    expect((third.answers![0] as { ttl: number }).ttl).toBeLessThanOrEqual(60);
    expect(third.flag_aa).toBe(false);
    expect(upstream.udp.filter((n) => n.toLowerCase() === 'example.test').length - before).toBe(1);
    const text = registry.render();
    expect(text).toMatch(/flotilla_dns_cache_hits_total\{kind="success"\} 2/);
    expect(text).toMatch(/flotilla_dns_cache_misses_total 1/);
  });

  it('a denial from upstream is cached too (by its SOA minimum)', async () => {
    await expect(resolver.resolve4('missing.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve4('missing.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(upstream.udp.filter((n) => n === 'missing.test')).toHaveLength(1);
    expect(registry.render()).toMatch(/flotilla_dns_cache_hits_total\{kind="denial"\} 1/);
  });

  it('a truncated upstream answer is fetched again over TCP; the client gets TC over UDP and all of it over TCP', async () => {
    const viaUdp = await askUdp(port, 'big.test');
    expect(viaUdp.flag_tc).toBe(true);
    expect(upstream.tcp).toContain('big.test');
    const viaTcp = await askTcp(port, 'big.test');
    expect(viaTcp.answers!.map((a) => ('data' in a ? a.data : ''))).toEqual(BIG);
    // Node's resolver (c-ares) retries over TCP by itself on TC
    expect((await resolver.resolve4('big.test')).length).toBe(BIG.length);
  });

  it('a cluster answer over 512 bytes: TC without EDNS0, whole within the EDNS0 size, whole over TCP', async () => {
    catalog.upsertService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'many', namespace: 'demo' }, spec: { clusterIP: 'None', clusterIPs: ['None'] } });
    catalog.upsertSlice({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'many-x', namespace: 'demo', labels: { 'kubernetes.io/service-name': 'many' } },
      addressType: 'IPv4',
      endpoints: Array.from({ length: 20 }, (_, i) => ({ addresses: [`10.244.7.${i + 1}`], conditions: { ready: true } })),
    });
    expect((await askUdp(port, 'many.demo.svc.cluster.local')).flag_tc).toBe(true);
    const edns = await askUdp(port, 'many.demo.svc.cluster.local', 'A', 1232);
    expect([edns.flag_tc, edns.answers!.length]).toEqual([false, 20]);
    expect((await askTcp(port, 'many.demo.svc.cluster.local')).answers).toHaveLength(20);
    expect((await resolver.resolve4('many.demo.svc.cluster.local')).length).toBe(20);
  });

  it('a name of 300 characters is FORMERR, and the server goes on answering', async () => {
    const s = dgram.createSocket('udp4');
    const labels = Array.from({ length: 5 }, () => 'x'.repeat(59));
    const name = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
    const q = Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 1, 0, 1])]);
    const got = new Promise<Buffer>((r) => s.once('message', (m) => r(m)));
    s.send(q, port, '127.0.0.1');
    const answer = await got;
    s.close();
    expect(answer.readUInt16BE(0)).toBe(9);
    expect(answer.readUInt16BE(2) & 0xf).toBe(1);
    expect(await resolver.resolve4('web.demo.svc.cluster.local')).toEqual(['10.96.0.20']);
  });
});

// ---------------------------------------------------------------- as the agent runs it

describe('[dns] on a node: the kube-dns IP on flotilla-dns, answered for a pod that reaches it by its default route', () => {
  const id = randomBytes(3).toString('hex');
  const NODE = `fdns-${id}-node`;
  const POD = `fdns-${id}-pod`;
  let tmp = '';
  let script = '';
  let child: ChildProcess | undefined;
  const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
  const inNode = (...args: string[]) => execFileSync('ip', ['netns', 'exec', NODE, ...args], { encoding: 'utf8' });

  /** Starts the node's name server in NODE as the agent does (NodeDns), resolving once it listens. */
  async function startNodeDns(): Promise<ChildProcess> {
    const p = spawn('ip', ['netns', 'exec', NODE, process.execPath, script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      p.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) resolve();
      });
      p.once('exit', (code) => reject(new Error(`the node DNS process exited (${code}): ${err}`)));
      setTimeout(() => reject(new Error(`the node DNS process did not start: ${err}`)), 30_000).unref();
    });
    return p;
  }

  async function stop(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await exited;
  }

  beforeAll(async () => {
    requireRoot('the node DNS netns suite');
    requireBinaries('the node DNS netns suite', 'ip', 'busybox');
    tmp = mkdtempSync(join(tmpdir(), `flotilla-node-dns-${id}-`));
    // The DNS code as plain JS from the current sources (no type-check), under the repo so the addon is found.
    const out = join(REPO_ROOT, 'node_modules', '.cache', `flotilla-node-dns-${id}`);
    execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), [
      '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--resolveJsonModule', '--esModuleInterop',
      '--rootDir', REPO_ROOT, '--outDir', out, join(REPO_ROOT, 'node-agent/dns/index.ts'), join(REPO_ROOT, 'node-agent/services/catalog.ts'),
    ], { cwd: REPO_ROOT });
    script = join(tmp, 'node-dns.mjs');
    writeFileSync(
      script,
      [
        `import { NodeDns } from ${JSON.stringify(join(out, 'node-agent/dns/index.js'))};`,
        `import { MemoryServiceCatalog } from ${JSON.stringify(join(out, 'node-agent/services/catalog.js'))};`,
        `import { silentLogger } from ${JSON.stringify(join(out, 'api/index.js'))};`,
        'const catalog = new MemoryServiceCatalog();',
        `catalog.replace(${JSON.stringify(services())}, ${JSON.stringify(slices())});`,
        // no upstream: this namespace has no way out, and the machine's resolvers are not ours to ask
        'const dns = new NodeDns({ catalog, upstreams: [], log: silentLogger() });',
        'await dns.start();',
        "process.stdout.write('listening\\n');",
        "process.once('SIGTERM', async () => { await dns.stop(); process.exit(0); });",
      ].join('\n'),
    );
    ip('netns', 'add', NODE);
    ip('netns', 'add', POD);
    // node ↔ pod over a veth; the pod's default route is the node, as on the pod bridge
    ip('link', 'add', `fd${id}n`, 'netns', NODE, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', POD);
    inNode('ip', 'addr', 'add', '10.250.0.1/24', 'dev', `fd${id}n`);
    inNode('ip', 'link', 'set', `fd${id}n`, 'up');
    inNode('ip', 'link', 'set', 'lo', 'up');
    ip('netns', 'exec', POD, 'ip', 'addr', 'add', '10.250.0.2/24', 'dev', 'eth0');
    ip('netns', 'exec', POD, 'ip', 'link', 'set', 'eth0', 'up');
    ip('netns', 'exec', POD, 'ip', 'link', 'set', 'lo', 'up');
    ip('netns', 'exec', POD, 'ip', 'route', 'add', 'default', 'via', '10.250.0.1');
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) await stop(child, 'SIGKILL');
    for (const ns of [POD, NODE]) spawnSync('ip', ['netns', 'del', ns]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    rmSync(join(REPO_ROOT, 'node_modules', '.cache', `flotilla-node-dns-${id}`), { recursive: true, force: true });
  });

  it('the agent puts 10.96.0.10 on flotilla-dns and answers on port 53; the pod resolves through its default route', async () => {
    child = await startNodeDns();
    expect(inNode('ip', '-o', 'addr', 'show', 'dev', 'flotilla-dns')).toContain('inet 10.96.0.10/32');
    const r = await nslookup(['web.demo.svc.cluster.local', '10.96.0.10'], POD);
    expect(r.out).toMatch(/Name:\s+web\.demo\.svc\.cluster\.local\s+Address:\s+10\.96\.0\.20/);
    const headless = await nslookup(['db.demo.svc.cluster.local', '10.96.0.10'], POD);
    expect(headless.out).toContain('10.244.1.5');
    expect(headless.out).toContain('10.244.2.7');
    // a name outside the cluster with no upstream: refused, quickly
    expect((await nslookup(['example.test', '10.96.0.10'], POD)).out).toContain('REFUSED');
  }, 60_000);

  it('after a crash the interface is still there, and the next start takes it over', async () => {
    await stop(child!, 'SIGKILL');
    expect(inNode('ip', '-o', 'link', 'show')).toContain('flotilla-dns');
    child = await startNodeDns();
    expect((await nslookup(['db-0.db.demo.svc.cluster.local', '10.96.0.10'], POD)).out).toContain('10.244.1.5');
  }, 60_000);

  it('a clean stop removes the interface', async () => {
    await stop(child!, 'SIGTERM');
    expect(child!.exitCode).toBe(0);
    expect(inNode('ip', '-o', 'link', 'show')).not.toContain('flotilla-dns');
  }, 60_000);
});

// ---------------------------------------------------------------- through the real daemons

describe('[dns] through the daemons: a pod on a lab node resolves Services by name from its own node', () => {
  const NS = 'demo';
  const prefix = `fdn${randomBytes(3).toString('hex')}`;
  const cgroupParent = `/flotilla-test-${prefix}`;
  let lab: Lab | undefined;
  let ctl: StartedController | undefined;
  let dir = '';
  let registry: ChildProcess | undefined;
  let image = '';
  const api = <T = any>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl!, path, init);
  async function must<T = any>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
    const r = await api<T>(path, init);
    if (r.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }
  const agentLog = () => {
    const f = `/run/flotilla-lab/${lab!.prefix}/logs/h1-agent.log`;
    return existsSync(f) ? readFileSync(f, 'utf8').slice(-6000) : '(no agent log)';
  };
  async function inPod(cmd: string[]): Promise<string> {
    const r = await flotctl(ctl!.kubeconfig, ['exec', '-n', NS, 'client', '--', ...cmd]);
    return `${r.stdout}${r.stderr}`;
  }

  beforeAll(async () => {
    requireRoot('the node DNS daemons suite');
    requireBinaries('the node DNS daemons suite', 'etcd', 'crun', 'conmon', 'docker-registry', 'ip', 'nsenter');
    if (!existsSync(CONTROLLER_MAIN) || !existsSync(FLOTCTL)) throw new Error('the node DNS daemons suite needs the compiled controller and flotctl: run npx tsc -p tsconfig.json');
    dir = mkdtempSync(join(tmpdir(), `flotilla-node-dns-daemons-${prefix}-`));
    const out = join(REPO_ROOT, 'node_modules', '.cache', `flotilla-node-dns-agent-${prefix}`);
    execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), [
      '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--resolveJsonModule', '--esModuleInterop',
      '--rootDir', REPO_ROOT, '--outDir', out, join(REPO_ROOT, 'node-agent/main.ts'),
    ], { cwd: REPO_ROOT });
    cpSync(join(REPO_ROOT, 'api', 'proto'), join(out, 'api', 'proto'), { recursive: true });
    lab = new Lab('dns');
    lab.up(1);
    const port = await freeTcpPort(lab.gateway);
    const registryHost = `${lab.gateway}:${port}`;
    mkdirSync(join(dir, 'registry'));
    writeFileSync(
      join(dir, 'registry', 'config.yml'),
      ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'registry', 'data')}`, 'http:', `  addr: ${registryHost}`, `  secret: ${randomBytes(8).toString('hex')}`, ''].join('\n'),
    );
    registry = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'registry', 'config.yml')], { stdio: 'ignore' });
    await eventually('the registry', async () => (await fetch(`http://${registryHost}/v2/`).then((r) => r.ok, () => false)) || undefined, 20_000, 100);
    image = `${registryHost}/library/busybox:1.35`;
    await pushImage(new RegistryClient({ insecureRegistries: [registryHost] }), openLayout(buildTestImage(join(dir, 'image')).dir), undefined, image);
    ctl = await startController({ host: lab.gateway });
    // as hack/up.sh starts an agent: its defaults serve cluster DNS on the node
    lab.spawn('h1', 'agent', [
      process.execPath, join(out, 'node-agent', 'main.js'), 'join', '--server', ctl.bootstrapAddress, '--token', ctl.joinToken, '--ca-hash', ctl.caHash,
      '--node-name', 'h1', '--node-ip', lab.hostIp('h1'), '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run'),
      '--cgroup-parent', cgroupParent, '--insecure-registry', registryHost, '--health-port', '0', '--heartbeat-seconds', '1',
    ]);
    await eventually('node h1 Ready', async () => {
      const r = await api<Node>('/api/v1/nodes/h1');
      return r.status === 200 && r.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    }, 90_000, 500).catch((e: Error) => {
      throw new Error(`${e.message}\nagent log:\n${agentLog()}`);
    });
    await must('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  }, 300_000);

  afterAll(async () => {
    if (ctl) {
      await api(`/api/v1/namespaces/${NS}/pods/client`, { method: 'DELETE' }).catch(() => undefined);
      await eventually('the pod gone', async () => ((await api(`/api/v1/namespaces/${NS}/pods/client`)).status === 404 ? true : undefined), 60_000, 500).catch(() => undefined);
    }
    lab?.down();
    if (dir && existsSync(join(dir, 'state'))) {
      const rt = await NodeRuntime.create({ stateDir: join(dir, 'state'), runDir: join(dir, 'run'), cgroupParent, log: silentLogger() }).catch(() => undefined);
      for (const st of (await rt?.listPods().catch(() => [])) ?? []) await rt!.killPod({ metadata: { uid: st.uid } }, 0).catch(() => undefined);
    }
    for (const m of dir ? mountsUnder([dir]) : []) {
      try {
        native.umount(m, native.MNT_DETACH);
      } catch {
        /* gone */
      }
    }
    await new CgroupManager({ parent: cgroupParent }).remove(cgroupParent).catch(() => undefined);
    await ctl?.stop();
    registry?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(join(REPO_ROOT, 'node_modules', '.cache', `flotilla-node-dns-agent-${prefix}`), { recursive: true, force: true });
  }, 180_000);

  it('the pod\'s resolv.conf points at kube-dns, and its node answers Service, headless and kube-system names', async () => {
    await must(`/api/v1/namespaces/${NS}/pods`, {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client', namespace: NS, labels: { app: 'client' } },
        spec: { nodeName: 'h1', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image, command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] }] },
      },
    });
    await must(`/api/v1/namespaces/${NS}/services`, { method: 'POST', body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'client' }, ports: [{ name: 'http', port: 80 }] } } });
    await must(`/api/v1/namespaces/${NS}/services`, { method: 'POST', body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'peers' }, spec: { clusterIP: 'None', selector: { app: 'client' }, ports: [{ name: 'http', port: 80 }] } } });
    const pod = await eventually('pod client Running', async () => {
      const p = await must<Pod>(`/api/v1/namespaces/${NS}/pods/client`);
      return p.status?.containerStatuses?.every((c) => c.state?.running) && p.status.podIP ? p : undefined;
    }, 120_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}\nagent log:\n${agentLog()}`);
    });
    const webIP = (await must<Service>(`/api/v1/namespaces/${NS}/services/web`)).spec.clusterIP!;
    expect(await inPod(['cat', '/etc/resolv.conf'])).toMatch(/^search demo\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b.*\nnameserver 10\.96\.0\.10\noptions ndots:5\n$/s);
    // fully qualified (a trailing dot): no search domain of the host's is tried, so nothing leaves the lab
    let said = '';
    const lookup = async (name: string) => (said = await inPod(['/bin/busybox', 'nslookup', `${name}.`]));
    const answers = (name: string, ip: string) =>
      eventually(`${name} answered with ${ip}`, async () => ((await lookup(name)).includes(ip) ? true : undefined), 30_000, 500).catch((e: Error) => {
        throw new Error(`${e.message}\nnslookup said:\n${said}\nagent log:\n${agentLog()}`);
      });
    await answers('web.demo.svc.cluster.local', webIP);
    await answers('peers.demo.svc.cluster.local', pod.status!.podIP!);
    expect(await lookup('kubernetes.default.svc.cluster.local')).toMatch(/Address:\s+10\.96\.0\.1\b/);
    expect(await lookup('kube-dns.kube-system.svc.cluster.local')).toMatch(/Address:\s+10\.96\.0\.10\b/);
    expect(await lookup('nope.demo.svc.cluster.local')).toContain('NXDOMAIN');
    // answered by h1 itself: the address is on h1's flotilla-dns interface
    expect(lab!.exec('h1', ['ip', '-o', 'addr', 'show', 'dev', 'flotilla-dns']).stdout).toContain('inet 10.96.0.10/32');
  }, 240_000);
});
