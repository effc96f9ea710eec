// Service (core/v1): a stable name, and (unless headless or ExternalName) a
// virtual IP, in front of the pods a selector picks. The ClusterIP and NodePort
// allocators fill clusterIP(s) and nodePorts after this file's defaults; the
// endpoints controller, the service proxy and the cluster DNS read the result.
// Defaults (SetDefaults_Service), validation wording and field paths
// (ValidateService, ValidateServiceUpdate), the strategy (status reset on
// create, clusterIP/clusterIPs kept in step, fields of a former type dropped)
// and the printer are kube-apiserver's and kubectl's. `type: LoadBalancer`
// behaves as NodePort, with status.loadBalancer holding the node IPs.
import { isIP } from 'node:net';
import type { KubeObject } from '../meta.js';
import type { IntOrString, Protocol } from '../types.js';
import { deepClone, isPlainObject, jsonEqual } from '../helpers.js';
import { ANY, column, defineKind, fieldPath } from '../kind.js';
import { age } from '../printers/age.js';
import { dns1123LabelErrors, dns1123SubdomainErrors, portNameErrors } from '../validation-rules.js';
import { FieldErrors, bool, int, obj, objItems, str, stringArray, stringMap, validateLabels } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { INVALID_IP_MESSAGE, PORT_RANGE_MESSAGE, validateAppProtocol, validatePortNumber, validateProtocol } from './endpoints.js';

type Obj = Record<string, unknown>;

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type IPFamily = 'IPv4' | 'IPv6';
export type IPFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

export interface ServicePort {
  /** Required (a DNS-1123 label) when the Service has more than one port. */
  name?: string;
  protocol?: Protocol;
  appProtocol?: string;
  port: number;
  /** A number, or the name of a container port; defaults to `port`. */
  targetPort?: IntOrString;
  /** NodePort and LoadBalancer Services: allocated from 30000–32767 when absent. */
  nodePort?: number;
}

export interface ServiceSpec {
  ports?: ServicePort[];
  selector?: Record<string, string>;
  /** "" (allocate), "None" (headless) or an IPv4 address. */
  clusterIP?: string;
  clusterIPs?: string[];
  type?: ServiceType;
  sessionAffinity?: 'None' | 'ClientIP';
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  externalName?: string;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy?: 'Cluster' | 'Local';
  publishNotReadyAddresses?: boolean;
  ipFamilies?: IPFamily[];
  ipFamilyPolicy?: IPFamilyPolicy;
  allocateLoadBalancerNodePorts?: boolean;
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ipMode?: 'VIP' | 'Proxy';
}

export interface ServiceStatus {
  loadBalancer?: { ingress?: LoadBalancerIngress[] };
}

export interface Service extends KubeObject {
  apiVersion?: 'v1';
  kind?: 'Service';
  spec: ServiceSpec;
  status?: ServiceStatus;
}

export const SERVICE_TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
export const CLUSTER_IP_NONE = 'None';
/** The annotation of a Service every node's agent answers itself (kube-dns): no proxy rules are programmed for it. */
export const NODE_LOCAL_ANNOTATION = 'flotilla.io/served-by';
export const NODE_LOCAL_VALUE = 'node-agent';
/** kube-apiserver's default and largest ClientIP affinity timeout, in seconds. */
export const DEFAULT_CLIENT_IP_TIMEOUT_SECONDS = 10800;
export const MAX_CLIENT_IP_TIMEOUT_SECONDS = 86400;

const SESSION_AFFINITIES = ['ClientIP', 'None'] as const;
const TRAFFIC_POLICIES = ['Cluster', 'Local'] as const;
const IP_FAMILIES = ['IPv4', 'IPv6'] as const;
const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'] as const;
/** The one family Flotilla's service CIDR has (a single IPv4 range chosen at init). */
const CLUSTER_IP_FAMILIES: readonly IPFamily[] = ['IPv4'];

/**
 * Spec fields Kubernetes defines that Flotilla does not carry out: nothing is
 * accepted and dropped, so each is refused with a Forbidden cause naming it.
 * externalIPs and the loadBalancer* fields need an address Flotilla does not
 * own (a LoadBalancer answers on the node IPs); healthCheckNodePort belongs to
 * an external load balancer's health checks; trafficDistribution needs zones,
 * which Flotilla's nodes do not have. A field leaves this list in the change
 * that makes it work.
 */
export const UNSUPPORTED_SERVICE_SPEC_FIELDS: readonly string[] = [
  'externalIPs',
  'loadBalancerIP',
  'loadBalancerSourceRanges',
  'loadBalancerClass',
  'healthCheckNodePort',
  'trafficDistribution',
];

const NOT_SUPPORTED = 'not supported by Flotilla';

// ---------------------------------------------------------------- predicates

const specOf = (o: Obj): Obj => (isPlainObject(o.spec) ? o.spec : {});
const typeOf = (spec: Obj): unknown => spec.type;
const clusterIPsOf = (spec: Obj): unknown[] => (Array.isArray(spec.clusterIPs) ? spec.clusterIPs : []);
const portsOf = (spec: Obj): Obj[] => (Array.isArray(spec.ports) ? spec.ports.filter(isPlainObject) : []);

/** Headless: clusterIPs is exactly ["None"] (the strategy copies clusterIP into it). */
export function isHeadlessService(svc: { spec?: unknown }): boolean {
  const ips = isPlainObject(svc.spec) ? clusterIPsOf(svc.spec) : [];
  return ips.length === 1 && ips[0] === CLUSTER_IP_NONE;
}

const needsClusterIP = (spec: Obj): boolean => typeOf(spec) !== 'ExternalName';
const needsNodePort = (spec: Obj): boolean => typeOf(spec) === 'NodePort' || typeOf(spec) === 'LoadBalancer';
/** Reachable from outside the cluster (kube-apiserver's ExternallyAccessible, without externalIPs). */
const externallyAccessible = needsNodePort;

function isSet(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

// ---------------------------------------------------------------- defaults

/** SetDefaults_Service, plus clusterIPs taken from a lone clusterIP (as the strategy does on create). */
function defaultService(o: Obj): void {
  if (o.spec === undefined || o.spec === null) o.spec = {};
  const spec = o.spec;
  if (!isPlainObject(spec)) return;
  if (spec.sessionAffinity === undefined || spec.sessionAffinity === null || spec.sessionAffinity === '') spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP') {
    const cfg = spec.sessionAffinityConfig;
    const clientIP = isPlainObject(cfg) ? cfg.clientIP : undefined;
    const timeout = isPlainObject(clientIP) ? clientIP.timeoutSeconds : undefined;
    if (timeout === undefined || timeout === null) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: DEFAULT_CLIENT_IP_TIMEOUT_SECONDS } };
  }
  if (spec.type === undefined || spec.type === null || spec.type === '') spec.type = 'ClusterIP';
  for (const p of portsOf(spec)) {
    if (p.protocol === undefined || p.protocol === null || p.protocol === '') p.protocol = 'TCP';
    const unset = p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '';
    // a port of the wrong type is validation's to report, not to copy
    if (unset && typeof p.port === 'number') p.targetPort = p.port;
  }
  if (externallyAccessible(spec) && (spec.externalTrafficPolicy === undefined || spec.externalTrafficPolicy === null || spec.externalTrafficPolicy === '')) {
    spec.externalTrafficPolicy = 'Cluster';
  }
  if ((spec.internalTrafficPolicy === undefined || spec.internalTrafficPolicy === null) && (spec.type === 'ClusterIP' || spec.type === 'NodePort' || spec.type === 'LoadBalancer')) {
    spec.internalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer' && (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null)) {
    spec.allocateLoadBalancerNodePorts = true;
  }
  if (typeof spec.clusterIP === 'string' && spec.clusterIP !== '' && clusterIPsOf(spec).length === 0) spec.clusterIPs = [spec.clusterIP];
}

// ---------------------------------------------------------------- strategy

/**
 * Kubernetes' NormalizeClusterIPs on update: guess what a client that knows
 * only one of clusterIP / clusterIPs meant, so the two stay in step.
 */
function normalizeClusterIPsOnUpdate(spec: Obj, oldSpec: Obj): void {
  const oldIPs = clusterIPsOf(oldSpec);
  // an old client patched something else and sent no clusterIPs
  if (oldIPs.length > 0 && clusterIPsOf(spec).length === 0 && (oldSpec.clusterIP ?? '') === (spec.clusterIP ?? '')) spec.clusterIPs = deepClone(oldIPs);
  if ((oldSpec.clusterIP ?? '') === (spec.clusterIP ?? '')) return;
  if (!jsonEqual(oldIPs, clusterIPsOf(spec))) return; // both changed: validation judges
  if (typeof oldSpec.clusterIP === 'string' && oldSpec.clusterIP !== '' && (spec.clusterIP === undefined || spec.clusterIP === '')) delete spec.clusterIPs;
  else spec.clusterIPs = [spec.clusterIP];
}

/**
 * Kubernetes' patchAllocatedValues: an update that leaves out what the
 * allocators filled in (kubectl replace of the original manifest) keeps it.
 */
function keepAllocatedValues(spec: Obj, oldSpec: Obj): void {
  if (needsClusterIP(oldSpec) && needsClusterIP(spec)) {
    if ((spec.clusterIP === undefined || spec.clusterIP === '') && oldSpec.clusterIP !== undefined) spec.clusterIP = oldSpec.clusterIP;
    if (clusterIPsOf(spec).length === 0 && clusterIPsOf(oldSpec).length > 0) spec.clusterIPs = deepClone(oldSpec.clusterIPs);
  }
  if (!needsNodePort(oldSpec) || !needsNodePort(spec)) return;
  const nodePorts = (s: Obj) => new Set(portsOf(s).map((p) => p.nodePort).filter((n) => typeof n === 'number' && n !== 0));
  const stillUsed = new Set([...nodePorts(oldSpec)].filter((n) => nodePorts(spec).has(n)));
  // matched by port name: the user may have changed anything else about the port
  const byName = new Map(portsOf(oldSpec).map((p) => [p.name ?? '', p.nodePort]));
  for (const p of portsOf(spec)) {
    if (p.nodePort !== undefined && p.nodePort !== null && p.nodePort !== 0) continue;
    const old = byName.get(p.name ?? '');
    if (typeof old === 'number' && old !== 0 && !stillUsed.has(old)) p.nodePort = old;
  }
}

/**
 * Kubernetes' dropTypeDependentFields: a type change clears what only the old
 * type used (and what the user did not also change, which validation judges).
 */
function dropTypeDependentFields(o: Obj, spec: Obj, oldSpec: Obj): void {
  if (needsClusterIP(oldSpec) && !needsClusterIP(spec)) {
    if ((oldSpec.clusterIP ?? '') === (spec.clusterIP ?? '') && jsonEqual(clusterIPsOf(oldSpec), clusterIPsOf(spec))) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (jsonEqual(oldSpec.ipFamilies, spec.ipFamilies)) delete spec.ipFamilies;
    if ((oldSpec.ipFamilyPolicy ?? '') === (spec.ipFamilyPolicy ?? '')) delete spec.ipFamilyPolicy;
  }
  if (needsNodePort(oldSpec) && !needsNodePort(spec)) {
    const old = new Set(portsOf(oldSpec).map((p) => p.nodePort));
    // only when no net-new nodePort was asked for
    if (portsOf(spec).every((p) => !p.nodePort || old.has(p.nodePort))) for (const p of portsOf(spec)) delete p.nodePort;
  }
  if (typeOf(oldSpec) === 'LoadBalancer' && typeOf(spec) !== 'LoadBalancer') {
    if (typeof spec.allocateLoadBalancerNodePorts === 'boolean' && spec.allocateLoadBalancerNodePorts === oldSpec.allocateLoadBalancerNodePorts) delete spec.allocateLoadBalancerNodePorts;
  }
  if (externallyAccessible(oldSpec) && !externallyAccessible(spec) && spec.externalTrafficPolicy === oldSpec.externalTrafficPolicy) delete spec.externalTrafficPolicy;
  // the load balancer's addresses go with the type
  if (typeOf(spec) !== 'LoadBalancer' && isPlainObject(o.status)) o.status.loadBalancer = {};
}

function prepareForCreate(o: Obj): void {
  o.status = { loadBalancer: {} };
  const spec = specOf(o);
  if (typeof spec.clusterIP === 'string' && spec.clusterIP !== '' && clusterIPsOf(spec).length === 0) spec.clusterIPs = [spec.clusterIP];
}

function prepareForUpdate(next: Obj, old: Obj): void {
  next.status = old.status === undefined ? { loadBalancer: {} } : deepClone(old.status);
  if (!isPlainObject(next.spec)) return;
  const oldSpec = specOf(old);
  keepAllocatedValues(next.spec, oldSpec);
  normalizeClusterIPsOnUpdate(next.spec, oldSpec);
  dropTypeDependentFields(next, next.spec, oldSpec);
}

// ---------------------------------------------------------------- validation

const DNS1035_LABEL_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1035 label (Service names: they become DNS labels and env var prefixes, so no leading digit). */
export function dns1035LabelErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1035_LABEL_RE.test(v)) {
    errs.push(
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    );
  }
  return errs;
}

/** validateServicePort: name, port, protocol, targetPort, appProtocol of one port. */
function validateServicePort(e: FieldErrors, sp: Obj, p: string, requireName: boolean, names: Set<string>): void {
  const name = str(e, sp, 'name', `${p}.name`);
  if (requireName && !name) e.required(`${p}.name`);
  else if (name) {
    e.rule(`${p}.name`, name, dns1123LabelErrors(name));
    if (names.has(name)) e.duplicate(`${p}.name`, name);
    names.add(name);
  }
  validatePortNumber(e, sp, 'port', `${p}.port`);
  validateProtocol(e, sp, `${p}.protocol`);
  validateTargetPort(e, sp, `${p}.targetPort`);
  validateAppProtocol(e, sp, `${p}.appProtocol`);
  int(e, sp, 'nodePort', `${p}.nodePort`);
}

/** ValidatePortNumOrName: a number 1–65535 or an IANA_SVC_NAME (a container port's name). */
function validateTargetPort(e: FieldErrors, sp: Obj, path: string): void {
  const v = sp.targetPort;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 1 || v > 65535) e.invalid(path, v, PORT_RANGE_MESSAGE);
  } else if (typeof v === 'string') {
    e.rule(path, v, portNameErrors(v));
  } else if (v !== undefined && v !== null) {
    e.wrongType(path, v, 'an integer');
  }
}

/** validateClientIPAffinityConfig: ClientIP affinity needs a timeout in 1..86400. */
function validateClientIPAffinity(e: FieldErrors, spec: Obj): void {
  const p = 'spec.sessionAffinityConfig';
  const detail = 'when session affinity type is ClientIP';
  // a value of the wrong type was reported by obj(); only an absent one is missing
  const cfg = obj(e, spec, 'sessionAffinityConfig', p);
  if (!cfg) {
    if (!isSet(spec.sessionAffinityConfig)) e.required(p, detail);
    return;
  }
  const clientIP = obj(e, cfg, 'clientIP', `${p}.clientIP`);
  if (!clientIP) {
    if (!isSet(cfg.clientIP)) e.required(`${p}.clientIP`, detail);
    return;
  }
  const t = int(e, clientIP, 'timeoutSeconds', `${p}.clientIP.timeoutSeconds`);
  if (t === undefined) {
    if (!isSet(clientIP.timeoutSeconds)) e.required(`${p}.clientIP.timeoutSeconds`, detail);
  } else if (t <= 0 || t > MAX_CLIENT_IP_TIMEOUT_SECONDS) {
    e.invalid(`${p}.clientIP.timeoutSeconds`, t, `must be greater than 0 and less than ${MAX_CLIENT_IP_TIMEOUT_SECONDS}`);
  }
}

function validateSessionAffinity(e: FieldErrors, spec: Obj): void {
  const sa = str(e, spec, 'sessionAffinity', 'spec.sessionAffinity');
  if (sa === undefined || sa === '') {
    if (!isSet(spec.sessionAffinity) || sa === '') e.required('spec.sessionAffinity');
    return;
  }
  if (!(SESSION_AFFINITIES as readonly string[]).includes(sa)) e.notSupported('spec.sessionAffinity', sa, SESSION_AFFINITIES);
  if (sa === 'ClientIP') validateClientIPAffinity(e, spec);
  else if (sa === 'None' && isSet(spec.sessionAffinityConfig)) e.forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None');
}

/** ValidateServiceClusterIPsRelatedFields: clusterIP and clusterIPs in step, valid, at most one per family. */
function validateClusterIPs(e: FieldErrors, spec: Obj): boolean {
  if (typeOf(spec) === 'ExternalName') return true;
  const clusterIP = str(e, spec, 'clusterIP', 'spec.clusterIP') ?? '';
  const ips = stringArray(e, spec, 'clusterIPs', 'spec.clusterIPs') ?? [];
  const families = stringArray(e, spec, 'ipFamilies', 'spec.ipFamilies') ?? [];
  if (clusterIP !== '') {
    if (ips.length === 0) e.required('spec.clusterIPs');
    else if (ips[0] !== clusterIP) e.invalid('spec.clusterIPs', ips, 'first value must match `clusterIP`');
  } else if (ips.length > 0) {
    e.invalid('spec.clusterIPs', ips, 'must be empty when `clusterIP` is not specified');
  }
  const seen = new Set<string>();
  families.forEach((f, i) => {
    if (!(IP_FAMILIES as readonly string[]).includes(f)) e.notSupported(`spec.ipFamilies[${i}]`, f, IP_FAMILIES);
    if (seen.has(f)) e.duplicate(`spec.ipFamilies[${i}]`, f);
    seen.add(f);
  });
  const policy = str(e, spec, 'ipFamilyPolicy', 'spec.ipFamilyPolicy');
  if (policy !== undefined && !(IP_FAMILY_POLICIES as readonly string[]).includes(policy)) e.notSupported('spec.ipFamilyPolicy', policy, IP_FAMILY_POLICIES);
  let badIPs = false;
  ips.forEach((ip, i) => {
    if (i === 0 && ip === CLUSTER_IP_NONE) {
      if (ips.length > 1) {
        badIPs = true;
        e.invalid('spec.clusterIPs', ips, "'None' must be the first and only value");
      }
      return;
    }
    if (isIP(ip) === 0) {
      badIPs = true;
      e.invalid(`spec.clusterIPs[${i}]`, ip, INVALID_IP_MESSAGE);
    }
  });
  if (ips.length > 2) e.invalid('spec.clusterIPs', ips, 'may only hold up to 2 values');
  if (badIPs) return false;
  if (ips.length > 1 && isIP(ips[0]!) === isIP(ips[1]!)) e.invalid('spec.clusterIPs', ips, 'may specify no more than one IP for each IP family');
  if (ips[0] !== CLUSTER_IP_NONE) {
    ips.forEach((ip, i) => {
      if (i >= families.length) return;
      const want = families[i] === 'IPv4' ? 4 : families[i] === 'IPv6' ? 6 : 0;
      if (want !== 0 && isIP(ip) !== want) e.invalid(`spec.clusterIPs[${i}]`, ip, `expected an ${families[i]} value as indicated by \`ipFamilies[${i}]\``);
    });
  }
  return true;
}

/**
 * What the ClusterIP allocator refuses on a single-stack IPv4 cluster, named
 * by field as kube-apiserver does: dual-stack demanded, or a family (asked for,
 * or implied by a clusterIP) the service CIDR does not have. A headless
 * Service without a selector gets no IPs, so any family is fine for it.
 */
function validateSingleStack(e: FieldErrors, spec: Obj): void {
  if (typeOf(spec) === 'ExternalName') return;
  if (isHeadlessService({ spec }) && !isSet(spec.selector)) return;
  if (spec.ipFamilyPolicy === 'RequireDualStack') e.invalid('spec.ipFamilyPolicy', 'RequireDualStack', 'this cluster is not configured for dual-stack services');
  const families = (Array.isArray(spec.ipFamilies) ? spec.ipFamilies : []).map(String);
  // a family not given is implied by the clusterIP at its place
  clusterIPsOf(spec).forEach((ip, i) => {
    if (i >= families.length && typeof ip === 'string' && ip !== CLUSTER_IP_NONE && isIP(ip) !== 0) families.push(isIP(ip) === 6 ? 'IPv6' : 'IPv4');
  });
  families.forEach((f, i) => {
    if ((IP_FAMILIES as readonly string[]).includes(f) && !(CLUSTER_IP_FAMILIES as readonly string[]).includes(f)) e.invalid(`spec.ipFamilies[${i}]`, f, 'not configured on this cluster');
  });
}

/** The rules of `type` itself and what depends on it (ExternalName, headless NodePorts, nodePort on ClusterIP). */
function validateTypeRules(e: FieldErrors, spec: Obj): void {
  const type = typeOf(spec);
  const headless = isHeadlessService({ spec });
  if ((type === 'LoadBalancer' || type === 'NodePort') && headless) {
    e.invalid('spec.clusterIPs[0]', CLUSTER_IP_NONE, `may not be set to 'None' for ${type} services`);
  }
  if (type === 'ExternalName') {
    if (clusterIPsOf(spec).length > 0) e.forbidden('spec.clusterIPs', 'may not be set for ExternalName services');
    if (isSet(spec.ipFamilies)) e.forbidden('spec.ipFamilies', 'may not be set for ExternalName services');
    if (isSet(spec.ipFamilyPolicy)) e.forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services');
    const name = str(e, spec, 'externalName', 'spec.externalName');
    // a CNAME may end in a dot to mark it fully qualified
    const cname = (name ?? '').replace(/\.$/, '');
    if (cname !== '') e.rule('spec.externalName', cname, dns1123SubdomainErrors(cname));
    else if (name !== undefined || !isSet(spec.externalName)) e.required('spec.externalName');
  }
}

function validateTypeValue(e: FieldErrors, spec: Obj): void {
  const type = str(e, spec, 'type', 'spec.type');
  if (type === '' || (type === undefined && !isSet(spec.type))) e.required('spec.type');
  else if (type !== undefined && !(SERVICE_TYPES as readonly string[]).includes(type)) e.notSupported('spec.type', type, SERVICE_TYPES);
}

/** nodePort only where a type allocates them; no (protocol, port) or (protocol, nodePort) twice. */
function validatePortUniqueness(e: FieldErrors, ports: [Obj, string][], type: unknown): void {
  if (type === 'ClusterIP') {
    for (const [p, pp] of ports) if (typeof p.nodePort === 'number' && p.nodePort !== 0) e.forbidden(`${pp}.nodePort`, "may not be used when `type` is 'ClusterIP'");
  }
  const nodePorts = new Set<string>();
  for (const [p, pp] of ports) {
    if (typeof p.nodePort !== 'number' || p.nodePort === 0) continue;
    const key = `${String(p.protocol)}/${p.nodePort}`;
    if (nodePorts.has(key)) e.duplicate(`${pp}.nodePort`, p.nodePort);
    nodePorts.add(key);
  }
  const seen = new Set<string>();
  for (const [p, pp] of ports) {
    const key = `${String(p.protocol)}/${String(p.port)}`;
    if (seen.has(key)) e.duplicate(pp, { port: p.port, protocol: p.protocol });
    seen.add(key);
  }
}

function validateTrafficPolicies(e: FieldErrors, spec: Obj): void {
  const etp = str(e, spec, 'externalTrafficPolicy', 'spec.externalTrafficPolicy');
  if (!externallyAccessible(spec)) {
    if (etp) e.invalid('spec.externalTrafficPolicy', etp, 'may only be set for externally-accessible services');
  } else if (!etp) {
    if (etp === '' || !isSet(spec.externalTrafficPolicy)) e.required('spec.externalTrafficPolicy');
  } else if (!(TRAFFIC_POLICIES as readonly string[]).includes(etp)) {
    e.notSupported('spec.externalTrafficPolicy', etp, TRAFFIC_POLICIES);
  }
  const itp = str(e, spec, 'internalTrafficPolicy', 'spec.internalTrafficPolicy');
  if (itp === undefined) {
    // not required of ExternalName: stored objects predate the check
    const type = typeOf(spec);
    if (!isSet(spec.internalTrafficPolicy) && (type === 'ClusterIP' || type === 'NodePort' || type === 'LoadBalancer')) e.required('spec.internalTrafficPolicy');
  } else if (!(TRAFFIC_POLICIES as readonly string[]).includes(itp)) {
    e.notSupported('spec.internalTrafficPolicy', itp, TRAFFIC_POLICIES);
  }
}

function validateLoadBalancerFields(e: FieldErrors, spec: Obj): void {
  const alloc = bool(e, spec, 'allocateLoadBalancerNodePorts', 'spec.allocateLoadBalancerNodePorts');
  if (alloc !== undefined && typeOf(spec) !== 'LoadBalancer') e.forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'");
  if (typeOf(spec) === 'LoadBalancer' && !isSet(spec.allocateLoadBalancerNodePorts)) e.required('spec.allocateLoadBalancerNodePorts');
}

/** ValidateLoadBalancerStatus: what the service controller writes into status.loadBalancer. */
function validateStatus(e: FieldErrors, o: Obj): void {
  const st = obj(e, o, 'status', 'status');
  const lb = st ? obj(e, st, 'loadBalancer', 'status.loadBalancer') : undefined;
  if (!lb) return;
  for (const [ing, p] of objItems(e, lb, 'ingress', 'status.loadBalancer.ingress')) {
    const ip = str(e, ing, 'ip', `${p}.ip`);
    if (ip && isIP(ip) === 0) e.invalid(`${p}.ip`, ip, 'must be a valid IP address');
    const hostname = str(e, ing, 'hostname', `${p}.hostname`);
    if (hostname) {
      e.rule(`${p}.hostname`, hostname, dns1123SubdomainErrors(hostname));
      if (isIP(hostname) !== 0) e.invalid(`${p}.hostname`, hostname, 'must be a DNS name, not an IP address');
    }
    const mode = str(e, ing, 'ipMode', `${p}.ipMode`);
    if (mode !== undefined) {
      if (!ip) e.forbidden(`${p}.ipMode`, 'may not be specified when `ip` is not');
      else if (mode !== 'VIP' && mode !== 'Proxy') e.notSupported(`${p}.ipMode`, mode, ['Proxy', 'VIP']);
    }
  }
}

function validateService(e: FieldErrors, o: Obj): void {
  const spec = obj(e, o, 'spec', 'spec', true);
  if (!spec) return;
  const ports = objItems(e, spec, 'ports', 'spec.ports');
  if (ports.length === 0 && !isHeadlessService({ spec }) && typeOf(spec) !== 'ExternalName') e.required('spec.ports');
  validateTypeRules(e, spec);
  const names = new Set<string>();
  for (const [sp, p] of ports) validateServicePort(e, sp, p, ports.length > 1, names);
  validateLabels(e, stringMap(e, spec, 'selector', 'spec.selector'), 'spec.selector');
  validateSessionAffinity(e, spec);
  if (validateClusterIPs(e, spec)) validateSingleStack(e, spec);
  validateTypeValue(e, spec);
  validatePortUniqueness(e, ports, typeOf(spec));
  validateLoadBalancerFields(e, spec);
  validateTrafficPolicies(e, spec);
  bool(e, spec, 'publishNotReadyAddresses', 'spec.publishNotReadyAddresses');
  for (const k of UNSUPPORTED_SERVICE_SPEC_FIELDS) if (isSet(spec[k]) && spec[k] !== 0 && spec[k] !== '') e.forbidden(`spec.${k}`, NOT_SUPPORTED);
  validateStatus(e, o);
}

/**
 * validateUpgradeDowngradeClusterIPs / IPFamilies: once allocated, the
 * primary clusterIP and ipFamily stay (a change to or from ExternalName
 * releases or allocates them instead).
 */
function validateServiceUpdate(e: FieldErrors, o: Obj, old: Obj): void {
  const spec = specOf(o);
  const oldSpec = specOf(old);
  if (typeOf(spec) === 'ExternalName' || typeOf(oldSpec) === 'ExternalName') return;
  const headless = isHeadlessService({ spec });
  const oldHeadless = isHeadlessService({ spec: oldSpec });
  if (!(headless && oldHeadless)) validateListChange(e, spec, oldSpec, 'clusterIPs', 'primary clusterIP can not be unset', 'secondary clusterIP');
  if (headless === oldHeadless && !headless) validateListChange(e, spec, oldSpec, 'ipFamilies', 'primary ipFamily can not be unset', 'secondary ipFamily');
}

/** One of the dual-stack lists on update: same length → unchanged; shorter → primary kept, SingleStack; longer → primary kept. */
function validateListChange(e: FieldErrors, spec: Obj, oldSpec: Obj, key: 'clusterIPs' | 'ipFamilies', unsetMessage: string, secondary: string): void {
  const cur = Array.isArray(spec[key]) ? (spec[key] as unknown[]) : [];
  const prev = Array.isArray(oldSpec[key]) ? (oldSpec[key] as unknown[]) : [];
  const path = `spec.${key}`;
  if (cur.length === prev.length) {
    prev.forEach((v, i) => {
      if (v !== cur[i]) e.invalid(key === 'clusterIPs' ? `${path}[${i}]` : `${path}[0]`, cur, 'may not change once set');
    });
  } else if (cur.length < prev.length) {
    if (cur.length === 0) e.invalid(`${path}[0]`, cur, unsetMessage);
    if (cur.length > 0 && cur[0] !== prev[0]) e.invalid(`${path}[0]`, cur, 'may not change once set');
    if (cur.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
      e.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, `must be set to 'SingleStack' when releasing the ${secondary}`);
    }
  } else if (prev.length > 0 && cur[0] !== prev[0]) {
    e.invalid(`${path}[0]`, cur, 'may not change once set');
  }
}

// ---------------------------------------------------------------- printer

/** kubectl's PORT(S) cell: `80/TCP`, `80:30080/TCP`, joined with `,`; `<none>` without ports. */
export function servicePortsCell(ports: readonly ServicePort[] | undefined): string {
  const list = (Array.isArray(ports) ? ports : []).map((p) => (typeof p.nodePort === 'number' && p.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol ?? ''}` : `${p.port}/${p.protocol ?? ''}`));
  return list.length === 0 ? '<none>' : list.join(',');
}

/** kubectl's EXTERNAL-IP cell: `<none>`, the externalName, the load balancer's addresses (sorted) or `<pending>`. */
export function serviceExternalIPCell(svc: Service): string {
  const spec = svc.spec ?? {};
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return '<none>';
    case 'LoadBalancer': {
      const ingress = Array.isArray(svc.status?.loadBalancer?.ingress) ? svc.status!.loadBalancer!.ingress! : [];
      const addrs = [...new Set(ingress.map((i) => i.ip || i.hostname || '').filter((a) => a !== ''))].sort();
      return addrs.length > 0 ? addrs.join(',') : '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
    default:
      return '<unknown>';
  }
}

/** A label map as kubectl formats one: `a=b,c=d` sorted by key; `<none>` when empty. */
export function formatLabelMap(m: Record<string, string> | undefined): string {
  const keys = isPlainObject(m) ? Object.keys(m).sort() : [];
  return keys.length === 0 ? '<none>' : keys.map((k) => `${k}=${m![k]}`).join(',');
}

function serviceCells(o: Obj, now: number): unknown[] {
  const svc = o as unknown as Service;
  const spec = isPlainObject(o.spec) ? (o.spec as ServiceSpec) : {};
  const ips = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
  return [
    svc.metadata?.name ?? '',
    spec.type ?? '',
    ips.length > 0 ? ips[0] : '<none>',
    serviceExternalIPCell({ ...svc, spec }),
    servicePortsCell(spec.ports),
    age(svc.metadata?.creationTimestamp, now),
    formatLabelMap(spec.selector),
  ];
}

const PORT_SCHEMA = { name: ANY, protocol: ANY, appProtocol: ANY, port: ANY, targetPort: ANY, nodePort: ANY };

export const serviceKind = defineKind(
  {
    group: '',
    version: 'v1',
    kind: 'Service',
    plural: 'services',
    shortNames: ['svc'],
    namespaced: true,
    categories: ['all'],
    subresources: ['status'],
    nameRule: dns1035LabelErrors,
    defaults: defaultService,
    validate: (e, o) => validateService(e, o),
    validateUpdate: validateServiceUpdate,
    schema: {
      spec: {
        ports: [PORT_SCHEMA],
        selector: ANY,
        clusterIP: ANY,
        clusterIPs: ANY,
        type: ANY,
        externalIPs: ANY,
        sessionAffinity: ANY,
        loadBalancerIP: ANY,
        loadBalancerSourceRanges: ANY,
        externalName: ANY,
        externalTrafficPolicy: ANY,
        healthCheckNodePort: ANY,
        publishNotReadyAddresses: ANY,
        sessionAffinityConfig: { clientIP: { timeoutSeconds: ANY } },
        ipFamilies: ANY,
        ipFamilyPolicy: ANY,
        allocateLoadBalancerNodePorts: ANY,
        loadBalancerClass: ANY,
        internalTrafficPolicy: ANY,
        trafficDistribution: ANY,
      },
      status: { loadBalancer: { ingress: [{ ip: ANY, hostname: ANY, ipMode: ANY, ports: ANY }] }, conditions: ANY },
    },
    // kube-apiserver serves these two besides metadata.name/namespace (kube-proxy skips headless Services with spec.clusterIP!=None)
    fieldLabels: { 'spec.clusterIP': fieldPath('spec', 'clusterIP'), 'spec.type': fieldPath('spec', 'type') },
    mergeKeys: { ports: 'port' },
    strategy: { prepareForCreate, prepareForUpdate },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Type'),
        column('Cluster-IP'),
        column('External-IP'),
        column('Port(s)'),
        column('Age'),
        column('Selector', { priority: 1 }),
      ],
      cells: serviceCells,
    },
  },
  FALLBACK,
);
