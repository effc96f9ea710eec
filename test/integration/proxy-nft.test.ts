// The service proxy on the real kernel: a scratch "node" namespace holding our
// nftables table and a bridge with two busybox httpd backends (each serving
// its own name), plus a "client" namespace outside the pod network behind a
// veth. The ClusterIP spreads a client's requests over both backends, a
// backend reaches itself through its Service (hairpin), a NodePort answers at
// the node's address, a removed endpoint gets no more traffic, a Service
// without endpoints refuses at once, a hand-deleted rule is found and put
// back, a transaction nft refuses leaves the previous table serving, and a new
// proxy (an agent restart) takes the table over without leftovers.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/index.js';
import { execProcess, planProxy, PROXY_TABLE, ServiceProxy, type Exec, type ProxyEndpoint, type ProxyNode, type ProxyServicePort } from '../../netplugin/index.js';
import { requireBinaries } from '../helpers/require.js';

const tag = randomInt(0, 36 ** 5).toString(36).padStart(5, '0');
const NS = { node: `px${tag}-node`, client: `px${tag}-cli`, b1: `px${tag}-b1`, b2: `px${tag}-b2` };
const o = randomInt(10, 250);
const NODE_IP = `10.251.${o}.1`;
const CLIENT_IP = `10.251.${o}.2`;
const GW = `10.244.${o}.1`;
const B1 = `10.244.${o}.2`;
const B2 = `10.244.${o}.3`;
const WEB_IP = `10.96.${o}.10`;
const EMPTY_IP = `10.96.${o}.11`;
const NODE: ProxyNode = { nodeName: 'node-a', clusterCIDR: '10.244.0.0/16', podSubnet: `10.244.${o}.0/24` };
const PIN = `/run/netns/${NS.node}`;
const DNS_IP = `10.96.${o}.12`;
const PYTHON = '/usr/bin/python3';

function inNs(ns: string, cmd: string[]) {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** One HTTP GET from a namespace (a new connection each time): the page, or the curl error. */
function get(ns: string, url: string): { ok: boolean; body: string; ms: number } {
  const t0 = Date.now();
  const r = inNs(ns, ['curl', '-sS', '--fail', '-m', '3', url]);
  return { ok: r.code === 0, body: r.out.trim(), ms: Date.now() - t0 };
}

function names(ns: string, url: string, n: number): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = get(ns, url);
    seen.add(r.ok ? r.body : `error: ${r.body}`);
  }
  return seen;
}

const ep = (ip: string): ProxyEndpoint => ({ ip, port: 8080, ready: true, serving: true, terminating: false, nodeName: 'node-a' });
const web = (endpoints: ProxyEndpoint[]): ProxyServicePort => ({
  namespace: 'demo',
  name: 'web',
  portName: 'http',
  protocol: 'TCP',
  clusterIP: WEB_IP,
  port: 80,
  nodePort: 30080,
  internalTrafficLocal: false,
  externalTrafficLocal: false,
  endpoints,
});
/** One UDP datagram from a fixed source port (the same conntrack flow each time): the answer, or undefined after 2 s. */
function udpAsk(ns: string, ip: string, port: number, srcPort: number): string | undefined {
  const py = [
    'import socket,sys',
    's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)',
    's.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)',
    `s.bind(("0.0.0.0",${srcPort}))`,
    's.settimeout(2)',
    `s.sendto(b"ping",("${ip}",${port}))`,
    'try:\n print(s.recvfrom(100)[0].decode())\nexcept socket.timeout:\n sys.exit(3)',
  ].join('\n');
  const r = inNs(ns, [PYTHON, '-c', py]);
  return r.code === 0 ? r.out.trim() : undefined;
}
const dns = (ips: string[]): ProxyServicePort => ({
  namespace: 'demo',
  name: 'dns',
  portName: 'dns',
  protocol: 'UDP',
  clusterIP: DNS_IP,
  port: 53,
  internalTrafficLocal: false,
  externalTrafficLocal: false,
  endpoints: ips.map((ip) => ({ ...ep(ip), port: 5300 })),
});
const empty: ProxyServicePort = { ...web([]), name: 'empty', clusterIP: EMPTY_IP, nodePort: 30081 };

describe('[service proxy] ClusterIP and NodePort Services on nftables', () => {
  const servers: ChildProcess[] = [];
  let www: string;
  /** While set, every `nft -f` gets this line appended (a transaction nft refuses). */
  let breakWith: string | undefined;
  const exec: Exec = (file, args, stdin) => {
    if (breakWith !== undefined && stdin !== undefined && args.includes('-f')) stdin = `${stdin}${breakWith}\n`;
    return execProcess(file, args, stdin);
  };
  const drifts: string[][] = [];
  const errors: Error[] = [];
  const proxy = new ServiceProxy({ netns: PIN, exec, log: silentLogger(), onDrift: (d) => drifts.push(d), onSyncError: (e) => errors.push(e) });

  beforeAll(() => {
    requireBinaries('the service proxy suite', 'ip', 'nft', 'conntrack', 'nsenter', 'curl', 'busybox', 'python3');
    for (const ns of Object.values(NS)) execFileSync('ip', ['netns', 'add', ns]);
    const sh = (ns: string, ...cmd: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...cmd]);
    for (const ns of Object.values(NS)) sh(ns, 'ip', 'link', 'set', 'lo', 'up');
    // The client is outside the pod network, on a link of its own.
    execFileSync('ip', ['link', 'add', 'cli0', 'netns', NS.node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.client]);
    sh(NS.node, 'ip', 'addr', 'add', `${NODE_IP}/24`, 'dev', 'cli0');
    sh(NS.node, 'ip', 'link', 'set', 'cli0', 'up');
    sh(NS.client, 'ip', 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0');
    sh(NS.client, 'ip', 'link', 'set', 'eth0', 'up');
    sh(NS.client, 'ip', 'route', 'add', 'default', 'via', NODE_IP);
    // The pod bridge with two backends.
    sh(NS.node, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    sh(NS.node, 'ip', 'addr', 'add', `${GW}/24`, 'dev', 'br0');
    sh(NS.node, 'ip', 'link', 'set', 'br0', 'up');
    www = mkdtempSync(join(tmpdir(), `px${tag}-`));
    for (const [ns, ip, port] of [[NS.b1, B1, 'b1p'], [NS.b2, B2, 'b2p']] as const) {
      execFileSync('ip', ['link', 'add', port, 'netns', NS.node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh(NS.node, 'ip', 'link', 'set', port, 'master', 'br0', 'up');
      // As kubelet's hairpin-veth mode: with br_netfilter a pod's packet DNATed back to that pod is bridged out of the port it came in by.
      sh(NS.node, 'ip', 'link', 'set', port, 'type', 'bridge_slave', 'hairpin', 'on');
      sh(ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
      sh(ns, 'ip', 'link', 'set', 'eth0', 'up');
      sh(ns, 'ip', 'route', 'add', 'default', 'via', GW);
      const dir = join(www, ns);
      mkdirSync(dir);
      writeFileSync(join(dir, 'index.html'), `${ns}\n`);
      servers.push(spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', '8080', '-h', dir], { stdio: 'ignore' }));
      const udp = `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("0.0.0.0",5300))\nwhile True:\n d,a=s.recvfrom(100)\n s.sendto(b"${ns}",a)`;
      servers.push(spawn('ip', ['netns', 'exec', ns, PYTHON, '-c', udp], { stdio: 'ignore' }));
    }
    // Service IPs are routed somewhere, as on a node with a default route: a Service without endpoints is refused in forward.
    // (A veth pair going nowhere: this kernel has no dummy devices.)
    sh(NS.node, 'ip', 'link', 'add', 'svc0', 'type', 'veth', 'peer', 'name', 'svc1');
    sh(NS.node, 'ip', 'link', 'set', 'svc1', 'up');
    sh(NS.node, 'ip', 'link', 'set', 'svc0', 'up');
    sh(NS.node, 'ip', 'route', 'add', '10.96.0.0/16', 'dev', 'svc0');
    sh(NS.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  });

  afterAll(() => {
    for (const s of servers) s.kill('SIGKILL');
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
    if (www) rmSync(www, { recursive: true, force: true });
  });

  it('the ClusterIP spreads a client’s connections over both backends', async () => {
    expect(await proxy.sync([web([ep(B1), ep(B2)]), empty], NODE)).toMatchObject({ mode: 'full' });
    // The backends started in beforeAll: wait until both listen.
    for (const ns of [NS.b1, NS.b2]) {
      const ip = ns === NS.b1 ? B1 : B2;
      for (let i = 0; i < 50 && !get(NS.client, `http://${ip}:8080/`).ok; i++) await new Promise((r) => setTimeout(r, 100));
    }
    expect(names(NS.client, `http://${WEB_IP}/`, 40)).toEqual(new Set([NS.b1, NS.b2]));
  });

  it('a backend reaches itself and its neighbour through its own Service (hairpin masquerade)', () => {
    expect(names(NS.b1, `http://${WEB_IP}/`, 30)).toEqual(new Set([NS.b1, NS.b2]));
  });

  it('the NodePort answers at the node’s address, from outside and from the node itself', () => {
    expect(names(NS.client, `http://${NODE_IP}:30080/`, 30)).toEqual(new Set([NS.b1, NS.b2]));
    expect(get(NS.node, `http://${NODE_IP}:30080/`)).toMatchObject({ ok: true });
  });

  it('a Service without endpoints refuses a connection at once (TCP reset), on its ClusterIP and its NodePort', () => {
    for (const url of [`http://${EMPTY_IP}/`, `http://${NODE_IP}:30081/`]) {
      const r = get(NS.client, url);
      expect(r.ok).toBe(false);
      expect(r.body).toMatch(/Connection refused|Couldn't connect/);
      expect(r.ms).toBeLessThan(1500);
    }
  });

  it('a removed endpoint gets no new connection; the change is one small transaction', async () => {
    const r = await proxy.sync([web([ep(B2)]), empty], NODE);
    expect(r.mode).toBe('incremental');
    expect(r.lines).toBeLessThan(10);
    expect(names(NS.client, `http://${WEB_IP}/`, 20)).toEqual(new Set([NS.b2]));
    expect(names(NS.client, `http://${NODE_IP}:30080/`, 10)).toEqual(new Set([NS.b2]));
    expect(inNs(NS.node, ['nft', 'list', 'table', 'ip', PROXY_TABLE]).out).not.toContain(B1);
    await proxy.sync([web([ep(B1), ep(B2)]), empty], NODE);
    expect(names(NS.client, `http://${WEB_IP}/`, 40)).toEqual(new Set([NS.b1, NS.b2]));
  });

  it('a UDP flow to a removed endpoint moves to the remaining one at once (its conntrack entry is deleted)', async () => {
    await proxy.sync([web([ep(B1), ep(B2)]), empty, dns([B1])], NODE);
    let first: string | undefined;
    for (let i = 0; i < 20 && !first; i++) first = udpAsk(NS.client, DNS_IP, 53, 41000);
    expect(first).toBe(NS.b1);
    expect(inNs(NS.node, ['conntrack', '-L', '-p', 'udp', '--orig-dst', DNS_IP]).out).toContain(`src=${B1}`);
    // b1 still answers: only the deleted conntrack entry makes the same client flow go elsewhere.
    await proxy.sync([web([ep(B1), ep(B2)]), empty, dns([B2])], NODE);
    expect(udpAsk(NS.client, DNS_IP, 53, 41000)).toBe(NS.b2);
    await proxy.sync([web([ep(B1), ep(B2)]), empty], NODE);
  });

  it('a rule deleted by hand is seen by the re-check and put back', async () => {
    expect(await proxy.check()).toEqual({ drift: [], repaired: false });
    const svcChain = [...proxy.appliedPlan()!.chains.keys()].find((n) => n.startsWith('svc-') && n.includes('demo/web/'))!;
    inNs(NS.node, ['nft', 'flush', 'chain', 'ip', PROXY_TABLE, svcChain]);
    inNs(NS.node, ['nft', 'delete', 'element', 'ip', PROXY_TABLE, 'service-nodeports', '{ tcp . 30080 }']);
    expect(get(NS.client, `http://${WEB_IP}/`).ok).toBe(false);
    const c = await proxy.check();
    expect(c.repaired).toBe(true);
    expect(c.drift).toEqual([`chain ${svcChain} has 0 rules, expected 3`, 'map service-nodeports: element tcp . 30080 missing']);
    expect(proxy.driftRepairs).toBe(1);
    expect(drifts).toEqual([c.drift]);
    expect(names(NS.client, `http://${WEB_IP}/`, 40)).toEqual(new Set([NS.b1, NS.b2]));
    expect(get(NS.client, `http://${NODE_IP}:30080/`).ok).toBe(true);
    expect(await proxy.check()).toEqual({ drift: [], repaired: false });
  });

  it('a transaction nft refuses changes nothing: the previous table keeps serving and the error is reported', async () => {
    const before = inNs(NS.node, ['nft', 'list', 'table', 'ip', PROXY_TABLE]).out;
    breakWith = `add rule ip ${PROXY_TABLE} services this is not a rule`;
    // The incremental transaction fails, then the full rewrite it falls back to: both leave the table as it was.
    await expect(proxy.sync([web([ep(B1)]), empty], NODE)).rejects.toThrow(/nft -f - failed: .*syntax error/s);
    breakWith = undefined;
    expect(errors).toHaveLength(1);
    expect(proxy.syncErrors).toBe(1);
    expect(inNs(NS.node, ['nft', 'list', 'table', 'ip', PROXY_TABLE]).out).toBe(before);
    expect(names(NS.client, `http://${WEB_IP}/`, 40)).toEqual(new Set([NS.b1, NS.b2]));
    expect(await proxy.check()).toEqual({ drift: [], repaired: false });
  });

  it('input the planner refuses runs nothing', async () => {
    const before = inNs(NS.node, ['nft', 'list', 'table', 'ip', PROXY_TABLE]).out;
    await expect(proxy.sync([web([ep('10.244.1.300')])], NODE)).rejects.toThrow(/endpoints\[0\]\.addresses\[0\]: Invalid value: "10\.244\.1\.300"/);
    expect(inNs(NS.node, ['nft', 'list', 'table', 'ip', PROXY_TABLE]).out).toBe(before);
  });

  it('a new proxy (an agent restart) takes the table over in one transaction and leaves nothing stale', async () => {
    const restarted = new ServiceProxy({ netns: PIN, log: silentLogger() });
    const next = [web([ep(B2)])];
    expect(await restarted.sync(next, NODE)).toMatchObject({ mode: 'full' });
    expect(await restarted.check()).toEqual({ drift: [], repaired: false });
    expect([...(await restarted.readTable())!.chains.keys()].sort()).toEqual([...planProxy(next, NODE).chains.keys()].sort());
    expect(names(NS.client, `http://${WEB_IP}/`, 10)).toEqual(new Set([NS.b2]));
    await restarted.remove();
    expect(inNs(NS.node, ['nft', 'list', 'tables']).out).not.toContain(PROXY_TABLE);
    expect(get(NS.client, `http://${WEB_IP}/`).ok).toBe(false);
    await restarted.remove(); // idempotent
  });
});
