// The VXLAN overlay on a 3-host lab: every host runs startNodeNetwork (VXLAN
// device, lease watch → routes/neighbours/FDB, reconcile, masquerade) inside its
// lab namespace, all driven from this process; leases come from one shared
// in-memory SubnetManager (the controller is not under test here, the kernel
// side is real). Pods are scratch namespaces attached with the returned
// BridgePodNetwork. `ip`, ping and node are used only to observe.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/index.js';
import { startNodeNetwork, type NodeNetwork } from '../../node-agent/index.js';
import { MASQUERADE_CHAIN, vxlanBackend, vxlanData, type NetworkConfig, type PodNetworkResult } from '../../netplugin/index.js';
import { FakeSubnetManager } from '../../netplugin/subnet/fake.js';
import { eventually } from '../helpers/flotctl.js';
import { Lab, labLeftovers } from '../helpers/lab.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const SUITE = 'netplugin VXLAN lab';
const DEV = 'flotilla.1';
const config: NetworkConfig = { network: '10.244.0.0/16', subnetLen: 24, backend: { type: 'vxlan', vni: 1, port: 8472 } };

let lab: Lab;
let work: string;
const subnets = new FakeSubnetManager(config);
const nets = new Map<string, NodeNetwork>();
const pods = new Map<string, { ns: string; host: string; res: PodNetworkResult }>();
const podNamespaces: string[] = [];
const children: ChildProcess[] = [];
let labUp = false;

function inNs(ns: string, cmd: string[], timeoutMs = 15_000): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
function onHost(host: string, cmd: string[]): { code: number; out: string } {
  return inNs(lab.netns(host), cmd);
}

async function startHost(host: string, nodeIP = lab.hostIp(host)): Promise<NodeNetwork> {
  const n = await startNodeNetwork({
    subnets,
    nodeName: host,
    nodeIP,
    stateDir: join(work, host),
    log: silentLogger(),
    reconcileMs: 300,
    netns: `/run/netns/${lab.netns(host)}`,
  });
  nets.set(host, n);
  return n;
}

async function addPod(name: string, host: string): Promise<PodNetworkResult> {
  const ns = `${lab.prefix}-${name}`;
  execFileSync('ip', ['netns', 'add', ns]);
  podNamespaces.push(ns);
  const res = await nets.get(host)!.podNetwork.add({ containerId: `${host}-${name}`, netnsPath: `/run/netns/${ns}`, ifName: 'eth0' });
  pods.set(name, { ns, host, res });
  return res;
}

function pod(name: string): { ns: string; host: string; res: PodNetworkResult } {
  const p = pods.get(name);
  if (!p) throw new Error(`pod ${name} was not made (an earlier test failed)`);
  return p;
}

function ping(fromNs: string, ip: string): { code: number; out: string } {
  return inNs(fromNs, ['ping', '-c1', '-W1', ip]);
}

async function pingEventually(fromNs: string, ip: string, ms = 10_000): Promise<void> {
  await eventually(`ping ${ip} from ${fromNs}`, async () => ping(fromNs, ip).code === 0, ms, 100);
}

/** A TCP server in a pod that answers each connection with the peer's address as it sees it. */
async function tcpServer(ns: string, port: number): Promise<void> {
  const js = `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(${port}, '0.0.0.0', () => process.stdout.write('ready\\n'))`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`tcp server in ${ns} did not start`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`tcp server in ${ns} exited with ${code}`)));
  });
}

function tcpConnect(ns: string, ip: string, port: number): { code: number; out: string } {
  const js = `const s = require('net').connect(${port}, '${ip}'); let d = ''; s.on('data', (x) => (d += x)); s.on('end', () => process.stdout.write(d)); s.on('error', (e) => { process.stderr.write(e.message); process.exit(1); }); setTimeout(() => process.exit(2), 5000).unref();`;
  return inNs(ns, [process.execPath, '-e', js]);
}

function vtepMac(host: string): string {
  return vxlanData(nets.get(host)!.lease.backend)!.vtepMAC;
}

function entriesOn(host: string): { routes: string; neigh: string; fdb: string } {
  return {
    routes: onHost(host, ['ip', 'route', 'show', 'dev', DEV]).out,
    neigh: onHost(host, ['ip', 'neigh', 'show', 'dev', DEV]).out,
    fdb: onHost(host, ['bridge', 'fdb', 'show', 'dev', DEV]).out,
  };
}

beforeAll(async () => {
  requireRoot(SUITE);
  requireBinaries(SUITE, 'ip', 'bridge', 'ping', 'nsenter', 'iptables-nft', 'iptables-nft-restore');
  work = mkdtempSync(join(tmpdir(), 'flotilla-vxlan-'));
  lab = new Lab('vx');
  labUp = true;
  lab.up(3);
  await startHost('h1');
  await startHost('h2');
  await addPod('p1', 'h1');
  await addPod('p2', 'h2');
  await addPod('p1b', 'h1');
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const n of nets.values()) await n.stop().catch(() => undefined);
  for (const ns of podNamespaces) spawnSync('ip', ['netns', 'del', ns]);
  if (labUp) lab.down();
  if (work) rmSync(work, { recursive: true, force: true });
  if (lab) expect(labLeftovers(lab.prefix)).toEqual([]);
});

describe('[network] VXLAN overlay across lab hosts', () => {
  it('each host gets its own subnet and a VXLAN device with the subnet .0/32, learning off and MTU underlay − 50', () => {
    const s1 = nets.get('h1')!.lease.subnet;
    const s2 = nets.get('h2')!.lease.subnet;
    expect(s1).not.toBe(s2);
    const link = JSON.parse(onHost('h1', ['ip', '-4', '-j', '-d', 'addr', 'show', 'dev', DEV]).out)[0];
    expect(link.mtu).toBe(1450);
    expect(link.address).toBe(vtepMac('h1'));
    expect(link.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, local: lab.hostIp('h1'), learning: false });
    expect(link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toEqual([s1.replace(/\.0\/24$/, '.0/32')]);
    expect(onHost('h1', ['sysctl', '-n', 'net.ipv4.ip_forward']).out.trim()).toBe('1');
    expect(onHost('h1', ['sysctl', '-n', `net.ipv4.conf.${DEV.replace('.', '/')}.rp_filter`]).out.trim()).toBe('2');
  });

  it('a host routes to every other subnet via its .0 onlink with a permanent neighbour and an FDB entry to the peer', () => {
    const s2 = nets.get('h2')!.lease.subnet;
    const gw2 = s2.replace(/\/24$/, '');
    const e = entriesOn('h1');
    expect(e.routes).toContain(`${s2} via ${gw2} onlink`);
    expect(e.neigh).toContain(`${gw2} lladdr ${vtepMac('h2')} PERMANENT`);
    expect(e.fdb).toContain(`${vtepMac('h2')} dst ${lab.hostIp('h2')} self permanent`);
    // Never a route to its own subnet over the overlay.
    expect(e.routes).not.toContain(nets.get('h1')!.lease.subnet);
  });

  it('pods on different hosts reach each other by IP (ping both ways)', async () => {
    await pingEventually(pod('p1').ns, pod('p2').res.ip);
    await pingEventually(pod('p2').ns, pod('p1').res.ip);
    expect(ping(pod('p1').ns, pod('p1b').res.ip).code).toBe(0);
  });

  it('pods on different hosts connect over TCP, and pod-to-pod traffic keeps the pod source address', async () => {
    await tcpServer(pod('p2').ns, 7001);
    const r = tcpConnect(pod('p1').ns, pod('p2').res.ip, 7001);
    expect(r.code, r.out).toBe(0);
    expect(r.out.trim()).toBe(pod('p1').res.ip);
  });

  it('a pod reaches its own host and a remote host, masqueraded to the outside', async () => {
    await pingEventually(pod('p1').ns, lab.hostIp('h1'));
    await pingEventually(pod('p1').ns, lab.hostIp('h2'));
    const nat = onHost('h1', ['iptables-nft', '-t', 'nat', '-S']).out;
    expect(nat).toContain(`-A POSTROUTING -m comment --comment "flotilla: pod masquerade" -j ${MASQUERADE_CHAIN}`);
    expect(nat).toContain(`-A ${MASQUERADE_CHAIN} -s 10.244.0.0/16 -d 10.244.0.0/16`);
    expect(nat).toContain(`-A ${MASQUERADE_CHAIN} -s ${nets.get('h1')!.lease.subnet} ! -d 224.0.0.0/4`);
  });

  it('hosts reach pods on other hosts', async () => {
    await pingEventually(lab.netns('h2'), pod('p1').res.ip);
  });

  it('a new host joining becomes reachable from the pods of all others', async () => {
    await startHost('h3');
    const p3 = await addPod('p3', 'h3');
    const s3 = nets.get('h3')!.lease.subnet;
    // Liveness only: the routes appear at all. How fast is the net-overlay benchmark's
    // "route convergence when a node joins" (docs/BENCHMARKS.md).
    await eventually('h1 and h2 route to h3', async () => entriesOn('h1').routes.includes(s3) && entriesOn('h2').routes.includes(s3), 30_000, 20);
    await pingEventually(pod('p1').ns, p3.ip);
    await pingEventually(pod('p2').ns, p3.ip);
    await pingEventually(pod('p3').ns, pod('p1').res.ip);
  });

  it('an agent restart keeps pod traffic flowing and comes back with the same subnet and VTEP MAC', async () => {
    const before = nets.get('h1')!;
    const { subnet } = before.lease;
    const mac = vtepMac('h1');
    await before.stop();
    nets.delete('h1');
    expect(ping(pod('p2').ns, pod('p1').res.ip).code).toBe(0);
    const after = await startHost('h1');
    expect(after.lease.subnet).toBe(subnet);
    expect(vxlanData(after.lease.backend)?.vtepMAC).toBe(mac);
    await pingEventually(pod('p2').ns, pod('p1').res.ip);
    // The pod keeps its IP: the allocation survived.
    expect((await after.podNetwork.add({ containerId: 'h1-p1', netnsPath: `/run/netns/${pod('p1').ns}`, ifName: 'eth0' })).ip).toBe(pod('p1').res.ip);
  });

  it('a deleted VXLAN device is re-created by the reconcile with all its entries', async () => {
    expect(onHost('h2', ['ip', 'link', 'del', DEV]).code).toBe(0);
    await eventually('h2 routes again', async () => entriesOn('h2').routes.includes(nets.get('h1')!.lease.subnet), 10_000, 100);
    const e = entriesOn('h2');
    expect(e.fdb).toContain(`${vtepMac('h1')} dst ${lab.hostIp('h1')}`);
    expect(onHost('h2', ['ip', '-j', 'link', 'show', DEV]).out).toContain(vtepMac('h2'));
    await pingEventually(pod('p1').ns, pod('p2').res.ip);
  });

  it('reconcile removes entries no lease calls for and re-adds deleted ones', async () => {
    onHost('h1', ['ip', 'route', 'add', '10.244.250.0/24', 'via', '10.244.250.0', 'dev', DEV, 'onlink']);
    onHost('h1', ['ip', 'neigh', 'replace', '10.244.250.0', 'lladdr', '02:00:00:00:00:fa', 'dev', DEV, 'nud', 'permanent']);
    onHost('h1', ['bridge', 'fdb', 'append', '02:00:00:00:00:fa', 'dev', DEV, 'dst', '10.200.99.99']);
    const s2 = nets.get('h2')!.lease.subnet;
    onHost('h1', ['ip', 'route', 'del', s2, 'dev', DEV]);
    await eventually(
      'h1 reconciled',
      async () => {
        const e = entriesOn('h1');
        return !e.routes.includes('10.244.250.0') && !e.neigh.includes('10.244.250.0') && !e.fdb.includes('02:00:00:00:00:fa') && e.routes.includes(s2);
      },
      10_000,
      100,
    );
  });

  it('a host IP change (agent restarted with a new node IP) updates the peers’ FDB', async () => {
    const newIP = `${lab.net}.99`;
    expect(onHost('h3', ['ip', 'addr', 'add', `${newIP}/24`, 'dev', 'eth0']).code).toBe(0);
    await nets.get('h3')!.stop();
    nets.delete('h3');
    const h3 = await startHost('h3', newIP);
    expect(h3.lease.publicIP).toBe(newIP);
    const mac = vtepMac('h3');
    for (const h of ['h1', 'h2']) {
      await eventually(`${h} FDB points at ${newIP}`, async () => {
        const fdb = entriesOn(h).fdb;
        return fdb.includes(`${mac} dst ${newIP}`) && !fdb.includes(`${mac} dst ${lab.hostIp('h3')}`);
      }, 5000, 50);
    }
    expect(JSON.parse(onHost('h3', ['ip', '-j', '-d', 'link', 'show', DEV]).out)[0].linkinfo.info_data.local).toBe(newIP);
    await pingEventually(pod('p1').ns, pod('p3').res.ip);
    await pingEventually(pod('p3').ns, pod('p2').res.ip);
  });

  it('a removed lease takes its route, neighbour and FDB entry away on every other host', async () => {
    const s3 = nets.get('h3')!.lease.subnet;
    const gw3 = s3.replace(/\/24$/, '');
    const mac = vtepMac('h3');
    await subnets.releaseLease('h3');
    for (const h of ['h1', 'h2']) {
      await eventually(`${h} forgets h3`, async () => {
        const e = entriesOn(h);
        return !e.routes.includes(s3) && !e.neigh.includes(gw3) && !e.fdb.includes(mac);
      }, 5000, 50);
    }
    // The rest of the overlay is untouched.
    await pingEventually(pod('p1').ns, pod('p2').res.ip);
  });

  it('a malformed lease is ignored and the other peers keep working', async () => {
    // A lease with a broken MAC, as a buggy writer could leave in etcd.
    await subnets.acquireLease('bad', { publicIP: '10.200.7.7', backend: vxlanBackend('not-a-mac') });
    await new Promise((r) => setTimeout(r, 700));
    expect(entriesOn('h1').fdb).not.toContain('10.200.7.7');
    await pingEventually(pod('p1').ns, pod('p2').res.ip);
    await subnets.releaseLease('bad');
  });
});
