// The sandbox's use of the PodNetwork seam, on real namespaces: add gets the
// pinned namespace and its IP becomes the pod IP, del runs at teardown, and a
// network that fails to attach leaves nothing of the sandbox behind (undo
// right after acquire). The network here is a minimal veth one of the test's
// own (the real bridge + VXLAN one has its own suite).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import type { PodNetwork, PodNetworkAttachment, PodNetworkResult } from '../../netplugin/index.js';
import type { NodeRuntime } from '../../node-agent/node-runtime.js';
import { processesMentioning, startRuntimeFixture, type RuntimeFixture } from '../helpers/node-runtime.js';
import { requireBinaries } from '../helpers/require.js';

/** A veth pair per pod on 10.203.<n>.0/30: the pod end is eth0 with .2, the host end .1. */
class VethTestNetwork implements PodNetwork {
  readonly calls: string[] = [];
  private next = 1;
  private readonly subnets = new Map<string, number>();
  failAdd = false;

  constructor(private readonly prefix: string) {}

  hostIf(a: PodNetworkAttachment): string {
    return `${this.prefix}${a.containerId.slice(0, 6)}`;
  }

  async add(a: PodNetworkAttachment): Promise<PodNetworkResult> {
    this.calls.push(`add ${a.containerId.slice(0, 12)} ${a.netnsPath} ${a.ifName} ${a.podNamespace}/${a.podName}`);
    const n = this.subnets.get(a.containerId) ?? this.next++;
    this.subnets.set(a.containerId, n);
    const host = this.hostIf(a);
    execFileSync('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', a.ifName, 'netns', a.netnsPath]);
    if (this.failAdd) throw new Error('test network: no address left');
    execFileSync('ip', ['addr', 'add', `10.203.${n}.1/30`, 'dev', host]);
    execFileSync('ip', ['link', 'set', host, 'up']);
    execFileSync('nsenter', [`--net=${a.netnsPath}`, 'ip', 'addr', 'add', `10.203.${n}.2/30`, 'dev', a.ifName]);
    execFileSync('nsenter', [`--net=${a.netnsPath}`, 'ip', 'link', 'set', a.ifName, 'up']);
    return { ip: `10.203.${n}.2`, prefixLen: 30, gateway: `10.203.${n}.1`, mac: '', mtu: 1500, ifName: a.ifName, hostIfName: host };
  }

  async check(): Promise<void> {}

  async del(a: PodNetworkAttachment): Promise<void> {
    this.calls.push(`del ${a.containerId.slice(0, 12)}`);
    try {
      execFileSync('ip', ['link', 'del', this.hostIf(a)], { stdio: 'ignore' });
    } catch {
      /* already gone with its namespace */
    }
  }
}

async function execIn(rt: NodeRuntime, pod: Pod, container: string, command: string[]) {
  let out = '';
  const code = await rt.exec(pod, container, { command, onStdout: (b) => (out += Buffer.from(b).toString()), onStderr: () => undefined });
  return { code, out };
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

describe('[node runtime] sandboxes on a pod network', () => {
  let fx: RuntimeFixture;
  let rt: NodeRuntime;
  let net: VethTestNetwork;

  beforeAll(async () => {
    requireBinaries('the sandbox network suite', 'ip', 'nsenter');
    fx = await startRuntimeFixture('the sandbox network suite');
    net = new VethTestNetwork(`v${fx.prefix.slice(3)}`);
    rt = await fx.reopen({ podNetwork: net });
  });

  afterAll(async () => {
    await fx?.cleanup();
    for (const l of readdirSync('/sys/class/net')) if (net && l.startsWith(`v${fx.prefix.slice(3)}`)) execFileSync('ip', ['link', 'del', l], { stdio: 'ignore' });
  });

  it('the pod gets eth0 with the IP the network gave, named in /etc/hosts, and reachable from the host', async () => {
    const pod = fx.pod('net', [{ name: 'c', command: SLEEP }]);
    const sandbox = await rt.createSandbox(pod);
    await rt.startContainer(pod, sandbox, pod.spec.containers[0]!, 0);
    expect(sandbox.ip).toMatch(/^10\.203\.\d+\.2$/);
    expect(net.calls).toEqual([`add ${sandbox.id.slice(0, 12)} ${rt.layout.netnsPin(sandbox.id)} eth0 default/${pod.metadata.name}`]);
    expect((await rt.podStatus(pod)).sandbox?.ip).toBe(sandbox.ip);
    const addr = await execIn(rt, pod, 'c', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.out).toContain(`inet ${sandbox.ip}/30`);
    expect((await execIn(rt, pod, 'c', ['cat', '/etc/hosts'])).out).toContain(`${sandbox.ip}\t${pod.metadata.name}`);
    execFileSync('ping', ['-c', '1', '-W', '2', sandbox.ip!]);

    // A new runtime on the same dirs reports the same IP (it is on disk, not in memory).
    const again = await fx.reopen({ podNetwork: net });
    expect((await again.podStatus(pod)).sandbox).toEqual({ ...sandbox, state: 'ready' });

    await rt.killPod(pod, 0);
    expect(net.calls.at(-1)).toBe(`del ${sandbox.id.slice(0, 12)}`);
    expect(existsSync(`/sys/class/net/${net.hostIf({ containerId: sandbox.id } as PodNetworkAttachment)}`)).toBe(false);
  });

  it('each pod\'s /etc/resolv.conf follows its dnsPolicy and dnsConfig, as the kubelet writes it', async () => {
    const hostResolv = join(fx.tmp, 'host-resolv.conf');
    writeFileSync(hostResolv, 'nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n');
    const dnsRt = await fx.reopen({ podNetwork: net, dns: { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local' }, resolvConf: hostResolv });
    const cases: [string, Partial<Pod['spec']>, string][] = [
      ['cf', {}, 'search default.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n'],
      ['def', { dnsPolicy: 'Default' }, 'search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n'],
      ['none', { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }] } }, 'search a.example\nnameserver 1.1.1.1\noptions ndots:2\n'],
      ['merged', { dnsConfig: { nameservers: ['1.1.1.1'], options: [{ name: 'ndots', value: '1' }, { name: 'edns0' }] } }, 'search default.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\nnameserver 1.1.1.1\noptions ndots:1 edns0\n'],
      ['hostnet', { hostNetwork: true }, 'search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n'],
      ['hostnet-cf', { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }, 'search default.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n'],
    ];
    for (const [name, spec, want] of cases) {
      const pod = fx.pod(`dns-${name}`, [{ name: 'c', command: SLEEP }], spec);
      const sandbox = await dnsRt.createSandbox(pod);
      await dnsRt.startContainer(pod, sandbox, pod.spec.containers[0]!, 0);
      // what the container reads at /etc/resolv.conf (the pod's file bind-mounted over it)
      expect({ name, file: (await execIn(dnsRt, pod, 'c', ['cat', '/etc/resolv.conf'])).out }).toEqual({ name, file: want });
      await dnsRt.killPod(pod, 0);
    }
  });

  it('a network that fails to attach leaves no namespace pin, record, cgroup or pause behind', async () => {
    const pod = fx.pod('netfail', [{ name: 'c', command: SLEEP }]);
    net.failAdd = true;
    try {
      await expect(rt.createSandbox(pod)).rejects.toThrow(/no address left/);
    } finally {
      net.failAdd = false;
    }
    const added = net.calls.filter((c) => c.startsWith('add')).at(-1)!;
    const id = added.split(' ')[1]!;
    // del ran for the half-made attachment (its veth is gone), then the namespace went.
    expect(net.calls.at(-1)).toBe(`del ${id}`);
    expect(readdirSync(rt.layout.netnsDir()).filter((n) => n.startsWith(id))).toEqual([]);
    expect(rt.sandboxes.records(pod.metadata.uid!)).toEqual([]);
    expect(rt.containerRuntime.cgroups.existing(rt.containerRuntime.cgroups.podPath(pod.metadata.uid!))).toEqual([]);
    expect(processesMentioning(id)).toEqual([]);
    expect(existsSync(rt.layout.etcDir(pod.metadata.uid!))).toBe(false);
    expect((await rt.podStatus(pod))).toEqual({ uid: pod.metadata.uid, containers: [] });
    expect((await rt.listPods()).map((p) => p.uid)).not.toContain(pod.metadata.uid);
  });
});
