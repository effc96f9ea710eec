// The rtnetlink codec against byte buffers written out by hand from the
// kernel's struct layouts, and the request/ack/dump logic against a fake kernel.
import { describe, expect, it } from 'vitest';
import {
  AttrSet,
  NetlinkConnection,
  NetlinkError,
  RtnetlinkClient,
  attr,
  decodeAddress,
  decodeIp,
  decodeLink,
  decodeMessages,
  decodeNeighbour,
  decodeRoute,
  encodeIfInfoMsg,
  encodeIp,
  encodeMac,
  encodeMessage,
  parseError,
  rtnl,
  splitCidr,
  sysctlPath,
  type DatagramSocket,
} from '../../netplugin/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('[netlink] codec', () => {
  it('[netlink] encodes a bridge RTM_NEWLINK request byte for byte', () => {
    const msg = encodeMessage(
      { type: rtnl.RTM_NEWLINK, flags: rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL, seq: 1, pid: 0 },
      encodeIfInfoMsg({}),
      [attr.str(rtnl.IFLA_IFNAME, 'br0'), attr.nest(rtnl.IFLA_LINKINFO, [attr.str(rtnl.IFLA_INFO_KIND, 'bridge')])],
    );
    expect(msg.toString('hex')).toBe(
      hex(`
        38000000 1000 0506 01000000 00000000
        00000000 00000000 00000000 00000000
        0800 0300 62723000
        1000 1200 0b00 0100 6272696467650000
      `).toString('hex'),
    );
  });

  it('[netlink] encodes big-endian ports, u8 flags and nested vxlan data with padding', () => {
    const msg = encodeMessage({ type: rtnl.RTM_NEWLINK, flags: 1, seq: 0x01020304, pid: 0 }, Buffer.alloc(0), [
      attr.nest(rtnl.IFLA_INFO_DATA, [attr.u32(rtnl.IFLA_VXLAN_ID, 1), attr.be16(rtnl.IFLA_VXLAN_PORT, 8472), attr.u8(rtnl.IFLA_VXLAN_LEARNING, 0)]),
    ]);
    expect(msg.toString('hex')).toBe(
      hex(`
        2c000000 1000 0100 04030201 00000000
        1c00 0200
          0800 0100 01000000
          0600 0f00 2118 0000
          0500 0700 00 000000
      `).toString('hex'),
    );
  });

  it('[netlink] decodes a kernel link reply with vxlan details', () => {
    const payload = hex(`
      00 00 0100 06000000 41100100 00000000
      0900 0300 766d7862 30000000
      0800 0400 aa050000
      0a00 0100 020000000001 0000
      0800 0a00 02000000
      0500 1000 06 000000
      3c00 1200
        0a00 0100 76786c616e00 0000
        2c00 0200
          0800 0100 01000000
          0800 0400 0ac8000b
          0600 0f00 2118 0000
          0500 0700 00 000000
          0800 0300 03000000
    `);
    const link = decodeLink(payload);
    expect(link).toEqual({
      index: 6,
      name: 'vmxb0',
      type: 1,
      flags: 0x11041,
      up: true,
      lowerUp: true,
      operstate: 'UP',
      mtu: 1450,
      address: '02:00:00:00:00:01',
      master: 2,
      kind: 'vxlan',
      vxlan: { id: 1, local: '10.200.0.11', port: 8472, learning: false, link: 3 },
    });
  });

  it('[netlink] decodes address, route and neighbour replies', () => {
    const addr = decodeAddress(hex(`02 18 80 00 03000000  0800 0200 0af40102  0800 0100 0af40102  0800 0300 65746830`));
    expect(addr).toEqual({ family: 'inet', index: 3, address: '10.244.1.2', prefixLen: 24, scope: 0, flags: 0x80, label: 'eth0' });

    const route = decodeRoute(hex(`02 18 00 00 fe 03 00 01 04000000  0800 0100 0af40200  0800 0500 0af40200  0800 0400 07000000  0800 0f00 fe000000`));
    expect(route).toEqual({
      family: 'inet', table: 254, dst: '10.244.2.0/24', dstLen: 24, gateway: '10.244.2.0', oif: 7,
      protocol: 3, scope: 0, type: 1, flags: 4, onlink: true,
    });
    const def = decodeRoute(hex(`02 00 00 00 fe 03 00 01 00000000  0800 0500 0af40101`));
    expect(def.dst).toBe('default');

    const fdb = decodeNeighbour(hex(`07 000000 07000000 8000 02 00  0a00 0200 0200000000020000  0800 0100 0ac8000c`));
    expect(fdb).toEqual({ family: 'bridge', index: 7, state: 0x80, flags: 2, lladdr: '02:00:00:00:00:02', dst: '10.200.0.12' });
  });

  it('[netlink] splits a datagram into messages and stops at a truncated tail', () => {
    const a = encodeMessage({ type: 16, flags: 2, seq: 7, pid: 0 }, Buffer.alloc(16));
    const b = encodeMessage({ type: rtnl.NLMSG_DONE, flags: 2, seq: 7, pid: 0 }, Buffer.alloc(4));
    const msgs = decodeMessages(Buffer.concat([a, b, Buffer.from([0x40, 0, 0, 0, 1])]));
    expect(msgs.map((m) => [m.type, m.seq, m.payload.length])).toEqual([[16, 7, 16], [3, 7, 4]]);
  });

  it('[netlink] reads the kernel message out of an extended ack', () => {
    const err = decodeMessages(
      hex(`
        34000000 0200 0003 05000000 00000000
        efffffff
        20000000 1000 0506 05000000 00000000
        1000 0100 6e6f2073756368206465760000
      `),
    )[0]!;
    expect(parseError(err)).toEqual({ errno: 17, extack: 'no such dev' });
  });

  it('[netlink] IP, MAC and CIDR values round-trip and bad ones are Invalid', () => {
    expect(encodeIp('10.244.1.2').toString('hex')).toBe('0af40102');
    expect(decodeIp(encodeIp('fe80::1'))).toBe('fe80::1');
    expect(decodeIp(encodeIp('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(decodeIp(encodeIp('::'))).toBe('::');
    expect(decodeIp(encodeIp('::ffff:10.0.0.1'))).toBe('::ffff:10.0.0.1');
    expect(encodeMac('AA:bb:cc:dd:ee:0f').toString('hex')).toBe('aabbccddee0f');
    expect(splitCidr('10.244.0.0/16')).toEqual({ address: '10.244.0.0', prefixLen: 16 });
    expect(() => encodeIp('10.244.1')).toThrow(/not an IP address/);
    expect(() => encodeMac('aa:bb')).toThrow(/not a MAC address/);
    expect(() => splitCidr('10.0.0.0/33')).toThrow(/not a CIDR/);
  });

  it('[netlink] attribute sets keep repeated types and mask the nested flag', () => {
    const buf = hex(`0800 0180 01000000  0800 0100 02000000`);
    const a = new AttrSet(buf);
    expect(a.all(1).map((b) => b.readUInt32LE(0))).toEqual([1, 2]);
    expect(a.u32(1)).toBe(1);
  });

  it('[netlink] sysctl names map to /proc/sys paths; names with slashes keep their dots', () => {
    expect(sysctlPath('net.ipv4.ip_forward')).toBe('/proc/sys/net/ipv4/ip_forward');
    expect(sysctlPath('net/ipv4/conf/flannel.1/rp_filter')).toBe('/proc/sys/net/ipv4/conf/flannel.1/rp_filter');
    expect(() => sysctlPath('net/../../etc/passwd')).toThrow(/not a sysctl name/);
    expect(() => sysctlPath('net.ipv4 ip_forward')).toThrow(/not a sysctl name/);
  });
});

/** A fake kernel: answers each request with what `reply` returns, now or on the next readable event. */
class FakeKernel implements DatagramSocket {
  readonly portId = 4242;
  readonly sent: Buffer[] = [];
  private queue: Buffer[] = [];
  private readable: (() => void) | null = null;
  closed = false;
  constructor(private readonly reply: (req: ReturnType<typeof decodeMessages>[0], n: number) => { now: Buffer[]; later?: Buffer[] }) {}
  send(msg: Buffer): void {
    this.sent.push(msg);
    const req = decodeMessages(msg)[0]!;
    const r = this.reply(req, this.sent.length);
    this.queue.push(...r.now);
    if (r.later) {
      setTimeout(() => {
        this.queue.push(...r.later!);
        this.readable?.();
      }, 5);
    }
  }
  recv(): Buffer | null {
    return this.queue.shift() ?? null;
  }
  onReadable(cb: (() => void) | null): void {
    this.readable = cb;
  }
  close(): void {
    this.closed = true;
  }
}

const ack = (seq: number, errno = 0): Buffer => {
  const body = Buffer.alloc(20);
  body.writeInt32LE(-errno, 0);
  return encodeMessage({ type: rtnl.NLMSG_ERROR, flags: rtnl.NLM_F_CAPPED, seq, pid: 0 }, body);
};
const done = (seq: number, flags = rtnl.NLM_F_MULTI): Buffer => encodeMessage({ type: rtnl.NLMSG_DONE, flags, seq, pid: 0 }, Buffer.alloc(4));
const linkMsg = (seq: number, index: number, name: string, flags = rtnl.NLM_F_MULTI): Buffer =>
  encodeMessage({ type: rtnl.RTM_NEWLINK, flags, seq, pid: 0 }, encodeIfInfoMsg({ index }), [attr.str(rtnl.IFLA_IFNAME, name), attr.u32(rtnl.IFLA_MTU, 1500)]);

describe('[netlink] connection', () => {
  it('[netlink] a request resolves on the ack that carries its sequence number', async () => {
    const k = new FakeKernel((req) => ({ now: [ack(req.seq - 1, 17), ack(req.seq)] }));
    const c = new NetlinkConnection(k);
    await expect(c.request(rtnl.RTM_NEWLINK, 0, encodeIfInfoMsg({}))).resolves.toEqual([]);
    const sent = decodeMessages(k.sent[0]!)[0]!;
    expect(sent.flags & (rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK)).toBe(rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK);
  });

  it('[netlink] a kernel errno becomes a typed NetlinkError with the request and object named', async () => {
    const k = new FakeKernel((req) => ({ now: [ack(req.seq, 17)] }));
    const c = new NetlinkConnection(k);
    const err = await c.request(rtnl.RTM_NEWLINK, 0, encodeIfInfoMsg({}), [], { op: 'linkAdd', object: 'br0' }).catch((e) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err.code).toBe('AlreadyExists');
    expect(err.errno).toBe(17);
    expect(err.request).toBe('RTM_NEWLINK');
    expect(err.message).toMatch(/^linkAdd: RTM_NEWLINK br0: .*\(EEXIST\)$/);
  });

  it('[netlink] a dump collects multipart replies that arrive later, until NLMSG_DONE', async () => {
    const k = new FakeKernel((req) => ({ now: [linkMsg(req.seq, 1, 'lo')], later: [linkMsg(req.seq, 2, 'eth0'), done(req.seq)] }));
    const nl = RtnetlinkClient.fromSocket(k);
    const links = await nl.linkList();
    expect(links.map((l) => [l.index, l.name, l.mtu])).toEqual([[1, 'lo', 1500], [2, 'eth0', 1500]]);
  });

  it('[netlink] an interrupted dump is retried', async () => {
    const k = new FakeKernel((req, n) =>
      n === 1
        ? { now: [linkMsg(req.seq, 1, 'lo', rtnl.NLM_F_MULTI | rtnl.NLM_F_DUMP_INTR), done(req.seq)] }
        : { now: [linkMsg(req.seq, 1, 'lo'), linkMsg(req.seq, 3, 'br0'), done(req.seq)] },
    );
    const links = await RtnetlinkClient.fromSocket(k).linkList();
    expect(links.map((l) => l.name)).toEqual(['lo', 'br0']);
    expect(k.sent.length).toBe(2);
  });

  it('[netlink] requests are serialized and each gets its own sequence number', async () => {
    const k = new FakeKernel((req) => ({ now: [], later: [ack(req.seq)] }));
    const c = new NetlinkConnection(k);
    await Promise.all([1, 2, 3].map(() => c.request(rtnl.RTM_NEWLINK, 0, encodeIfInfoMsg({}))));
    const seqs = k.sent.map((b) => decodeMessages(b)[0]!.seq);
    expect(new Set(seqs).size).toBe(3);
  });

  it('[netlink] a silent kernel ends in a Timeout-coded error, and close rejects what waits', async () => {
    const k = new FakeKernel(() => ({ now: [] }));
    const c = new NetlinkConnection(k, { timeoutMs: 20 });
    const err = await c.request(rtnl.RTM_GETLINK, 0, encodeIfInfoMsg({})).catch((e) => e);
    expect(err.code).toBe('Timeout');
    const pending = c.request(rtnl.RTM_GETLINK, 0, encodeIfInfoMsg({})).catch((e) => e);
    await new Promise((r) => setTimeout(r, 1));
    c.close();
    expect(String(await pending)).toMatch(/connection closed/);
    expect(k.closed).toBe(true);
  });

  it('[netlink] the client encodes a veth pair with its peer in another namespace by fd', async () => {
    const k = new FakeKernel((req) => ({ now: [ack(req.seq)] }));
    const nl = RtnetlinkClient.fromSocket(k);
    await nl.linkAdd({ name: 'vh0', kind: 'veth', mtu: 1450, veth: { peer: { name: 'eth0', netns: { fd: 42 } } } });
    const m = decodeMessages(k.sent[0]!)[0]!;
    const a = new AttrSet(m.payload, rtnl.IFINFOMSG_LEN);
    expect(a.str(rtnl.IFLA_IFNAME)).toBe('vh0');
    const peerRaw = a.nested(rtnl.IFLA_LINKINFO)!.nested(rtnl.IFLA_INFO_DATA)!.get(rtnl.VETH_INFO_PEER)!;
    const peer = new AttrSet(peerRaw, rtnl.IFINFOMSG_LEN);
    expect([peer.str(rtnl.IFLA_IFNAME), peer.u32(rtnl.IFLA_NET_NS_FD), peer.u32(rtnl.IFLA_MTU)]).toEqual(['eth0', 42, 1450]);
  });
});
