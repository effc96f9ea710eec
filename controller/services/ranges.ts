// The arithmetic of Service allocations, pure: which addresses of the service
// CIDR and which ports of the NodePort range may be handed out, and in which
// order they are tried. As Kubernetes (ServiceIPStaticSubrange), the low end
// of each range is a "static" band kept for explicit requests (the
// `kubernetes` Service's .1, kube-dns's .10, a user's `clusterIP: 10.96.0.20`):
// dynamic allocation starts from a random offset in the upper band and falls
// back to the static band only when the upper band is full.
import { cidrContains, formatIPv4, parseCidr, parseIPv4, type Cidr } from '../../netplugin/cidr.js';

/** A range of integers [first, last] with the first `staticSize` kept for explicit requests. */
export interface Band {
  first: number;
  last: number;
  staticSize: number;
}

/** Kubernetes' static band of a service CIDR: min(max(16, size/16), 256) addresses. */
export function ipBand(cidr: Cidr): Band {
  const size = 2 ** (32 - cidr.prefix);
  // the network address and (for ranges of 4 or more) the broadcast address are never handed out
  const first = cidr.base + (size > 2 ? 1 : 0);
  const last = cidr.base + size - 1 - (size > 2 ? 1 : 0);
  const usable = last - first + 1;
  return { first, last, staticSize: Math.min(usable, Math.min(Math.max(16, Math.floor(usable / 16)), 256)) };
}

/** Kubernetes' static band of a NodePort range: min(max(16, size/32), 128) ports. */
export function portBand(min: number, max: number): Band {
  const size = max - min + 1;
  return { first: min, last: max, staticSize: Math.min(size, Math.min(Math.max(16, Math.floor(size / 32)), 128)) };
}

/**
 * The order in which dynamic allocation tries the band: every value of the
 * upper band once, starting at `random` (0 ≤ random < 1) and wrapping, then the
 * static band the same way. A generator, so a nearly empty range costs one step.
 */
export function* candidates(b: Band, random: number): Generator<number> {
  const upperFirst = b.first + b.staticSize;
  for (const [lo, hi] of [
    [upperFirst, b.last],
    [b.first, upperFirst - 1],
  ] as const) {
    const n = hi - lo + 1;
    if (n <= 0) continue;
    const start = Math.floor(random * n) % n;
    for (let i = 0; i < n; i++) yield lo + ((start + i) % n);
  }
}

/** The service CIDR as the allocator uses it (an IPv4 CIDR of at least 8 addresses, like kube-apiserver's minimum /29). */
export function parseServiceCidr(s: string): Cidr {
  const c = parseCidr(s, 'service CIDR');
  if (c.prefix > 29) throw new Error(`service CIDR ${s} is too small: at least a /29 is needed`);
  return c;
}

/** Why an explicitly requested IP cannot be had, in kube-apiserver's words; undefined when it is in range. */
export function ipOutOfRange(cidr: Cidr, ip: string): string | undefined {
  let n: number;
  try {
    n = parseIPv4(ip);
  } catch {
    return `failed to allocate IP ${ip}: not a valid IPv4 address`;
  }
  const b = ipBand(cidr);
  if (!cidrContains(cidr, n) || n < b.first || n > b.last) {
    return `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${formatIPv4(cidr.base)}/${cidr.prefix}`;
  }
  return undefined;
}

/** Why a requested NodePort cannot be had, in kube-apiserver's words; undefined when it is in range. */
export function portOutOfRange(min: number, max: number, port: number): string | undefined {
  if (port < min || port > max) return `provided port is not in the valid range. The range of valid ports is ${min}-${max}`;
  return undefined;
}

/** `30000-32767` → [30000, 32767]; throws naming the flag's value. */
export function parsePortRange(s: string): { min: number; max: number } {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(s.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1 || max > 65535 || min > max) throw new Error(`invalid NodePort range "${s}": expected MIN-MAX within 1-65535`);
  return { min, max };
}
