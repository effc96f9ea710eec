// hostPort on the real kernel: a node runtime whose pod network's bridge sits
// in a scratch "node" namespace, linked by a veth to a second scratch "other
// host" namespace. A busybox httpd pod with `hostPort: 18080` answers at the
// node's IP from the other host, from the node itself and from the pod itself
// (hairpin); a UDP host port reaches its pod, and after that pod is replaced
// the same client flow reaches the new one (conntrack cleared); an agent
// restart keeps the mappings; deleting the pods closes the ports and leaves no
// rule in `nft list ruleset`.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Pod } from '../../api/index.js';
import { BridgePodNetwork, HostPortMapper } from '../../netplugin/index.js';
import type { NodeRuntime } from '../../node-agent/node-runtime.js';
import { startRuntimeFixture, waitFor, type RuntimeFixture } from '../helpers/node-runtime.js';
import { requireBinaries } from '../helpers/require.js';

const tag = randomInt(0, 36 ** 5).toString(36).padStart(5, '0');
const nodeNs = `hp${tag}-node`;
const otherNs = `hp${tag}-other`;
const octet = randomInt(10, 250);
const NODE_IP = `10.251.${octet}.1`;
const OTHER_IP = `10.251.${octet}.2`;
const SUBNET = `10.244.${octet}.0/24`;
const PYTHON = '/usr/bin/python3';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

function inNs(ns: string, cmd: string[], input?: string) {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 15_000, ...(input !== undefined ? { input } : {}) });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** curl from a namespace: the page, or undefined when nothing answers. */
function fetchFrom(ns: string, url: string): string | undefined {
  const r = inNs(ns, ['curl', '-sS', '--fail', '-m', '2', url]);
  return r.code === 0 ? r.out : undefined;
}

/** One UDP datagram from a fixed source port; the answer, or undefined after 2 s. */
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

async function execIn(rt: NodeRuntime, pod: Pod, container: string, command: string[]) {
  let out = '';
  const code = await rt.exec(pod, container, { command, onStdout: (b) => (out += Buffer.from(b).toString()), onStderr: (b) => (out += Buffer.from(b).toString()) });
  return { code, out };
}

describe('[hostport] a pod’s hostPort answers at the node’s address', () => {
  let fx: RuntimeFixture;
  let rt: NodeRuntime;
  const networks: BridgePodNetwork[] = [];
  const udpServers: ChildProcess[] = [];
  const attach = () => {
    const podNetwork = new BridgePodNetwork({ subnet: SUBNET, mtu: 1450, ipamDir: join(fx.stateDir, 'ipam'), hostNetns: `/run/netns/${nodeNs}`, log: silentLogger() });
    networks.push(podNetwork);
    return { podNetwork, hostPorts: new HostPortMapper({ netns: `/run/netns/${nodeNs}`, podSubnet: SUBNET, log: silentLogger() }) };
  };
  const web = () => fx.pod('web', [{ name: 'httpd', command: ['sh', '-c', 'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'], ports: [{ containerPort: 8080, hostPort: 18080 }] }]);
  let webPod: Pod;

  /** A pod whose UDP port 5300 (host port 15353) answers NAME: a python server in the pod's network namespace. */
  async function udpPod(name: string): Promise<Pod> {
    const p = fx.pod(name, [{ name: 'c', command: SLEEP, ports: [{ containerPort: 5300, hostPort: 15353, protocol: 'UDP' }] }]);
    const sb = await rt.createSandbox(p);
    await rt.startContainer(p, sb, p.spec.containers[0]!, 0);
    const py = `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("0.0.0.0",5300))\nwhile True:\n d,a=s.recvfrom(100)\n s.sendto(b"${name}",a)`;
    udpServers.push(spawn('nsenter', [`--net=${rt.layout.netnsPin(sb.id)}`, PYTHON, '-c', py], { stdio: 'ignore' }));
    return p;
  }

  beforeAll(async () => {
    requireBinaries('the hostPort suite', 'ip', 'nft', 'conntrack', 'nsenter', 'curl', 'python3');
    fx = await startRuntimeFixture('the hostPort suite');
    execFileSync('ip', ['netns', 'add', nodeNs]);
    execFileSync('ip', ['netns', 'add', otherNs]);
    execFileSync('ip', ['link', 'add', `hp${tag}a`, 'netns', nodeNs, 'type', 'veth', 'peer', 'name', `hp${tag}b`, 'netns', otherNs]);
    for (const [ns, dev, ip] of [[nodeNs, `hp${tag}a`, NODE_IP], [otherNs, `hp${tag}b`, OTHER_IP]] as const) {
      inNs(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', dev]);
      inNs(ns, ['ip', 'link', 'set', dev, 'up']);
      inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
    }
    inNs(nodeNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    rt = await fx.reopen(attach());
  });

  afterAll(async () => {
    for (const s of udpServers) s.kill('SIGKILL');
    await fx?.cleanup();
    for (const n of networks) await n.close().catch(() => undefined);
    spawnSync('ip', ['netns', 'del', nodeNs]);
    spawnSync('ip', ['netns', 'del', otherNs]);
  });

  it('TCP: from another host, from the node itself and from the pod itself (hairpin)', async () => {
    webPod = web();
    const sb = await rt.createSandbox(webPod);
    await rt.startContainer(webPod, sb, webPod.spec.containers[0]!, 0);
    const url = `http://${NODE_IP}:18080/`;
    const page = await waitFor('the host port to answer from the other host', () => fetchFrom(otherNs, url));
    expect(page.trim()).toBe(`${fx.prefix}-web`);
    expect(fetchFrom(nodeNs, url)?.trim()).toBe(`${fx.prefix}-web`);
    // busybox nc as the HTTP client inside the pod (the static busybox wget crashes resolving names without NSS).
    const hairpin = await execIn(rt, webPod, 'httpd', ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${NODE_IP} 18080`]);
    expect(hairpin.code).toBe(0);
    expect(hairpin.out).toMatch(/^HTTP\/1\.[01] 200 OK/);
    expect(hairpin.out.trimEnd().endsWith(`${fx.prefix}-web`)).toBe(true);
    // With br_netfilter (this kernel's default in a new namespace) the hairpin frame goes back out of its own bridge port.
    const port = rt.sandboxes.records(webPod.metadata.uid!)[0]!.hostIfName!;
    expect(inNs(nodeNs, ['ip', '-d', 'link', 'show', 'dev', port]).out).toContain('hairpin on');
    const table = inNs(nodeNs, ['nft', 'list', 'table', 'ip', 'flotilla-hostport']).out;
    expect(table).toContain(`tcp dport 18080 dnat to ${sb.ip}:8080 comment "default/${fx.prefix}-web *:18080/TCP`);
  });

  it('UDP: a datagram reaches the pod; after the pod is replaced the same client flow reaches the new one', async () => {
    const a = await udpPod('udp-a');
    expect(await waitFor('the UDP host port to answer', () => udpAsk(otherNs, NODE_IP, 15353, 40000))).toBe('udp-a');
    await rt.killPod(a, 0);
    udpServers.shift()?.kill('SIGKILL');
    expect(udpAsk(otherNs, NODE_IP, 15353, 40000)).toBeUndefined();
    await udpPod('udp-b');
    expect(await waitFor('the new pod to answer on the same flow', () => udpAsk(otherNs, NODE_IP, 15353, 40000))).toBe('udp-b');
  });

  it('an agent restart reconciles the table with the sandboxes on the node, and a pod added after it does not drop the others', async () => {
    // The kernel table drifts while the agent is down: a sandbox that is gone is in it, the live ones are not.
    await new HostPortMapper({ netns: `/run/netns/${nodeNs}`, log: silentLogger() }).set({
      sandboxId: 'gone0000000000000000',
      pod: 'default/gone',
      mappings: [{ hostPort: 18099, protocol: 'TCP', podIP: '10.244.0.99', containerPort: 80 }],
    });
    expect(fetchFrom(otherNs, `http://${NODE_IP}:18080/`)).toBeUndefined();
    rt = await fx.reopen(attach());
    expect(inNs(nodeNs, ['nft', 'list', 'ruleset']).out).not.toContain('18099');
    expect(fetchFrom(otherNs, `http://${NODE_IP}:18080/`)?.trim()).toBe(`${fx.prefix}-web`);
    const extra = fx.pod('web2', [{ name: 'httpd', command: ['sh', '-c', 'mkdir -p /tmp/www && echo second > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'], ports: [{ containerPort: 8080, hostPort: 18081, hostIP: NODE_IP }] }]);
    const sb = await rt.createSandbox(extra);
    await rt.startContainer(extra, sb, extra.spec.containers[0]!, 0);
    expect((await waitFor('the second host port to answer', () => fetchFrom(otherNs, `http://${NODE_IP}:18081/`))).trim()).toBe('second');
    expect(fetchFrom(otherNs, `http://${NODE_IP}:18080/`)?.trim()).toBe(`${fx.prefix}-web`);
    expect(udpAsk(otherNs, NODE_IP, 15353, 40001)).toBe('udp-b');
  });

  it('deleting the pods closes their ports and leaves no rule behind', async () => {
    // (the table goes with the last pod that has a host port, whatever order listPods gives)
    expect(inNs(nodeNs, ['nft', 'list', 'ruleset']).out).toContain('flotilla-hostport');
    for (const p of await rt.listPods()) await rt.killPod({ metadata: { uid: p.uid } }, 0);
    expect(fetchFrom(otherNs, `http://${NODE_IP}:18080/`)).toBeUndefined();
    expect(fetchFrom(otherNs, `http://${NODE_IP}:18081/`)).toBeUndefined();
    const ruleset = inNs(nodeNs, ['nft', 'list', 'ruleset']).out;
    expect(ruleset).not.toMatch(/18080|18081|15353|flotilla-hostport/);
  });
});
