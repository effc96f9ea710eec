// The Services part of the cluster config: the service CIDR and the NodePort
// range, chosen at `init` (state dir) and stored once in etcd, so every
// controller replica allocates from the same ranges whatever its own state
// dir says: the first replica to start writes it, the others read it.
//   /flotilla/network/service-config    {config: {serviceCIDR, nodePortRange}}
// (beside the pod network's config: never under /flotilla/services/, where a
// list of Services across namespaces would read it as one)
import type { Etcd3 } from 'etcd3';
import { BadRequestError, UnavailableError } from '../../api/index.js';
import { cidrOverlaps, formatIPv4, parseCidr, type Cidr } from '../../netplugin/cidr.js';
import { parsePortRange, parseServiceCidr } from './ranges.js';

export const SERVICES_CONFIG_KEY = '/flotilla/network/service-config';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
export const DEFAULT_NODE_PORT_RANGE = '30000-32767';

export interface ServicesConfig {
  serviceCIDR: string;
  nodePortRange: string;
}

/** The parsed form the allocator takes. */
export interface ServiceRanges {
  cidr: Cidr;
  nodePorts: { min: number; max: number };
  /** The `kubernetes` Service's address: the first of the CIDR, as kube-apiserver. */
  kubernetesIP: string;
  /** kube-dns's address: the tenth, as kubeadm. */
  dnsIP: string;
}

/** Checks a config (and that the service CIDR does not overlap the pod network); throws naming the bad value. */
export function parseServicesConfig(c: ServicesConfig, podNetwork?: string): ServiceRanges {
  let cidr: Cidr;
  try {
    cidr = parseServiceCidr(c.serviceCIDR);
  } catch (e) {
    throw new BadRequestError(`invalid service CIDR: ${(e as Error).message}`);
  }
  if (podNetwork && cidrOverlaps(cidr, parseCidr(podNetwork))) {
    throw new BadRequestError(`the service CIDR ${c.serviceCIDR} overlaps the pod network ${podNetwork}`);
  }
  let nodePorts: { min: number; max: number };
  try {
    nodePorts = parsePortRange(c.nodePortRange);
  } catch (e) {
    throw new BadRequestError((e as Error).message);
  }
  return { cidr, nodePorts, kubernetesIP: formatIPv4(cidr.base + 1), dnsIP: formatIPv4(cidr.base + 10) };
}

/** Stores CFG unless a config is stored already; returns the one in force. */
export async function ensureServicesConfig(etcd: Etcd3, cfg: ServicesConfig): Promise<ServicesConfig> {
  const obj = { apiVersion: 'flotilla.io/v1', kind: 'ServicesConfig', metadata: { name: 'config' }, config: cfg };
  const r = await etcd.if(SERVICES_CONFIG_KEY, 'Create', '==', 0).then(etcd.put(SERVICES_CONFIG_KEY).value(JSON.stringify(obj))).commit();
  if (r.succeeded) return cfg;
  const raw = await etcd.get(SERVICES_CONFIG_KEY).string();
  try {
    const stored = (JSON.parse(raw ?? '') as { config: ServicesConfig }).config;
    parseServicesConfig(stored);
    return stored;
  } catch (e) {
    throw new UnavailableError(`the services config in etcd (${SERVICES_CONFIG_KEY}) is malformed: ${(e as Error).message}`);
  }
}
