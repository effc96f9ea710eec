// What the service proxy plans from: every Service port as this node sees it,
// already normalized from Services and EndpointSlices (the agent builds it; the
// planner never looks at API kinds), plus the node itself. Checking and endpoint
// choice live here so the planner only has to turn decisions into rules.
import { InvalidError } from '../../api/index.js';
import { parseCidr, parseIPv4 } from '../cidr.js';

export type ServiceProtocol = 'TCP' | 'UDP' | 'SCTP';

/** One endpoint of a Service port (an EndpointSlice entry with its resolved target port). */
export interface ProxyEndpoint {
  ip: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** The node the endpoint runs on ('' when the slice does not say). */
  nodeName: string;
}

/** One port of one Service. */
export interface ProxyServicePort {
  namespace: string;
  name: string;
  /** The Service port's name ('' for a single unnamed port). */
  portName: string;
  protocol: ServiceProtocol;
  /** Absent for headless and ExternalName Services: they get no rules at all. */
  clusterIP?: string;
  port: number;
  nodePort?: number;
  loadBalancerIPs?: string[];
  /** sessionAffinity ClientIP with this timeout; absent: no affinity. */
  sessionAffinityTimeoutSeconds?: number;
  internalTrafficLocal: boolean;
  externalTrafficLocal: boolean;
  endpoints: ProxyEndpoint[];
}

export interface ProxyNode {
  nodeName: string;
  /** The cluster's pod CIDR: traffic from outside it to a ClusterIP is masqueraded. */
  clusterCIDR: string;
  /** This node's pod subnet: its pods reaching a Local NodePort are treated as cluster traffic. */
  podSubnet: string;
}

/** `namespace/name:portName/PROTO`, how logs and errors name a Service port. */
export function servicePortKey(s: Pick<ProxyServicePort, 'namespace' | 'name' | 'portName' | 'protocol'>): string {
  return `${s.namespace}/${s.name}${s.portName ? `:${s.portName}` : ''}/${s.protocol}`;
}

const PROTOCOLS: readonly ServiceProtocol[] = ['TCP', 'UDP', 'SCTP'];
/** DNS-1123 labels (namespace, Service name) and IANA service names (port name) as the API allows them. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PORT_NAME = /^$|^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;
/** The longest sessionAffinityConfig.clientIP.timeoutSeconds the API accepts (one day). */
const MAX_AFFINITY_SECONDS = 86400;

function fail(svc: ProxyServicePort | undefined, field: string, msg: string): never {
  const who = svc ? `service port ${svc.namespace}/${svc.name}:${svc.portName}` : 'node';
  throw new InvalidError(`${who}: ${field}: ${msg}`, [{ field, message: msg, reason: 'FieldValueInvalid' }]);
}

function checkPort(svc: ProxyServicePort, field: string, v: unknown): void {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) fail(svc, field, `Invalid value: ${JSON.stringify(v)}: must be between 1 and 65535, inclusive`);
}

function checkIP(svc: ProxyServicePort | undefined, field: string, v: unknown): void {
  try {
    if (typeof v !== 'string') throw new Error('not a string');
    parseIPv4(v);
    if (!/^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/.test(v)) throw new Error('leading zeros');
  } catch {
    fail(svc, field, `Invalid value: ${JSON.stringify(v)}: must be a valid IPv4 address`);
  }
}

/** Throws an InvalidError naming the first field nft would misread or the API would refuse. */
export function validateProxyInput(services: readonly ProxyServicePort[], node: ProxyNode): void {
  for (const [field, v] of [['clusterCIDR', node.clusterCIDR], ['podSubnet', node.podSubnet]] as const) {
    try {
      parseCidr(v, field);
    } catch {
      fail(undefined, field, `Invalid value: ${JSON.stringify(v)}: must be a valid IPv4 CIDR`);
    }
  }
  const seen = new Set<string>();
  for (const s of services) {
    if (!DNS_LABEL.test(s.namespace)) fail(s, 'metadata.namespace', `Invalid value: ${JSON.stringify(s.namespace)}: must be a DNS-1123 label`);
    if (!DNS_LABEL.test(s.name)) fail(s, 'metadata.name', `Invalid value: ${JSON.stringify(s.name)}: must be a DNS-1123 label`);
    if (typeof s.portName !== 'string' || !PORT_NAME.test(s.portName)) fail(s, 'spec.ports[].name', `Invalid value: ${JSON.stringify(s.portName)}: must be an IANA_SVC_NAME`);
    if (!PROTOCOLS.includes(s.protocol)) fail(s, 'spec.ports[].protocol', `Unsupported value: ${JSON.stringify(s.protocol)}: supported values: "SCTP", "TCP", "UDP"`);
    const key = servicePortKey(s);
    if (seen.has(key)) fail(s, 'spec.ports[].name', `Duplicate value: ${JSON.stringify(s.portName)}`);
    seen.add(key);
    if (s.clusterIP !== undefined) checkIP(s, 'spec.clusterIP', s.clusterIP);
    checkPort(s, 'spec.ports[].port', s.port);
    if (s.nodePort !== undefined) checkPort(s, 'spec.ports[].nodePort', s.nodePort);
    (s.loadBalancerIPs ?? []).forEach((ip, i) => checkIP(s, `status.loadBalancer.ingress[${i}].ip`, ip));
    const t = s.sessionAffinityTimeoutSeconds;
    if (t !== undefined && (!Number.isInteger(t) || t < 1 || t > MAX_AFFINITY_SECONDS)) {
      fail(s, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', `Invalid value: ${JSON.stringify(t)}: must be greater than 0 and less than ${MAX_AFFINITY_SECONDS + 1}`);
    }
    s.endpoints.forEach((e, i) => {
      checkIP(s, `endpoints[${i}].addresses[0]`, e.ip);
      checkPort(s, `endpoints[${i}].port`, e.port);
    });
  }
}

function dedupe(eps: ProxyEndpoint[]): ProxyEndpoint[] {
  const seen = new Set<string>();
  return eps.filter((e) => {
    const k = `${e.ip}:${e.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * The endpoints new connections may go to, as kube-proxy picks them: the ready
 * ones; when none is ready, the ones still serving while terminating (so a
 * rolling update that takes every old pod down at once does not black-hole
 * traffic until the new ones are ready). Sorted by address, so the plan is stable.
 */
export function usableEndpoints(eps: readonly ProxyEndpoint[]): ProxyEndpoint[] {
  const ready = eps.filter((e) => e.ready);
  const chosen = ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
  return dedupe(chosen).sort(byAddress);
}

function byAddress(a: ProxyEndpoint, b: ProxyEndpoint): number {
  return parseIPv4(a.ip) - parseIPv4(b.ip) || a.port - b.port;
}

/** The endpoints for cluster-wide traffic and for node-local traffic (Local policies), each with the fallback above. */
export function categorizeEndpoints(s: ProxyServicePort, nodeName: string): { cluster: ProxyEndpoint[]; local: ProxyEndpoint[] } {
  return {
    cluster: usableEndpoints(s.endpoints),
    local: usableEndpoints(s.endpoints.filter((e) => e.nodeName === nodeName)),
  };
}
