// rtnetlink message bodies: the fixed structs (ifinfomsg, ifaddrmsg, rtmsg,
// ndmsg) and the decoders that turn kernel replies into plain objects.
import { AttrSet, decodeMac } from './codec.js';
import * as C from './constants.js';

// ---------------------------------------------------------------- structs

export interface IfInfoMsg {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}
export function encodeIfInfoMsg(m: IfInfoMsg): Buffer {
  const b = Buffer.alloc(C.IFINFOMSG_LEN);
  b.writeUInt8(m.family ?? C.AF_UNSPEC, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE((m.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((m.change ?? 0) >>> 0, 12);
  return b;
}

export interface IfAddrMsg {
  family: number;
  prefixLen: number;
  flags?: number;
  scope?: number;
  index: number;
}
export function encodeIfAddrMsg(m: IfAddrMsg): Buffer {
  const b = Buffer.alloc(C.IFADDRMSG_LEN);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.prefixLen, 1);
  b.writeUInt8(m.flags ?? 0, 2);
  b.writeUInt8(m.scope ?? 0, 3);
  b.writeUInt32LE(m.index >>> 0, 4);
  return b;
}

export interface RtMsg {
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}
export function encodeRtMsg(m: RtMsg): Buffer {
  const b = Buffer.alloc(C.RTMSG_LEN);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.dstLen ?? 0, 1);
  b.writeUInt8(m.srcLen ?? 0, 2);
  b.writeUInt8(m.tos ?? 0, 3);
  b.writeUInt8(m.table ?? 0, 4);
  b.writeUInt8(m.protocol ?? 0, 5);
  b.writeUInt8(m.scope ?? 0, 6);
  b.writeUInt8(m.type ?? 0, 7);
  b.writeUInt32LE((m.flags ?? 0) >>> 0, 8);
  return b;
}

export interface NdMsg {
  family: number;
  index?: number;
  state?: number;
  flags?: number;
  type?: number;
}
export function encodeNdMsg(m: NdMsg): Buffer {
  const b = Buffer.alloc(C.NDMSG_LEN);
  b.writeUInt8(m.family, 0);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt16LE(m.state ?? 0, 8);
  b.writeUInt8(m.flags ?? 0, 10);
  b.writeUInt8(m.type ?? 0, 11);
  return b;
}

// ---------------------------------------------------------------- objects

export type Family = 'inet' | 'inet6' | 'bridge' | 'unspec';
export function familyName(f: number): Family {
  return f === C.AF_INET ? 'inet' : f === C.AF_INET6 ? 'inet6' : f === C.AF_BRIDGE ? 'bridge' : 'unspec';
}

export interface VxlanInfo {
  id?: number;
  /** Local underlay address. */
  local?: string;
  /** UDP destination port. */
  port?: number;
  /** ifindex of the underlay device. */
  link?: number;
  learning?: boolean;
  ttl?: number;
}

export interface Link {
  index: number;
  name: string;
  /** ARPHRD_* type (1 = ether, 772 = loopback). */
  type: number;
  /** IFF_* flags. */
  flags: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier (IFF_LOWER_UP). */
  lowerUp: boolean;
  operstate: string;
  mtu: number;
  txqlen?: number;
  address?: string;
  broadcast?: string;
  /** ifindex of the master (bridge), if enslaved. */
  master?: number;
  /** IFLA_LINK: the peer's ifindex for veth (in the peer's namespace when linkNetnsId is set). */
  link?: number;
  linkNetnsId?: number;
  /** IFLA_INFO_KIND: veth, bridge, vxlan, dummy, … (absent for physical and loopback). */
  kind?: string;
  /** Kind of the slave side (e.g. `bridge` for a bridge port). */
  slaveKind?: string;
  vxlan?: VxlanInfo;
}

export function decodeLink(payload: Buffer): Link {
  const type = payload.readUInt16LE(2);
  const index = payload.readInt32LE(4);
  const flags = payload.readUInt32LE(8);
  const a = new AttrSet(payload, C.IFINFOMSG_LEN);
  const link: Link = {
    index,
    name: a.str(C.IFLA_IFNAME) ?? '',
    type,
    flags,
    up: (flags & C.IFF_UP) !== 0,
    lowerUp: (flags & C.IFF_LOWER_UP) !== 0,
    operstate: C.OPERSTATES[a.u8(C.IFLA_OPERSTATE) ?? 0] ?? 'UNKNOWN',
    mtu: a.u32(C.IFLA_MTU) ?? 0,
  };
  const txq = a.u32(C.IFLA_TXQLEN);
  if (txq !== undefined) link.txqlen = txq;
  const addr = a.get(C.IFLA_ADDRESS);
  if (addr && addr.length) link.address = decodeMac(addr);
  const brd = a.get(C.IFLA_BROADCAST);
  if (brd && brd.length) link.broadcast = decodeMac(brd);
  const master = a.u32(C.IFLA_MASTER);
  if (master) link.master = master;
  const l = a.u32(C.IFLA_LINK);
  if (l !== undefined) link.link = l;
  const nsid = a.i32(C.IFLA_LINK_NETNSID);
  if (nsid !== undefined) link.linkNetnsId = nsid;
  const info = a.nested(C.IFLA_LINKINFO);
  if (info) {
    const kind = info.str(C.IFLA_INFO_KIND);
    if (kind) link.kind = kind;
    const sk = info.str(C.IFLA_INFO_SLAVE_KIND);
    if (sk) link.slaveKind = sk;
    if (kind === 'vxlan') {
      const d = info.nested(C.IFLA_INFO_DATA);
      if (d) {
        const v: VxlanInfo = {};
        const id = d.u32(C.IFLA_VXLAN_ID);
        if (id !== undefined) v.id = id;
        const local = d.ip(C.IFLA_VXLAN_LOCAL);
        if (local) v.local = local;
        const port = d.be16(C.IFLA_VXLAN_PORT);
        if (port !== undefined) v.port = port;
        const dev = d.u32(C.IFLA_VXLAN_LINK);
        if (dev !== undefined) v.link = dev;
        const learning = d.u8(C.IFLA_VXLAN_LEARNING);
        if (learning !== undefined) v.learning = learning !== 0;
        const ttl = d.u8(C.IFLA_VXLAN_TTL);
        if (ttl !== undefined) v.ttl = ttl;
        link.vxlan = v;
      }
    }
  }
  return link;
}

export interface Address {
  family: Family;
  /** ifindex of the link. */
  index: number;
  /** The interface address (IFA_LOCAL, or IFA_ADDRESS when there is no local). */
  address: string;
  prefixLen: number;
  /** IFA_ADDRESS when it differs from the local address (the peer of a point-to-point link). */
  peer?: string;
  broadcast?: string;
  label?: string;
  scope: number;
  flags: number;
}

export function decodeAddress(payload: Buffer): Address {
  const family = payload.readUInt8(0);
  const prefixLen = payload.readUInt8(1);
  const flags8 = payload.readUInt8(2);
  const scope = payload.readUInt8(3);
  const index = payload.readUInt32LE(4);
  const a = new AttrSet(payload, C.IFADDRMSG_LEN);
  const local = a.ip(C.IFA_LOCAL);
  const address = a.ip(C.IFA_ADDRESS);
  const out: Address = {
    family: familyName(family),
    index,
    address: local ?? address ?? '',
    prefixLen,
    scope,
    flags: a.u32(C.IFA_FLAGS) ?? flags8,
  };
  if (local && address && local !== address) out.peer = address;
  const brd = a.ip(C.IFA_BROADCAST);
  if (brd) out.broadcast = brd;
  const label = a.str(C.IFA_LABEL);
  if (label) out.label = label;
  return out;
}

export interface Route {
  family: Family;
  table: number;
  /** Destination as CIDR, or `default`. */
  dst: string;
  dstLen: number;
  gateway?: string;
  /** Output ifindex. */
  oif?: number;
  prefsrc?: string;
  priority?: number;
  protocol: number;
  scope: number;
  /** RTN_* type (1 = unicast). */
  type: number;
  /** RTNH_F_* flags. */
  flags: number;
  onlink: boolean;
}

export function decodeRoute(payload: Buffer): Route {
  const family = payload.readUInt8(0);
  const dstLen = payload.readUInt8(1);
  const tableByte = payload.readUInt8(4);
  const protocol = payload.readUInt8(5);
  const scope = payload.readUInt8(6);
  const type = payload.readUInt8(7);
  const flags = payload.readUInt32LE(8);
  const a = new AttrSet(payload, C.RTMSG_LEN);
  const dstAddr = a.ip(C.RTA_DST);
  const r: Route = {
    family: familyName(family),
    table: a.u32(C.RTA_TABLE) ?? tableByte,
    dst: dstAddr ? `${dstAddr}/${dstLen}` : dstLen === 0 ? 'default' : '',
    dstLen,
    protocol,
    scope,
    type,
    flags,
    onlink: (flags & C.RTNH_F_ONLINK) !== 0,
  };
  const gw = a.ip(C.RTA_GATEWAY);
  if (gw) r.gateway = gw;
  const oif = a.u32(C.RTA_OIF);
  if (oif !== undefined) r.oif = oif;
  const src = a.ip(C.RTA_PREFSRC);
  if (src) r.prefsrc = src;
  const prio = a.u32(C.RTA_PRIORITY);
  if (prio !== undefined) r.priority = prio;
  return r;
}

export interface Neighbour {
  family: Family;
  /** ifindex of the link. */
  index: number;
  /** Neighbour IP (NDA_DST); for bridge FDB entries the remote VTEP IP. */
  dst?: string;
  /** Link-layer address (NDA_LLADDR). */
  lladdr?: string;
  /** NUD_* state bits. */
  state: number;
  /** NTF_* flags. */
  flags: number;
  /** For bridge FDB entries: the master (bridge) ifindex, VLAN, VNI, UDP port. */
  master?: number;
  vlan?: number;
  vni?: number;
  port?: number;
}

export function decodeNeighbour(payload: Buffer): Neighbour {
  const family = payload.readUInt8(0);
  const index = payload.readInt32LE(4);
  const state = payload.readUInt16LE(8);
  const flags = payload.readUInt8(10);
  const a = new AttrSet(payload, C.NDMSG_LEN);
  const n: Neighbour = { family: familyName(family), index, state, flags };
  const dst = a.ip(C.NDA_DST);
  if (dst) n.dst = dst;
  const ll = a.mac(C.NDA_LLADDR);
  if (ll) n.lladdr = ll;
  const master = a.u32(C.NDA_MASTER);
  if (master !== undefined) n.master = master;
  const vlan = a.u16(C.NDA_VLAN);
  if (vlan !== undefined) n.vlan = vlan;
  const vni = a.u32(C.NDA_VNI);
  if (vni !== undefined) n.vni = vni;
  const port = a.be16(C.NDA_PORT);
  if (port !== undefined) n.port = port;
  return n;
}

/** Names of NUD_* state bits as `ip neigh` prints them (PERMANENT, REACHABLE, …). */
export function nudStateNames(state: number): string[] {
  const names: [number, string][] = [
    [C.NUD_INCOMPLETE, 'INCOMPLETE'], [C.NUD_REACHABLE, 'REACHABLE'], [C.NUD_STALE, 'STALE'],
    [C.NUD_DELAY, 'DELAY'], [C.NUD_PROBE, 'PROBE'], [C.NUD_FAILED, 'FAILED'],
    [C.NUD_NOARP, 'NOARP'], [C.NUD_PERMANENT, 'PERMANENT'],
  ];
  return names.filter(([bit]) => (state & bit) !== 0).map(([, n]) => n);
}
