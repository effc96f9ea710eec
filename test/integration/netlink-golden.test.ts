// Golden tests: what RtnetlinkClient does in a scratch namespace must be what
// `ip -json` and `bridge -json` see there, and what it lists must be what they list.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MNT_DETACH, NETLINK_ROUTE, NativeError, NetlinkSocket, netnsCreate, netnsDelete, umount } from '../../native/index.js';
import { NetlinkError, RtnetlinkClient, decodeLink, decodeMessages, rtnl, type Link } from '../../netplugin/index.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const SUITE = 'netlink golden tests';
let dir = '';
let hostNs = '';
let podNs = '';
let otherNs = '';
let host: RtnetlinkClient;
let pod: RtnetlinkClient;
const tag = randomBytes(3).toString('hex');

function inNs(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('nsenter', [`--net=${ns}`, cmd, ...args], { encoding: 'utf8' });
}
function ipj(ns: string, ...args: string[]): any[] {
  const out = inNs(ns, 'ip', '-json', ...args).trim();
  return out ? JSON.parse(out) : [];
}
function bridgej(ns: string, ...args: string[]): any[] {
  const out = inNs(ns, 'bridge', '-json', ...args).trim();
  return out ? JSON.parse(out) : [];
}

/** What `ip -json link` says about a link, reduced to what the codec decodes. */
function ipLinkView(ns: string): Record<string, unknown>[] {
  const links = ipj(ns, '-d', 'link', 'show');
  return links.map((l) => ({
    index: l.ifindex,
    name: l.ifname,
    mtu: l.mtu,
    up: (l.flags as string[]).includes('UP'),
    operstate: l.operstate,
    address: l.address,
    master: l.master ?? null,
    kind: l.linkinfo?.info_kind ?? null,
  }));
}
function codecLinkView(links: Link[]): Record<string, unknown>[] {
  const byIndex = new Map(links.map((l) => [l.index, l.name]));
  return links.map((l) => ({
    index: l.index,
    name: l.name,
    mtu: l.mtu,
    up: l.up,
    operstate: l.operstate,
    address: l.address,
    master: l.master === undefined ? null : byIndex.get(l.master),
    kind: l.kind ?? null,
  }));
}

beforeAll(async () => {
  requireRoot(SUITE);
  requireBinaries(SUITE, 'ip', 'bridge', 'nsenter');
  dir = mkdtempSync(`/tmp/flt-nl-${tag}-`);
  hostNs = `${dir}/host`;
  podNs = `${dir}/pod`;
  otherNs = `${dir}/other`;
  netnsCreate(hostNs);
  netnsCreate(podNs);
  netnsCreate(otherNs);
  host = await RtnetlinkClient.open(hostNs);
  pod = await RtnetlinkClient.open(podNs);
});

afterAll(() => {
  host?.close();
  pod?.close();
  for (const ns of [hostNs, podNs, otherNs]) {
    try {
      if (ns) netnsDelete(ns);
    } catch {
      /* already gone */
    }
  }
  if (dir) {
    try {
      umount(dir, MNT_DETACH);
    } catch {
      /* not a mount */
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('[netlink] links', () => {
  it('[netlink] a bridge and a veth pair whose peer is created in another namespace are what ip shows', async () => {
    await host.linkAdd({ name: 'cni0', kind: 'bridge', mtu: 1450, up: true });
    await host.linkAdd({ name: 'veth1', kind: 'veth', mtu: 1450, veth: { peer: { name: 'eth0', netns: podNs } } });
    await host.linkSet('veth1', { master: 'cni0', up: true });
    await pod.linkSetUp('eth0');

    expect(codecLinkView(await host.linkList())).toEqual(ipLinkView(hostNs));
    expect(codecLinkView(await pod.linkList())).toEqual(ipLinkView(podNs));
    const veth = await host.linkGet('veth1');
    expect(veth.kind).toBe('veth');
    expect(veth.slaveKind).toBe('bridge');
    expect(veth.master).toBe((await host.linkGet('cni0')).index);
    const eth0 = await pod.linkGet('eth0');
    expect(eth0.mtu).toBe(1450);
    expect(eth0.up).toBe(true);
  });

  it('[netlink] MTU, MAC, down, rename and a move to another namespace by path are what ip shows', async () => {
    await host.linkAdd({ name: 'vtmp', kind: 'veth', veth: { peer: { name: 'vtmp-p' } } });
    await host.linkSet('vtmp', { mtu: 1400, address: '02:42:0a:f4:01:09' });
    await host.linkRename('vtmp', 'vren');
    await host.linkSetUp('vren');
    await host.linkSetDown('vren');
    const ip = ipj(hostNs, 'link', 'show', 'vren')[0];
    expect(ip.mtu).toBe(1400);
    expect(ip.address).toBe('02:42:0a:f4:01:09');
    expect(ip.flags).not.toContain('UP');
    expect(await host.linkFind('vtmp')).toBeUndefined();

    await host.linkSetNetns('vtmp-p', otherNs);
    expect(ipj(otherNs, 'link', 'show').map((l) => l.ifname)).toContain('vtmp-p');
    expect(ipj(hostNs, 'link', 'show').map((l) => l.ifname)).not.toContain('vtmp-p');
    // the host side now points at a peer in another namespace
    expect((await host.linkGet('vren')).linkNetnsId).toBeTypeOf('number');

    // and back by an open namespace fd
    const other = await RtnetlinkClient.open(otherNs);
    const hostFd = openSync(hostNs, 'r');
    try {
      await other.linkSet('vtmp-p', { netns: { fd: hostFd }, name: 'vback' });
    } finally {
      closeSync(hostFd);
      other.close();
    }
    expect(ipj(hostNs, 'link', 'show', 'vback')[0].ifname).toBe('vback');
    expect((await host.linkGet('vback')).link).toBe((await host.linkGet('vren')).index);
    await host.linkSetNetns('vback', otherNs);

    await host.linkDel('vren');
    expect(ipj(hostNs, 'link', 'show').map((l) => l.ifname)).not.toContain('vren');
    expect(ipj(otherNs, 'link', 'show').map((l) => l.ifname)).not.toContain('vtmp-p');
  });

  it('[netlink] a vxlan device has the VNI, port, local address, underlay device and learning ip reports', async () => {
    await host.linkAdd({ name: 'under0', kind: 'veth', veth: { peer: { name: 'under1' } }, up: true });
    await host.addrAdd({ link: 'under0', address: '10.200.77.1/24' });
    await host.linkAdd({
      name: 'flannel.1',
      kind: 'vxlan',
      vxlan: { id: 1, port: 8472, local: '10.200.77.1', dev: 'under0', learning: false },
      mtu: 1450,
      address: '0a:58:0a:f4:01:00',
      up: true,
    });
    const ip = ipj(hostNs, '-d', 'link', 'show', 'flannel.1')[0];
    expect(ip.linkinfo.info_kind).toBe('vxlan');
    expect(ip.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, local: '10.200.77.1', link: 'under0', learning: false });
    expect(ip.mtu).toBe(1450);
    expect(ip.address).toBe('0a:58:0a:f4:01:00');

    const link = await host.linkGet('flannel.1');
    expect(link.vxlan).toMatchObject({ id: 1, port: 8472, local: '10.200.77.1', learning: false, link: (await host.linkGet('under0')).index });
    expect(codecLinkView(await host.linkList())).toEqual(ipLinkView(hostNs));
  });
});

describe('[netlink] addresses, routes, neighbours, FDB', () => {
  it('[netlink] addresses added and deleted are what ip addr lists', async () => {
    await host.addrAdd({ link: 'cni0', address: '10.244.1.1/24' });
    await pod.addrAdd({ link: 'eth0', address: '10.244.1.2/24' });
    await host.addrAdd({ link: 'flannel.1', address: '10.244.1.0/32' });
    await host.addrAdd({ link: 'cni0', address: '10.244.9.9/24' });
    await host.addrDel({ link: 'cni0', address: '10.244.9.9/24' });
    for (const [ns, nl] of [[hostNs, host], [podNs, pod]] as const) {
      const fromIp = ipj(ns, '-4', 'addr', 'show').flatMap((l) =>
        (l.addr_info as { local: string; prefixlen: number; label?: string }[]).map((a) => ({ index: l.ifindex, address: a.local, prefixLen: a.prefixlen })),
      );
      const fromCodec = (await nl.addrList({ family: 'inet' })).map((a) => ({ index: a.index, address: a.address, prefixLen: a.prefixLen }));
      expect(fromCodec).toEqual(fromIp);
    }
    expect((await pod.addrList({ link: 'eth0', family: 'inet' })).map((a) => a.address)).toEqual(['10.244.1.2']);
  });

  it('[netlink] default, onlink and replaced routes in table main are what ip route lists', async () => {
    await pod.routeAdd({ dst: 'default', gateway: '10.244.1.1', dev: 'eth0' });
    await host.routeAdd({ dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true });
    await host.routeReplace({ dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', onlink: true });
    await host.routeReplace({ dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', onlink: true, metric: 0 });
    await host.routeAdd({ dst: '10.244.4.0/24', dev: 'cni0' });
    await host.routeDel({ dst: '10.244.4.0/24', dev: 'cni0' });

    const view = async (ns: string, nl: RtnetlinkClient) => {
      const names = new Map((await nl.linkList()).map((l) => [l.index, l.name]));
      const fromCodec = (await nl.routeList()).map((r) => ({
        dst: r.dst,
        gateway: r.gateway ?? null,
        dev: r.oif === undefined ? null : names.get(r.oif),
        onlink: r.onlink,
        scope: r.scope === rtnl.RT_SCOPE_LINK ? 'link' : 'global',
      }));
      const fromIp = ipj(ns, 'route', 'show', 'table', 'main').map((r) => ({
        dst: r.dst,
        gateway: r.gateway ?? null,
        dev: r.dev ?? null,
        onlink: ((r.flags ?? []) as string[]).includes('onlink'),
        scope: r.scope ?? 'global',
      }));
      return { fromCodec, fromIp };
    };
    const h = await view(hostNs, host);
    expect(h.fromCodec).toEqual(h.fromIp);
    expect(h.fromCodec).toContainEqual({ dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true, scope: 'global' });
    expect(h.fromCodec.map((r) => r.dst)).not.toContain('10.244.4.0/24');
    const p = await view(podNs, pod);
    expect(p.fromCodec).toEqual(p.fromIp);
    expect(p.fromCodec[0]).toEqual({ dst: 'default', gateway: '10.244.1.1', dev: 'eth0', onlink: false, scope: 'global' });
  });

  it('[netlink] permanent neighbours replaced and deleted are what ip neigh lists', async () => {
    await host.neighReplace({ dev: 'flannel.1', ip: '10.244.2.0', lladdr: '0a:58:0a:f4:02:00' });
    await host.neighReplace({ dev: 'flannel.1', ip: '10.244.3.0', lladdr: '0a:58:0a:f4:03:00' });
    await host.neighReplace({ dev: 'flannel.1', ip: '10.244.3.0', lladdr: '0a:58:0a:f4:03:01' });
    await host.neighReplace({ dev: 'flannel.1', ip: '10.244.5.0', lladdr: '0a:58:0a:f4:05:00' });
    await host.neighDel({ dev: 'flannel.1', ip: '10.244.5.0' });
    const fromIp = ipj(hostNs, '-4', 'neigh', 'show', 'dev', 'flannel.1').map((n) => ({ dst: n.dst, lladdr: n.lladdr, state: n.state }));
    const fromCodec = (await host.neighList({ dev: 'flannel.1', family: 'inet' })).map((n) => ({
      dst: n.dst,
      lladdr: n.lladdr,
      state: n.state === rtnl.NUD_PERMANENT ? ['PERMANENT'] : [String(n.state)],
    }));
    expect(fromCodec).toEqual(fromIp);
    expect([...fromCodec].sort((a, b) => String(a.dst).localeCompare(String(b.dst)))).toEqual([
      { dst: '10.244.2.0', lladdr: '0a:58:0a:f4:02:00', state: ['PERMANENT'] },
      { dst: '10.244.3.0', lladdr: '0a:58:0a:f4:03:01', state: ['PERMANENT'] },
    ]);
  });

  it('[netlink] FDB entries appended and deleted on the vxlan device are what bridge fdb lists', async () => {
    await host.fdbAppend({ dev: 'flannel.1', lladdr: '0a:58:0a:f4:02:00', dst: '10.200.77.2' });
    await host.fdbAppend({ dev: 'flannel.1', lladdr: '0a:58:0a:f4:03:01', dst: '10.200.77.3' });
    await host.fdbAppend({ dev: 'flannel.1', lladdr: '00:00:00:00:00:00', dst: '10.200.77.2' });
    await host.fdbAppend({ dev: 'flannel.1', lladdr: '00:00:00:00:00:00', dst: '10.200.77.3' });
    await host.fdbDel({ dev: 'flannel.1', lladdr: '00:00:00:00:00:00', dst: '10.200.77.2' });
    const key = (e: { mac?: string; lladdr?: string; dst?: string }) => `${e.mac ?? e.lladdr} ${e.dst}`;
    const fromBridge = bridgej(hostNs, 'fdb', 'show', 'dev', 'flannel.1').map((e) => ({
      key: key(e),
      self: (e.flags as string[]).includes('self'),
      permanent: e.state === 'permanent',
    }));
    const fromCodec = (await host.fdbList({ dev: 'flannel.1' })).map((n) => ({
      key: key(n),
      self: (n.flags & rtnl.NTF_SELF) !== 0,
      permanent: (n.state & rtnl.NUD_PERMANENT) !== 0,
    }));
    expect(fromCodec).toEqual(fromBridge);
    expect(fromCodec.map((e) => e.key).sort()).toEqual(
      ['00:00:00:00:00:00 10.200.77.3', '0a:58:0a:f4:02:00 10.200.77.2', '0a:58:0a:f4:03:01 10.200.77.3'].sort(),
    );
  });

  it('[netlink] a sysctl written in a namespace changes that namespace only', () => {
    const rootBefore = execFileSync('cat', ['/proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' }).trim();
    host.sysctlWrite('net.ipv4.ip_forward', 1);
    host.sysctlWrite('net/ipv4/conf/flannel.1/rp_filter', 2);
    expect(inNs(hostNs, 'cat', '/proc/sys/net/ipv4/ip_forward').trim()).toBe('1');
    expect(inNs(hostNs, 'cat', '/proc/sys/net/ipv4/conf/flannel.1/rp_filter').trim()).toBe('2');
    expect(host.sysctlRead('net.ipv4.ip_forward')).toBe('1');
    expect(inNs(podNs, 'cat', '/proc/sys/net/ipv4/ip_forward').trim()).toBe('0');
    expect(execFileSync('cat', ['/proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' }).trim()).toBe(rootBefore);
  });
});

describe('[netlink] notifications', () => {
  it('[netlink] a socket subscribed to link events is woken by its poll watcher when a link appears', async () => {
    const sock = NetlinkSocket.open(NETLINK_ROUTE, { netns: hostNs, groups: 1 /* RTMGRP_LINK */ });
    try {
      const seen = new Promise<string[]>((resolve) => {
        const names: string[] = [];
        sock.onReadable(() => {
          for (let d = sock.recv(); d; d = sock.recv()) {
            for (const m of decodeMessages(d)) if (m.type === rtnl.RTM_NEWLINK) names.push(decodeLink(m.payload).name);
          }
          if (names.includes('evt0')) {
            sock.onReadable(null);
            resolve(names);
          }
        });
      });
      expect(sock.recv()).toBeNull();
      await host.linkAdd({ name: 'evt0', kind: 'bridge' });
      expect(await seen).toContain('evt0');
    } finally {
      sock.close();
      await host.linkDel('evt0');
    }
  });
});

describe('[netlink] errors', () => {
  it('[netlink] a missing link is NotFound with the kernel message', async () => {
    const err = await host.linkGet('nosuch0').catch((e) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err.code).toBe('NotFound');
    expect(err.message).toBe('linkGet: RTM_GETLINK nosuch0: No such device (ENODEV)');
    const err2 = await host.addrAdd({ link: 'nosuch0', address: '10.244.1.5/24' }).catch((e) => e);
    expect(err2.code).toBe('NotFound');
  });

  it('[netlink] an existing name is AlreadyExists and a bad request carries the extended ack text', async () => {
    const dup = await host.linkAdd({ name: 'cni0', kind: 'bridge' }).catch((e) => e);
    expect(dup.code).toBe('AlreadyExists');
    expect(dup.errnoCode).toBe('EEXIST');
    const big = await host.linkAdd({ name: 'vxbig', kind: 'vxlan', vxlan: { id: 1 << 24 } }).catch((e) => e);
    expect(big).toBeInstanceOf(NetlinkError);
    expect(big.extack).toMatch(/VXLAN ID/);
    expect(big.message).toContain(big.extack);
    const dupRoute = await host.routeAdd({ dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true }).catch((e) => e);
    expect(dupRoute.code).toBe('AlreadyExists');
  });

  it('[netlink] opening a client in a missing or non-namespace path is a typed error, not a crash', async () => {
    const missing = await RtnetlinkClient.open(`${dir}/nope`).catch((e) => e);
    expect(missing).toBeInstanceOf(NativeError);
    expect(missing.code).toBe('NotFound');
    expect(missing.message).toContain(`${dir}/nope`);
    const file = `${dir}/plain`;
    writeFileSync(file, 'x');
    const notNs = await RtnetlinkClient.open(file).catch((e) => e);
    expect(notNs).toBeInstanceOf(NativeError);
    expect(notNs.code).toBe('Invalid');
  });
});
