// IPv4 addresses and CIDR blocks as 32-bit numbers: the arithmetic behind subnet
// leases and host-local IPAM.
import { BadRequestError } from '../api/index.js';

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseIPv4(s: string, what = 'IPv4 address'): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) throw new BadRequestError(`invalid ${what} "${s}"`);
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) throw new BadRequestError(`invalid ${what} "${s}"`);
    n = n * 256 + o;
  }
  return n >>> 0;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function parseCidr(s: string, what = 'CIDR'): Cidr {
  const [ip, len, extra] = s.trim().split('/');
  const prefix = Number(len);
  if (extra !== undefined || ip === undefined || len === undefined || !/^\d{1,2}$/.test(len) || prefix > 32) {
    throw new BadRequestError(`invalid ${what} "${s}": expected a.b.c.d/len`);
  }
  let addr: number;
  try {
    addr = parseIPv4(ip, what);
  } catch {
    throw new BadRequestError(`invalid ${what} "${s}"`);
  }
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) throw new BadRequestError(`invalid ${what} "${s}": host bits set (network is ${formatIPv4(base)}/${prefix})`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.base);
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContainsCidr(a, b) || cidrContainsCidr(b, a);
}

/** The key form used in etcd and file names: `10.244.3.0-24`. */
export function cidrKey(c: Cidr): string {
  return `${formatIPv4(c.base)}-${c.prefix}`;
}

export function parseCidrKey(key: string): Cidr {
  return parseCidr(key.replace(/-(\d+)$/, '/$1'), 'subnet key');
}
