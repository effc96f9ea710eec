// RtnetlinkClient: links, addresses, routes, neighbours, bridge FDB entries and
// sysctls of one network namespace, spoken over an rtnetlink socket that the
// native addon opened inside that namespace. Every kernel refusal is a
// NetlinkError (a NativeError: errno, code such as NotFound/AlreadyExists, the
// kernel's message).
import { closeSync, openSync } from 'node:fs';
import { InvalidError } from '../../api/errors.js';
import { NETLINK_ROUTE, NetlinkSocket } from '../../native/index.js';
import { attr, encodeAttrs, ipFamily, splitCidr, type Attr } from './codec.js';
import * as C from './constants.js';
import { NetlinkConnection, type DatagramSocket, type NetlinkConnectionOptions } from './connection.js';
import {
  decodeAddress,
  decodeLink,
  decodeNeighbour,
  decodeRoute,
  encodeIfAddrMsg,
  encodeIfInfoMsg,
  encodeNdMsg,
  encodeRtMsg,
  type Address,
  type Link,
  type Neighbour,
  type Route,
} from './messages.js';
import { readSysctl, writeSysctl } from './sysctl.js';

/** A link by name (`eth0`) or ifindex. */
export type LinkRef = string | number;
/** A network namespace: a pin path (`/run/netns/x`, `/proc/<pid>/ns/net`), an open fd, or a process. */
export type NetnsRef = string | { fd: number } | { pid: number };

export interface VethPeerSpec {
  name: string;
  /** Create the peer directly in this namespace. */
  netns?: NetnsRef;
  mtu?: number;
  address?: string;
}

export interface VxlanSpec {
  /** VNI. */
  id: number;
  /** UDP destination port (the kernel's default is 8472). */
  port?: number;
  /** Local underlay IP. */
  local?: string;
  /** Underlay device. */
  dev?: LinkRef;
  /** MAC learning; Flannel-style overlays turn it off (FDB entries are static). */
  learning?: boolean;
  ttl?: number;
}

export interface LinkAddSpec {
  name: string;
  kind: 'veth' | 'bridge' | 'vxlan' | 'dummy';
  mtu?: number;
  address?: string;
  txqlen?: number;
  /** Bring it up right away. */
  up?: boolean;
  master?: LinkRef;
  /** Create it in another namespace. */
  netns?: NetnsRef;
  veth?: { peer: VethPeerSpec };
  vxlan?: VxlanSpec;
}

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  address?: string;
  /** Enslave to this master; null releases it (nomaster). */
  master?: LinkRef | null;
  /** Rename (the link must be down). */
  name?: string;
  /** Move to another namespace (the link keeps its name unless `name` is also given). */
  netns?: NetnsRef;
  txqlen?: number;
  /** Hairpin mode of a bridge port (the link must already have a bridge master), as `ip link set … type bridge_slave hairpin on`. */
  hairpin?: boolean;
}

export interface AddressSpec {
  link: LinkRef;
  /** Address with prefix length: `10.244.1.2/24`. */
  address: string;
  /** Broadcast address (IPv4); `ip addr add` sets none unless asked. */
  broadcast?: string;
  label?: string;
  /** Don't add the prefix route for this address. */
  noPrefixRoute?: boolean;
}

export type Scope = 'universe' | 'site' | 'link' | 'host' | number;

export interface RouteSpec {
  /** `10.244.2.0/24`, a host address (`/32` implied) or `default`. */
  dst: string;
  gateway?: string;
  dev?: LinkRef;
  /** Pretend the gateway is on-link (RTNH_F_ONLINK), as Flannel's VXLAN routes do. */
  onlink?: boolean;
  /** Routing table; default main (254). */
  table?: number;
  metric?: number;
  /** Preferred source address. */
  src?: string;
  /** Default: link without a gateway, universe with one (as `ip route add`). */
  scope?: Scope;
  /** RTPROT_*; default boot (3), as `ip route add`. */
  protocol?: number;
  /** RTN_*; default unicast. */
  type?: number;
}

export interface RouteFilter {
  /** Default main; `'all'` for every table. */
  table?: number | 'all';
  family?: 'inet' | 'inet6';
  dev?: LinkRef;
}

export interface NeighbourSpec {
  dev: LinkRef;
  /** Neighbour IP. */
  ip: string;
  /** Link-layer address. */
  lladdr?: string;
  /** NUD_* state; default NUD_PERMANENT. */
  state?: number;
}

export interface FdbSpec {
  /** The VXLAN (or bridge port) device. */
  dev: LinkRef;
  lladdr: string;
  /** Remote VTEP IP. */
  dst?: string;
  /** Remote UDP port and VNI, when they differ from the device's. */
  port?: number;
  vni?: number;
  /** Default NTF_SELF (the device's own table, as VXLAN needs). */
  flags?: number;
  /** Default NUD_PERMANENT. */
  state?: number;
}

export interface RtnetlinkClientOptions extends NetlinkConnectionOptions {
  /** Namespace pin to work in; absent/null: the caller's own namespace. */
  netns?: string | null;
}

function scopeNumber(s: Scope): number {
  if (typeof s === 'number') return s;
  return { universe: C.RT_SCOPE_UNIVERSE, site: C.RT_SCOPE_SITE, link: C.RT_SCOPE_LINK, host: C.RT_SCOPE_HOST }[s];
}

function afOf(address: string): number {
  return ipFamily(address) === 4 ? C.AF_INET : C.AF_INET6;
}

/** Opens what a NetnsRef names and returns the attribute plus a closer. */
function netnsAttr(ref: NetnsRef): { attr: Attr; close: () => void } {
  if (typeof ref === 'string') {
    const fd = openSync(ref, 'r');
    return { attr: attr.u32(C.IFLA_NET_NS_FD, fd), close: () => closeSync(fd) };
  }
  if ('fd' in ref) return { attr: attr.u32(C.IFLA_NET_NS_FD, ref.fd), close: () => undefined };
  return { attr: attr.u32(C.IFLA_NET_NS_PID, ref.pid), close: () => undefined };
}

export class RtnetlinkClient {
  /** The namespace this client works in (null: the caller's). */
  readonly netns: string | null;
  private readonly conn: NetlinkConnection;

  private constructor(conn: NetlinkConnection, netns: string | null) {
    this.conn = conn;
    this.netns = netns;
  }

  /** Opens an rtnetlink socket inside `netns` (a pin path) or the caller's namespace. */
  static async open(netns?: string | null, opts: NetlinkConnectionOptions = {}): Promise<RtnetlinkClient> {
    const sock = NetlinkSocket.open(NETLINK_ROUTE, { netns: netns ?? null });
    return new RtnetlinkClient(new NetlinkConnection(sock, opts), netns ?? null);
  }

  /** A client over any datagram socket (unit tests use a fake kernel). */
  static fromSocket(sock: DatagramSocket, opts: RtnetlinkClientOptions = {}): RtnetlinkClient {
    return new RtnetlinkClient(new NetlinkConnection(sock, opts), opts.netns ?? null);
  }

  close(): void {
    this.conn.close();
  }

  // ------------------------------------------------------------------ links

  /** Creates a link (veth pair, bridge, vxlan, dummy). AlreadyExists when the name is taken. */
  async linkAdd(spec: LinkAddSpec): Promise<void> {
    const closers: (() => void)[] = [];
    try {
      const attrs: Attr[] = [attr.str(C.IFLA_IFNAME, spec.name)];
      if (spec.mtu !== undefined) attrs.push(attr.u32(C.IFLA_MTU, spec.mtu));
      if (spec.address !== undefined) attrs.push(attr.mac(C.IFLA_ADDRESS, spec.address));
      if (spec.txqlen !== undefined) attrs.push(attr.u32(C.IFLA_TXQLEN, spec.txqlen));
      if (spec.master !== undefined) attrs.push(attr.u32(C.IFLA_MASTER, await this.ifindex(spec.master)));
      if (spec.netns !== undefined) {
        const ns = netnsAttr(spec.netns);
        closers.push(ns.close);
        attrs.push(ns.attr);
      }
      const info: Attr[] = [attr.str(C.IFLA_INFO_KIND, spec.kind)];
      if (spec.kind === 'veth') {
        const peer = spec.veth?.peer;
        if (!peer) throw new InvalidError(`linkAdd ${spec.name}: a veth needs veth.peer.name`);
        const pa: Attr[] = [attr.str(C.IFLA_IFNAME, peer.name)];
        if (peer.mtu !== undefined || spec.mtu !== undefined) pa.push(attr.u32(C.IFLA_MTU, peer.mtu ?? spec.mtu!));
        if (peer.address !== undefined) pa.push(attr.mac(C.IFLA_ADDRESS, peer.address));
        if (peer.netns !== undefined) {
          const ns = netnsAttr(peer.netns);
          closers.push(ns.close);
          pa.push(ns.attr);
        }
        // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attributes.
        info.push(attr.nest(C.IFLA_INFO_DATA, [attr.bytes(C.VETH_INFO_PEER, Buffer.concat([encodeIfInfoMsg({}), encodeAttrs(pa)]))]));
      } else if (spec.kind === 'vxlan') {
        const v = spec.vxlan;
        if (!v) throw new InvalidError(`linkAdd ${spec.name}: a vxlan needs vxlan.id`);
        const va: Attr[] = [attr.u32(C.IFLA_VXLAN_ID, v.id)];
        if (v.local !== undefined) {
          va.push(attr.ip(ipFamily(v.local) === 4 ? C.IFLA_VXLAN_LOCAL : 17 /* IFLA_VXLAN_LOCAL6 */, v.local));
        }
        if (v.dev !== undefined) va.push(attr.u32(C.IFLA_VXLAN_LINK, await this.ifindex(v.dev)));
        if (v.port !== undefined) va.push(attr.be16(C.IFLA_VXLAN_PORT, v.port));
        if (v.learning !== undefined) va.push(attr.u8(C.IFLA_VXLAN_LEARNING, v.learning ? 1 : 0));
        if (v.ttl !== undefined) va.push(attr.u8(C.IFLA_VXLAN_TTL, v.ttl));
        info.push(attr.nest(C.IFLA_INFO_DATA, va));
      }
      attrs.push(attr.nest(C.IFLA_LINKINFO, info));
      const up = spec.up ? C.IFF_UP : 0;
      await this.conn.request(
        C.RTM_NEWLINK,
        C.NLM_F_CREATE | C.NLM_F_EXCL,
        encodeIfInfoMsg({ flags: up, change: up }),
        attrs,
        { op: 'linkAdd', object: spec.name },
      );
    } finally {
      for (const c of closers) c();
    }
  }

  /** Changes a link: up/down, MTU, MAC, master, name, namespace. NotFound when it does not exist. */
  async linkSet(ref: LinkRef, change: LinkChange): Promise<void> {
    const closers: (() => void)[] = [];
    try {
      const attrs: Attr[] = [];
      let index = 0;
      if (typeof ref === 'number') index = ref;
      else if (change.name !== undefined) index = await this.ifindex(ref);
      else attrs.push(attr.str(C.IFLA_IFNAME, ref)); // look up by name in the same request
      if (change.name !== undefined) attrs.push(attr.str(C.IFLA_IFNAME, change.name));
      if (change.mtu !== undefined) attrs.push(attr.u32(C.IFLA_MTU, change.mtu));
      if (change.address !== undefined) attrs.push(attr.mac(C.IFLA_ADDRESS, change.address));
      if (change.txqlen !== undefined) attrs.push(attr.u32(C.IFLA_TXQLEN, change.txqlen));
      if (change.master !== undefined) {
        attrs.push(attr.u32(C.IFLA_MASTER, change.master === null ? 0 : await this.ifindex(change.master)));
      }
      if (change.netns !== undefined) {
        const ns = netnsAttr(change.netns);
        closers.push(ns.close);
        attrs.push(ns.attr);
      }
      if (change.hairpin !== undefined) {
        const port = [attr.u8(C.IFLA_BRPORT_MODE, change.hairpin ? 1 : 0)];
        attrs.push(attr.nest(C.IFLA_LINKINFO, [attr.str(C.IFLA_INFO_SLAVE_KIND, 'bridge'), attr.nest(C.IFLA_INFO_SLAVE_DATA, port)]));
      }
      const flags = change.up ? C.IFF_UP : 0;
      const mask = change.up === undefined ? 0 : C.IFF_UP;
      await this.conn.request(C.RTM_NEWLINK, 0, encodeIfInfoMsg({ index, flags, change: mask }), attrs, {
        op: 'linkSet',
        object: String(ref),
      });
    } finally {
      for (const c of closers) c();
    }
  }

  linkSetUp(ref: LinkRef): Promise<void> {
    return this.linkSet(ref, { up: true });
  }
  linkSetDown(ref: LinkRef): Promise<void> {
    return this.linkSet(ref, { up: false });
  }
  linkSetMaster(ref: LinkRef, master: LinkRef | null): Promise<void> {
    return this.linkSet(ref, { master });
  }
  linkSetMtu(ref: LinkRef, mtu: number): Promise<void> {
    return this.linkSet(ref, { mtu });
  }
  linkSetAddress(ref: LinkRef, address: string): Promise<void> {
    return this.linkSet(ref, { address });
  }
  linkSetNetns(ref: LinkRef, netns: NetnsRef): Promise<void> {
    return this.linkSet(ref, { netns });
  }
  linkRename(ref: LinkRef, name: string): Promise<void> {
    return this.linkSet(ref, { name });
  }

  /** Deletes a link (a veth pair goes as a whole). NotFound when it does not exist. */
  async linkDel(ref: LinkRef): Promise<void> {
    const byName = typeof ref === 'string';
    await this.conn.request(
      C.RTM_DELLINK,
      0,
      encodeIfInfoMsg({ index: byName ? 0 : ref }),
      byName ? [attr.str(C.IFLA_IFNAME, ref)] : [],
      { op: 'linkDel', object: String(ref) },
    );
  }

  /** One link. NotFound (ENODEV) when it does not exist. */
  async linkGet(ref: LinkRef): Promise<Link> {
    const byName = typeof ref === 'string';
    const replies = await this.conn.request(
      C.RTM_GETLINK,
      0,
      encodeIfInfoMsg({ index: byName ? 0 : ref }),
      byName ? [attr.str(C.IFLA_IFNAME, ref)] : [],
      { op: 'linkGet', object: String(ref) },
    );
    const m = replies.find((r) => r.type === C.RTM_NEWLINK);
    if (!m) throw new InvalidError(`linkGet ${ref}: the kernel sent no link`);
    return decodeLink(m.payload);
  }

  /** One link, or undefined when it does not exist. */
  async linkFind(ref: LinkRef): Promise<Link | undefined> {
    try {
      return await this.linkGet(ref);
    } catch (e) {
      if (e instanceof Error && 'code' in e && (e as { code: string }).code === 'NotFound') return undefined;
      throw e;
    }
  }

  async linkList(): Promise<Link[]> {
    const replies = await this.conn.dump(C.RTM_GETLINK, encodeIfInfoMsg({}), [], { op: 'linkList' });
    return replies.filter((r) => r.type === C.RTM_NEWLINK).map((r) => decodeLink(r.payload));
  }

  // -------------------------------------------------------------- addresses

  private async addrRequest(type: number, flags: number, spec: AddressSpec, op: string): Promise<void> {
    const { address, prefixLen } = splitCidr(spec.address);
    const family = afOf(address);
    const index = await this.ifindex(spec.link);
    const attrs: Attr[] = [attr.ip(C.IFA_LOCAL, address), attr.ip(C.IFA_ADDRESS, address)];
    if (spec.broadcast !== undefined) attrs.push(attr.ip(C.IFA_BROADCAST, spec.broadcast));
    if (spec.label !== undefined) attrs.push(attr.str(C.IFA_LABEL, spec.label));
    if (spec.noPrefixRoute) attrs.push(attr.u32(C.IFA_FLAGS, C.IFA_F_NOPREFIXROUTE));
    await this.conn.request(type, flags, encodeIfAddrMsg({ family, prefixLen, index }), attrs, {
      op,
      object: `${spec.address} dev ${spec.link}`,
    });
  }

  /** Adds an address. AlreadyExists when the link has it. */
  addrAdd(spec: AddressSpec): Promise<void> {
    return this.addrRequest(C.RTM_NEWADDR, C.NLM_F_CREATE | C.NLM_F_EXCL, spec, 'addrAdd');
  }
  /** Adds an address or updates it in place (idempotent). */
  addrReplace(spec: AddressSpec): Promise<void> {
    return this.addrRequest(C.RTM_NEWADDR, C.NLM_F_CREATE | C.NLM_F_REPLACE, spec, 'addrReplace');
  }
  /** Removes an address. NotFound (EADDRNOTAVAIL) when the link lacks it. */
  addrDel(spec: AddressSpec): Promise<void> {
    return this.addrRequest(C.RTM_DELADDR, 0, spec, 'addrDel');
  }

  async addrList(filter: { link?: LinkRef; family?: 'inet' | 'inet6' } = {}): Promise<Address[]> {
    const family = filter.family === 'inet' ? C.AF_INET : filter.family === 'inet6' ? C.AF_INET6 : C.AF_UNSPEC;
    const index = filter.link === undefined ? undefined : await this.ifindex(filter.link);
    const replies = await this.conn.dump(C.RTM_GETADDR, encodeIfAddrMsg({ family, prefixLen: 0, index: 0 }), [], { op: 'addrList' });
    return replies
      .filter((r) => r.type === C.RTM_NEWADDR)
      .map((r) => decodeAddress(r.payload))
      .filter((a) => index === undefined || a.index === index);
  }

  // ----------------------------------------------------------------- routes

  private async routeMessage(spec: RouteSpec): Promise<{ body: Buffer; attrs: Attr[] }> {
    let family: number;
    let dstLen = 0;
    const attrs: Attr[] = [];
    if (spec.dst === 'default') {
      family = spec.gateway ? afOf(spec.gateway) : C.AF_INET;
    } else {
      const cidr = spec.dst.includes('/') ? splitCidr(spec.dst) : { address: spec.dst, prefixLen: ipFamily(spec.dst) === 4 ? 32 : 128 };
      family = afOf(cidr.address);
      dstLen = cidr.prefixLen;
      attrs.push(attr.ip(C.RTA_DST, cidr.address));
    }
    const table = spec.table ?? C.RT_TABLE_MAIN;
    if (table > 255) attrs.push(attr.u32(C.RTA_TABLE, table));
    if (spec.gateway !== undefined) attrs.push(attr.ip(C.RTA_GATEWAY, spec.gateway));
    if (spec.dev !== undefined) attrs.push(attr.u32(C.RTA_OIF, await this.ifindex(spec.dev)));
    if (spec.metric !== undefined) attrs.push(attr.u32(C.RTA_PRIORITY, spec.metric));
    if (spec.src !== undefined) attrs.push(attr.ip(C.RTA_PREFSRC, spec.src));
    const scope = spec.scope !== undefined ? scopeNumber(spec.scope) : spec.gateway ? C.RT_SCOPE_UNIVERSE : C.RT_SCOPE_LINK;
    const body = encodeRtMsg({
      family,
      dstLen,
      table: table > 255 ? C.RT_TABLE_UNSPEC : table,
      protocol: spec.protocol ?? C.RTPROT_BOOT,
      scope,
      type: spec.type ?? C.RTN_UNICAST,
      flags: spec.onlink ? C.RTNH_F_ONLINK : 0,
    });
    return { body, attrs };
  }

  private async routeRequest(type: number, flags: number, spec: RouteSpec, op: string): Promise<void> {
    const { body, attrs } = await this.routeMessage(spec);
    await this.conn.request(type, flags, body, attrs, {
      op,
      object: `${spec.dst}${spec.gateway ? ` via ${spec.gateway}` : ''}${spec.dev !== undefined ? ` dev ${spec.dev}` : ''}`,
    });
  }

  /** Adds a route. AlreadyExists when an equal route is there. */
  routeAdd(spec: RouteSpec): Promise<void> {
    return this.routeRequest(C.RTM_NEWROUTE, C.NLM_F_CREATE | C.NLM_F_EXCL, spec, 'routeAdd');
  }
  /** Adds a route or replaces the one with the same destination (idempotent). */
  routeReplace(spec: RouteSpec): Promise<void> {
    return this.routeRequest(C.RTM_NEWROUTE, C.NLM_F_CREATE | C.NLM_F_REPLACE, spec, 'routeReplace');
  }
  /** Deletes a route. NotFound (ESRCH) when there is none. */
  async routeDel(spec: RouteSpec): Promise<void> {
    const { body, attrs } = await this.routeMessage(spec);
    // Match on what was given: a zero scope/protocol/type in a delete means "any".
    body.writeUInt8(spec.protocol ?? 0, 5);
    body.writeUInt8(spec.scope !== undefined ? scopeNumber(spec.scope) : C.RT_SCOPE_NOWHERE, 6);
    body.writeUInt8(spec.type ?? 0, 7);
    await this.conn.request(C.RTM_DELROUTE, 0, body, attrs, { op: 'routeDel', object: spec.dst });
  }

  async routeList(filter: RouteFilter = {}): Promise<Route[]> {
    const family = filter.family === 'inet6' ? C.AF_INET6 : C.AF_INET;
    const table = filter.table ?? C.RT_TABLE_MAIN;
    const oif = filter.dev === undefined ? undefined : await this.ifindex(filter.dev);
    const replies = await this.conn.dump(C.RTM_GETROUTE, encodeRtMsg({ family }), [], { op: 'routeList' });
    return replies
      .filter((r) => r.type === C.RTM_NEWROUTE)
      .map((r) => decodeRoute(r.payload))
      .filter((r) => (table === 'all' || r.table === table) && (oif === undefined || r.oif === oif));
  }

  // ------------------------------------------------------------- neighbours

  /** Adds or replaces a neighbour entry (default permanent). */
  async neighReplace(spec: NeighbourSpec): Promise<void> {
    const index = await this.ifindex(spec.dev);
    const attrs: Attr[] = [attr.ip(C.NDA_DST, spec.ip)];
    if (spec.lladdr !== undefined) attrs.push(attr.mac(C.NDA_LLADDR, spec.lladdr));
    await this.conn.request(
      C.RTM_NEWNEIGH,
      C.NLM_F_CREATE | C.NLM_F_REPLACE,
      encodeNdMsg({ family: afOf(spec.ip), index, state: spec.state ?? C.NUD_PERMANENT }),
      attrs,
      { op: 'neighReplace', object: `${spec.ip} dev ${spec.dev}` },
    );
  }

  /** Deletes a neighbour entry. NotFound when there is none. */
  async neighDel(spec: { dev: LinkRef; ip: string }): Promise<void> {
    const index = await this.ifindex(spec.dev);
    await this.conn.request(C.RTM_DELNEIGH, 0, encodeNdMsg({ family: afOf(spec.ip), index }), [attr.ip(C.NDA_DST, spec.ip)], {
      op: 'neighDel',
      object: `${spec.ip} dev ${spec.dev}`,
    });
  }

  async neighList(filter: { dev?: LinkRef; family?: 'inet' | 'inet6' } = {}): Promise<Neighbour[]> {
    const family = filter.family === 'inet6' ? C.AF_INET6 : filter.family === 'inet' ? C.AF_INET : C.AF_UNSPEC;
    const index = filter.dev === undefined ? undefined : await this.ifindex(filter.dev);
    const replies = await this.conn.dump(C.RTM_GETNEIGH, encodeNdMsg({ family }), [], { op: 'neighList' });
    return replies
      .filter((r) => r.type === C.RTM_NEWNEIGH)
      .map((r) => decodeNeighbour(r.payload))
      .filter((n) => n.family !== 'bridge' && (index === undefined || n.index === index));
  }

  // -------------------------------------------------------------- bridge FDB

  private async fdbRequest(type: number, flags: number, spec: FdbSpec, op: string): Promise<void> {
    const index = await this.ifindex(spec.dev);
    const attrs: Attr[] = [attr.mac(C.NDA_LLADDR, spec.lladdr)];
    if (spec.dst !== undefined) attrs.push(attr.ip(C.NDA_DST, spec.dst));
    if (spec.port !== undefined) attrs.push(attr.be16(C.NDA_PORT, spec.port));
    if (spec.vni !== undefined) attrs.push(attr.u32(C.NDA_VNI, spec.vni));
    await this.conn.request(
      type,
      flags,
      encodeNdMsg({ family: C.AF_BRIDGE, index, state: spec.state ?? C.NUD_PERMANENT, flags: spec.flags ?? C.NTF_SELF }),
      attrs,
      { op, object: `${spec.lladdr}${spec.dst ? ` dst ${spec.dst}` : ''} dev ${spec.dev}` },
    );
  }

  /** Appends an FDB entry (a VXLAN MAC may have several remote destinations), as `bridge fdb append`. */
  fdbAppend(spec: FdbSpec): Promise<void> {
    return this.fdbRequest(C.RTM_NEWNEIGH, C.NLM_F_CREATE | C.NLM_F_APPEND, spec, 'fdbAppend');
  }
  /** Adds or replaces an FDB entry, as `bridge fdb replace`. */
  fdbReplace(spec: FdbSpec): Promise<void> {
    return this.fdbRequest(C.RTM_NEWNEIGH, C.NLM_F_CREATE | C.NLM_F_REPLACE, spec, 'fdbReplace');
  }
  /** Deletes an FDB entry (with `dst`: only that destination). NotFound when there is none. */
  fdbDel(spec: FdbSpec): Promise<void> {
    return this.fdbRequest(C.RTM_DELNEIGH, 0, spec, 'fdbDel');
  }

  async fdbList(filter: { dev?: LinkRef } = {}): Promise<Neighbour[]> {
    const index = filter.dev === undefined ? undefined : await this.ifindex(filter.dev);
    const replies = await this.conn.dump(C.RTM_GETNEIGH, encodeNdMsg({ family: C.AF_BRIDGE }), [], { op: 'fdbList' });
    return replies
      .filter((r) => r.type === C.RTM_NEWNEIGH)
      .map((r) => decodeNeighbour(r.payload))
      .filter((n) => index === undefined || n.index === index);
  }

  // ---------------------------------------------------------------- sysctls

  /** Writes a sysctl of this client's namespace (`net.ipv4.ip_forward` or `net/ipv4/conf/flannel.1/rp_filter`). */
  sysctlWrite(name: string, value: string | number): void {
    writeSysctl(name, value, { netns: this.netns });
  }
  sysctlRead(name: string): string {
    return readSysctl(name, { netns: this.netns });
  }

  // ---------------------------------------------------------------- helpers

  /** ifindex of a link (numbers pass through). NotFound when there is no such link. */
  async ifindex(ref: LinkRef): Promise<number> {
    if (typeof ref === 'number') return ref;
    return (await this.linkGet(ref)).index;
  }
}


