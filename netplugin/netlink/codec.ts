// The netlink wire format: message headers, attributes (TLVs, 4-byte aligned,
// nestable) and the small value codecs (integers, strings, IP and MAC
// addresses). Pure functions over Buffers; host byte order is little-endian.
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidError } from '../../api/errors.js';
import { NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from './constants.js';

export const align4 = (n: number): number => (n + 3) & ~3;

// ---------------------------------------------------------------- attributes

/** One attribute: a raw value, or nested attributes (encoded inside, no NLA_F_NESTED flag, like iproute2). */
export interface Attr {
  type: number;
  value: Buffer | Attr[];
}

function u8b(v: number): Buffer {
  const b = Buffer.alloc(1);
  b.writeUInt8(v);
  return b;
}
function u16b(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
function be16b(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
function u32b(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function i32b(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

/** Attribute constructors. */
export const attr = {
  u8: (type: number, v: number): Attr => ({ type, value: u8b(v) }),
  u16: (type: number, v: number): Attr => ({ type, value: u16b(v) }),
  be16: (type: number, v: number): Attr => ({ type, value: be16b(v) }),
  u32: (type: number, v: number): Attr => ({ type, value: u32b(v) }),
  i32: (type: number, v: number): Attr => ({ type, value: i32b(v) }),
  /** NUL-terminated string. */
  str: (type: number, s: string): Attr => ({ type, value: Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]) }),
  bytes: (type: number, b: Buffer): Attr => ({ type, value: b }),
  flag: (type: number): Attr => ({ type, value: Buffer.alloc(0) }),
  ip: (type: number, address: string): Attr => ({ type, value: encodeIp(address) }),
  mac: (type: number, mac: string): Attr => ({ type, value: encodeMac(mac) }),
  nest: (type: number, children: Attr[]): Attr => ({ type, value: children }),
};

function attrLength(a: Attr): number {
  const payload = Array.isArray(a.value) ? attrsLength(a.value) : a.value.length;
  return NLA_HDRLEN + payload;
}
function attrsLength(attrs: Attr[]): number {
  let n = 0;
  for (const a of attrs) n += align4(attrLength(a));
  return n;
}
function writeAttrs(attrs: Attr[], buf: Buffer, offset: number): number {
  for (const a of attrs) {
    const len = attrLength(a);
    buf.writeUInt16LE(len, offset);
    buf.writeUInt16LE(a.type, offset + 2);
    if (Array.isArray(a.value)) writeAttrs(a.value, buf, offset + NLA_HDRLEN);
    else a.value.copy(buf, offset + NLA_HDRLEN);
    offset += align4(len);
  }
  return offset;
}

/** Encodes attributes back to back, each padded to 4 bytes. */
export function encodeAttrs(attrs: Attr[]): Buffer {
  const buf = Buffer.alloc(attrsLength(attrs));
  writeAttrs(attrs, buf, 0);
  return buf;
}

/** Decoded attributes: type (flags masked off) → value; a repeated type keeps every value in `all`. */
export class AttrSet {
  private readonly map = new Map<number, Buffer[]>();

  constructor(buf: Buffer, start = 0, end = buf.length) {
    let off = start;
    while (off + NLA_HDRLEN <= end) {
      const len = buf.readUInt16LE(off);
      const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
      if (len < NLA_HDRLEN || off + len > end) break; // malformed tail: stop, as the kernel's nla_for_each does
      const value = buf.subarray(off + NLA_HDRLEN, off + len);
      const list = this.map.get(type);
      if (list) list.push(value);
      else this.map.set(type, [value]);
      off += align4(len);
    }
  }

  has(type: number): boolean {
    return this.map.has(type);
  }
  get(type: number): Buffer | undefined {
    return this.map.get(type)?.[0];
  }
  all(type: number): Buffer[] {
    return this.map.get(type) ?? [];
  }
  types(): number[] {
    return [...this.map.keys()];
  }
  u8(type: number): number | undefined {
    const b = this.get(type);
    return b && b.length >= 1 ? b.readUInt8(0) : undefined;
  }
  u16(type: number): number | undefined {
    const b = this.get(type);
    return b && b.length >= 2 ? b.readUInt16LE(0) : undefined;
  }
  be16(type: number): number | undefined {
    const b = this.get(type);
    return b && b.length >= 2 ? b.readUInt16BE(0) : undefined;
  }
  u32(type: number): number | undefined {
    const b = this.get(type);
    return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
  }
  i32(type: number): number | undefined {
    const b = this.get(type);
    return b && b.length >= 4 ? b.readInt32LE(0) : undefined;
  }
  str(type: number): string | undefined {
    const b = this.get(type);
    if (!b) return undefined;
    const nul = b.indexOf(0);
    return b.toString('utf8', 0, nul < 0 ? b.length : nul);
  }
  ip(type: number): string | undefined {
    const b = this.get(type);
    return b && (b.length === 4 || b.length === 16) ? decodeIp(b) : undefined;
  }
  mac(type: number): string | undefined {
    const b = this.get(type);
    return b && b.length > 0 ? decodeMac(b) : undefined;
  }
  nested(type: number): AttrSet | undefined {
    const b = this.get(type);
    return b ? new AttrSet(b) : undefined;
  }
}

// ---------------------------------------------------------------- messages

export interface NlHeader {
  type: number;
  flags: number;
  seq: number;
  /** Sender port id (0 from the kernel). */
  pid: number;
}

export interface NlMessage extends NlHeader {
  /** Bytes after the 16-byte header, up to nlmsg_len. */
  payload: Buffer;
}

/** Encodes one message: header + fixed body (a struct such as ifinfomsg) + attributes. */
export function encodeMessage(h: NlHeader, body: Buffer, attrs: Attr[] = []): Buffer {
  const bodyLen = align4(body.length);
  const len = NLMSG_HDRLEN + bodyLen + attrsLength(attrs);
  const buf = Buffer.alloc(len);
  buf.writeUInt32LE(len, 0);
  buf.writeUInt16LE(h.type, 4);
  buf.writeUInt16LE(h.flags, 6);
  buf.writeUInt32LE(h.seq >>> 0, 8);
  buf.writeUInt32LE(h.pid >>> 0, 12);
  body.copy(buf, NLMSG_HDRLEN);
  writeAttrs(attrs, buf, NLMSG_HDRLEN + bodyLen);
  return buf;
}

/** Splits a datagram into its messages. A truncated or malformed tail ends the list. */
export function decodeMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

// ---------------------------------------------------------------- values

/** IPv4 or IPv6 text → 4 or 16 bytes (network order). Throws InvalidError. */
export function encodeIp(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map((p) => Number(p)));
  if (isIPv6(address)) return encodeIpv6(address);
  throw new InvalidError(`not an IP address: ${JSON.stringify(address)}`);
}

function encodeIpv6(address: string): Buffer {
  let text = address;
  const out = Buffer.alloc(16);
  let tail: number[] = [];
  // dotted IPv4 suffix (::ffff:1.2.3.4)
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = last.split('.').map((p) => Number(p));
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (s: string | undefined): number[] => (s ? s.split(':').filter((x) => x !== '').map((x) => parseInt(x, 16)) : []);
  let groups: number[];
  if (rest === undefined) {
    groups = parse(head);
  } else {
    const a = parse(head);
    const b = parse(rest);
    groups = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  }
  if (tail.length) groups.splice(groups.length - 2, 2, ...tail);
  groups = groups.slice(0, 8);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** 4 or 16 bytes → text (IPv6 in RFC 5952 form, as `ip` prints it). */
export function decodeIp(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new InvalidError(`IP address of ${b.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(i * 2));
  // IPv4-mapped
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** `aa:bb:cc:dd:ee:ff` → 6 bytes. Throws InvalidError. */
export function encodeMac(mac: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw new InvalidError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
}

/** Bytes → `aa:bb:…` (lower case). */
export function decodeMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** `10.244.1.0/24` → { address, prefixLen }. Throws InvalidError. */
export function splitCidr(cidr: string): { address: string; prefixLen: number } {
  const slash = cidr.indexOf('/');
  if (slash < 0) throw new InvalidError(`not a CIDR: ${JSON.stringify(cidr)}`);
  const address = cidr.slice(0, slash);
  const prefixLen = Number(cidr.slice(slash + 1));
  const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : -1;
  if (max < 0 || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) {
    throw new InvalidError(`not a CIDR: ${JSON.stringify(cidr)}`);
  }
  return { address, prefixLen };
}

export function ipFamily(address: string): 4 | 6 {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  throw new InvalidError(`not an IP address: ${JSON.stringify(address)}`);
}
