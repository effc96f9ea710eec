// The bridge pod network on real namespaces: a scratch "host" namespace holds
// the bridge, scratch pod namespaces get eth0, an IP, a default route. `ip` is
// used here only to create namespaces and to look at what the plugin did.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/index.js';
import { BridgePodNetwork, PodNetworkCheckError, type PodNetworkAttachment } from '../../netplugin/index.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const prefix = `np${randomInt(0, 36 ** 5).toString(36).padStart(5, '0')}`;
const made: string[] = [];
let work: string;
let net: BridgePodNetwork;
const hostNs = `${prefix}-host`;

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}
function netnsAdd(name: string): string {
  ip(['netns', 'add', name]);
  made.push(name);
  return `/run/netns/${name}`;
}
function inNs(ns: string, cmd: string[]): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}
function att(id: string, ns: string): PodNetworkAttachment {
  return { containerId: id, netnsPath: `/run/netns/${ns}`, ifName: 'eth0' };
}

beforeAll(() => {
  requireRoot('netplugin pod network');
  requireBinaries('netplugin pod network', 'ip', 'ping');
  work = mkdtempSync(join(tmpdir(), 'flotilla-podnet-'));
  netnsAdd(hostNs);
  net = new BridgePodNetwork({ subnet: '10.244.7.0/24', mtu: 1450, ipamDir: join(work, 'ipam'), hostNetns: `/run/netns/${hostNs}`, log: silentLogger() });
});

afterAll(async () => {
  await net?.close();
  for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
  if (work) rmSync(work, { recursive: true, force: true });
  const left = ip(['netns', 'list']).split('\n').filter((l) => l.startsWith(`${prefix}-`));
  expect(left).toEqual([]);
});

describe('[network] bridge pod network', () => {
  it('ADD gives the pod eth0 with an IP of the subnet, the MTU and a default route via the bridge gateway', async () => {
    const ns = `${prefix}-a`;
    netnsAdd(ns);
    const res = await net.add(att('pod-a', ns));
    expect(res.ip).toMatch(/^10\.244\.7\.\d+$/);
    expect(res).toMatchObject({ prefixLen: 24, gateway: '10.244.7.1', mtu: 1450, ifName: 'eth0', hostIfName: net.hostIfName('pod-a') });
    expect(res.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

    const link = JSON.parse(inNs(ns, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']).out)[0];
    expect(link.mtu).toBe(1450);
    expect(link.address).toBe(res.mac);
    expect(link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toContain(`${res.ip}/24`);
    expect(inNs(ns, ['ip', 'route', 'show', 'default']).out).toContain('default via 10.244.7.1 dev eth0');
    expect(inNs(ns, ['ip', 'link', 'show', 'lo']).out).toContain('UP');
    const br = inNs(hostNs, ['ip', '-j', 'addr', 'show', 'dev', 'cni0']).out;
    expect(JSON.parse(br)[0].addr_info[0]).toMatchObject({ local: '10.244.7.1', prefixlen: 24 });
    expect(inNs(hostNs, ['ip', 'link', 'show', res.hostIfName]).out).toContain('master cni0');

    // The pod reaches its gateway over the bridge.
    const ping = inNs(ns, ['ping', '-c1', '-W2', '10.244.7.1']);
    expect(ping.code, ping.out).toBe(0);
    await net.check(att('pod-a', ns));
  });

  it('every pod\'s bridge port is in hairpin mode (a pod reaching itself through its Service), also after a repeated ADD', async () => {
    const ns = `${prefix}-hp`;
    netnsAdd(ns);
    const res = await net.add(att('pod-hp', ns));
    const mode = () => JSON.parse(inNs(hostNs, ['ip', '-d', '-j', 'link', 'show', 'dev', res.hostIfName]).out)[0].linkinfo.info_slave_data.hairpin;
    expect(mode()).toBe(true);
    // A pair made without it (an older agent): the next ADD of the same container turns it on.
    expect(inNs(hostNs, ['ip', 'link', 'set', 'dev', res.hostIfName, 'type', 'bridge_slave', 'hairpin', 'off']).code).toBe(0);
    expect(mode()).toBe(false);
    await net.add(att('pod-hp', ns));
    expect(mode()).toBe(true);
    await net.del(att('pod-hp', ns));
  });

  it('a repeated ADD for the same container returns the same IP and keeps one allocation', async () => {
    const ns = `${prefix}-b`;
    netnsAdd(ns);
    const first = await net.add(att('pod-b', ns));
    const again = await net.add(att('pod-b', ns));
    expect(again.ip).toBe(first.ip);
    expect(again.mac).toBe(first.mac);
    const owners = [...(await net.ipam.allocations()).values()].filter((o) => o.id === 'pod-b');
    expect(owners).toHaveLength(1);
  });

  it('the IP is persisted on disk and a new plugin instance (an agent restart) sees it', async () => {
    const ns = `${prefix}-c`;
    netnsAdd(ns);
    const res = await net.add(att('pod-c', ns));
    expect(readdirSync(join(work, 'ipam'))).toContain(res.ip);
    const restarted = new BridgePodNetwork({ subnet: '10.244.7.0/24', mtu: 1450, ipamDir: join(work, 'ipam'), hostNetns: `/run/netns/${hostNs}`, log: silentLogger() });
    try {
      await restarted.check(att('pod-c', ns));
      expect((await restarted.add(att('pod-c', ns))).ip).toBe(res.ip);
    } finally {
      await restarted.close();
    }
  });

  it('two pods on one bridge reach each other and never share an IP', async () => {
    const ips = new Set<string>();
    const nss: string[] = [];
    for (let i = 0; i < 6; i++) {
      const ns = `${prefix}-m${i}`;
      netnsAdd(ns);
      nss.push(ns);
    }
    const results = await Promise.all(nss.map((ns, i) => net.add(att(`pod-m${i}`, ns))));
    for (const r of results) ips.add(r.ip);
    expect(ips.size).toBe(nss.length);
    const ping = inNs(nss[0]!, ['ping', '-c1', '-W2', results[1]!.ip]);
    expect(ping.code, ping.out).toBe(0);
    for (let i = 0; i < nss.length; i++) await net.del(att(`pod-m${i}`, nss[i]!));
  });

  it('DEL removes the host veth and frees the IP, and a second DEL is fine', async () => {
    const ns = `${prefix}-d`;
    netnsAdd(ns);
    const res = await net.add(att('pod-d', ns));
    await net.del(att('pod-d', ns));
    expect(inNs(hostNs, ['ip', 'link', 'show', res.hostIfName]).code).not.toBe(0);
    expect(inNs(ns, ['ip', 'link', 'show', 'eth0']).code).not.toBe(0);
    expect(await net.ipam.findById('pod-d')).toBeUndefined();
    await net.del(att('pod-d', ns));
  });

  it('DEL of a pod whose namespace is already gone frees its IP', async () => {
    const ns = `${prefix}-e`;
    netnsAdd(ns);
    await net.add(att('pod-e', ns));
    ip(['netns', 'del', ns]);
    await net.del(att('pod-e', ns));
    expect(await net.ipam.findById('pod-e')).toBeUndefined();
  });

  it('a freed IP is not handed out again right away', async () => {
    const ns1 = `${prefix}-f1`;
    const ns2 = `${prefix}-f2`;
    netnsAdd(ns1);
    netnsAdd(ns2);
    const a = await net.add(att('pod-f1', ns1));
    await net.del(att('pod-f1', ns1));
    const b = await net.add(att('pod-f2', ns2));
    expect(b.ip).not.toBe(a.ip);
  });

  it('CHECK names what is wrong: a missing address, a missing route, a missing host interface', async () => {
    const ns = `${prefix}-g`;
    netnsAdd(ns);
    const res = await net.add(att('pod-g', ns));
    inNs(ns, ['ip', 'route', 'del', 'default']);
    await expect(net.check(att('pod-g', ns))).rejects.toThrow(/no default route/);
    inNs(ns, ['ip', 'addr', 'del', `${res.ip}/24`, 'dev', 'eth0']);
    const err = await net.check(att('pod-g', ns)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PodNetworkCheckError);
    expect((err as PodNetworkCheckError).what).toBe('address');
    expect((err as Error).message).toContain(`lacks ${res.ip}/24`);
    inNs(hostNs, ['ip', 'link', 'del', res.hostIfName]);
    await expect(net.check(att('pod-g', ns))).rejects.toThrow(`host interface ${res.hostIfName} is missing`);
    await expect(net.check(att('pod-none', ns))).rejects.toThrow(/no IP is allocated to pod-none/);
    // ADD repairs it.
    const again = await net.add(att('pod-g', ns));
    expect(again.ip).toBe(res.ip);
    await net.check(att('pod-g', ns));
  });

  it('bad input is refused with errors naming the field, and a failed ADD leaves no IP and no link behind', async () => {
    await expect(net.add({ containerId: '', netnsPath: '/run/netns/x', ifName: 'eth0' })).rejects.toThrow(/containerId is required/);
    await expect(net.add({ containerId: 'x', netnsPath: '/run/netns/x', ifName: 'a-very-long-interface-name' })).rejects.toThrow(/ifName/);
    await expect(net.add(att('pod-nons', `${prefix}-missing`))).rejects.toThrow(/does not exist/);
    // eth0 already taken inside the pod namespace: the veth cannot be made.
    const ns = `${prefix}-h`;
    netnsAdd(ns);
    inNs(ns, ['ip', 'link', 'add', 'eth0', 'type', 'bridge']);
    await expect(net.add(att('pod-h', ns))).rejects.toThrow(/name is taken/);
    expect(await net.ipam.findById('pod-h')).toBeUndefined();
    expect(inNs(hostNs, ['ip', 'link', 'show', net.hostIfName('pod-h')]).code).not.toBe(0);
  });

  it('an exhausted per-node range is a clear error and the failed ADD leaves no link behind', async () => {
    // A /29 holds .2 … .6: five pods.
    const small = new BridgePodNetwork({ bridge: `${prefix}s`, subnet: '10.244.9.0/29', mtu: 1450, ipamDir: join(work, 'ipam-small'), hostNetns: `/run/netns/${hostNs}`, log: silentLogger() });
    try {
      for (let i = 0; i < 5; i++) {
        const ns = `${prefix}-s${i}`;
        netnsAdd(ns);
        await small.add(att(`pod-s${i}`, ns));
      }
      const ns = `${prefix}-s5`;
      netnsAdd(ns);
      await expect(small.add(att('pod-s5', ns))).rejects.toThrow('no free IP left in 10.244.9.0/29 on this node');
      expect(inNs(hostNs, ['ip', 'link', 'show', small.hostIfName('pod-s5')]).code).not.toBe(0);
      expect(inNs(ns, ['ip', 'link', 'show', 'eth0']).code).not.toBe(0);
      await small.del(att('pod-s0', `${prefix}-s0`));
      expect((await small.add(att('pod-s5', ns))).ip).toMatch(/^10\.244\.9\.[2-6]$/);
    } finally {
      await small.close();
    }
  });

  it('a host-side device called like the bridge but of another kind is reported, not reused', async () => {
    const ns = `${prefix}-i`;
    netnsAdd(ns);
    const other = new BridgePodNetwork({ bridge: `${prefix}x`, subnet: '10.244.8.0/24', mtu: 1450, ipamDir: join(work, 'ipam2'), hostNetns: `/run/netns/${hostNs}`, log: silentLogger() });
    try {
      inNs(hostNs, ['ip', 'link', 'add', `${prefix}x`, 'type', 'veth', 'peer', 'name', `${prefix}y`]);
      await expect(other.add(att('pod-i', ns))).rejects.toThrow(`${prefix}x exists but is a veth device, not a bridge`);
      expect(await other.ipam.findById('pod-i')).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});
