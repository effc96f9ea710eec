// Choosing a free subnet for a node: pure, so the controller's compare-and-swap
// loop and the tests share it.
import { InvalidError, FlotillaError } from '../../api/index.js';
import { cidrContainsCidr, formatCidr, parseCidr, type Cidr } from '../cidr.js';
import type { NetworkConfig } from './types.js';

export class SubnetPoolExhaustedError extends FlotillaError {
  constructor(network: string, subnetLen: number, count: number) {
    super('Unavailable', `no free /${subnetLen} subnet left in ${network}: all ${count} are leased`, {
      details: { network, subnetLen },
    });
  }
}

export function validateNetworkConfig(cfg: NetworkConfig): void {
  const net = parseCidr(cfg.network, 'cluster CIDR');
  const causes = [];
  if (!Number.isInteger(cfg.subnetLen) || cfg.subnetLen <= net.prefix || cfg.subnetLen > 30) {
    causes.push({ field: 'subnetLen', reason: 'FieldValueInvalid', message: `must be between ${net.prefix + 1} and 30, got ${cfg.subnetLen}` });
  }
  if (!Number.isInteger(cfg.backend.vni) || cfg.backend.vni < 1 || cfg.backend.vni > 0xffffff) {
    causes.push({ field: 'backend.vni', reason: 'FieldValueInvalid', message: `must be 1..16777215, got ${cfg.backend.vni}` });
  }
  if (!Number.isInteger(cfg.backend.port) || cfg.backend.port < 1 || cfg.backend.port > 65535) {
    causes.push({ field: 'backend.port', reason: 'FieldValueInvalid', message: `must be 1..65535, got ${cfg.backend.port}` });
  }
  if (causes.length > 0) {
    throw new InvalidError(`network config is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, causes);
  }
}

/**
 * The first free subnet of the pool, skipping the pool's first subnet (its `.0`
 * network address reads like the whole cluster's) unless nothing else is left.
 * `taken` holds subnets in `a.b.c.d/len` form.
 */
export function pickFreeSubnet(cfg: NetworkConfig, taken: Iterable<string>): string {
  const net = parseCidr(cfg.network, 'cluster CIDR');
  const size = 2 ** (32 - cfg.subnetLen);
  const count = 2 ** (cfg.subnetLen - net.prefix);
  const used = new Set<number>();
  for (const t of taken) {
    const c = parseCidr(t, 'leased subnet');
    if (cidrContainsCidr(net, c)) used.add(c.base);
  }
  const order = count > 1 ? [...Array(count - 1).keys()].map((i) => i + 1).concat([0]) : [0];
  for (const i of order) {
    const base = (net.base + i * size) >>> 0;
    if (!used.has(base)) return formatCidr({ base, prefix: cfg.subnetLen });
  }
  throw new SubnetPoolExhaustedError(cfg.network, cfg.subnetLen, count);
}

export function subnetGateway(subnet: string): string {
  const c = parseCidr(subnet, 'subnet');
  return formatCidr({ base: c.base + 1, prefix: 32 }).replace(/\/32$/, '');
}

export function subnetNetworkAddress(subnet: string): string {
  return formatCidr({ base: parseCidr(subnet, 'subnet').base, prefix: 32 }).replace(/\/32$/, '');
}

export type { Cidr };
