// The service proxy's input, built from what the agent's catalog holds: one
// ProxyServicePort per port of every Service that has a virtual IP, with its
// endpoints taken from the Service's EndpointSlices as kube-proxy reads them.
// Pure: the runner calls it on every change and hands the result to the
// netplugin/proxy planner, which never looks at API kinds.
import { isIPv4 } from 'node:net';
import { toFlotillaError, type Endpoint, type EndpointSlice, type Service, type ServicePort } from '../../api/index.js';
import { validateProxyInput, type ProxyEndpoint, type ProxyNode, type ProxyServicePort, type ServiceProtocol } from '../../netplugin/proxy/index.js';
import { NODE_LOCAL_ANNOTATION, NODE_LOCAL_VALUE, type ServiceCatalog } from './catalog.js';

/** Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

export interface SkippedService {
  /** `namespace/name`. */
  service: string;
  /** Why it has no rules: headless, ExternalName, node-local, or the field the planner refused. */
  reason: string;
  /** True when the Service is wrong (worth a warning), false when it simply needs no rules. */
  invalid: boolean;
}

export interface ProxyModel {
  ports: ProxyServicePort[];
  skipped: SkippedService[];
}

/** Why SVC gets no rules at all, or undefined when it gets them. */
export function noRulesReason(svc: Service): string | undefined {
  if (svc.metadata.annotations?.[NODE_LOCAL_ANNOTATION] === NODE_LOCAL_VALUE) return `annotated ${NODE_LOCAL_ANNOTATION}: ${NODE_LOCAL_VALUE} (answered by the node itself)`;
  if (svc.spec?.type === 'ExternalName') return 'type ExternalName (a DNS alias only)';
  const ip = svc.spec?.clusterIP;
  if (ip === 'None') return 'headless (clusterIP None)';
  if (!ip) return 'no clusterIP allocated yet';
  if (!isIPv4(ip)) return `clusterIP ${ip} is not IPv4 (the proxy is IPv4 only)`;
  return undefined;
}

/**
 * Every Service port with a ClusterIP, as the proxy plans them, from CATALOG
 * seen from NODE. A Service the planner would refuse is left out (and listed
 * in `skipped`) so that one bad object never holds back everyone else's rules.
 */
export function buildProxyModel(catalog: ServiceCatalog, node: ProxyNode): ProxyModel {
  const out: ProxyModel = { ports: [], skipped: [] };
  const services = [...catalog.services()].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  for (const svc of services) {
    const why = noRulesReason(svc);
    if (why) {
      out.skipped.push({ service: keyOf(svc), reason: why, invalid: false });
      continue;
    }
    const ports = servicePorts(svc, catalog.slicesFor(svc.metadata.namespace ?? '', svc.metadata.name ?? ''));
    try {
      validateProxyInput(ports, node);
    } catch (e) {
      out.skipped.push({ service: keyOf(svc), reason: toFlotillaError(e).message, invalid: true });
      continue;
    }
    out.ports.push(...ports);
  }
  return out;
}

/** The ProxyServicePorts of one Service with a ClusterIP. */
export function servicePorts(svc: Service, slices: readonly EndpointSlice[]): ProxyServicePort[] {
  const spec = svc.spec;
  const external = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  const lbIPs = spec.type === 'LoadBalancer' ? loadBalancerIPs(svc) : [];
  const affinity = spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS) : undefined;
  return (spec.ports ?? []).map((p) => {
    const protocol = (p.protocol ?? 'TCP') as ServiceProtocol;
    const sp: ProxyServicePort = {
      namespace: svc.metadata.namespace ?? '',
      name: svc.metadata.name ?? '',
      portName: p.name ?? '',
      protocol,
      clusterIP: spec.clusterIP!,
      port: p.port,
      internalTrafficLocal: spec.internalTrafficPolicy === 'Local',
      externalTrafficLocal: external && spec.externalTrafficPolicy === 'Local',
      endpoints: endpointsFor(p, protocol, slices),
    };
    if (external && p.nodePort) sp.nodePort = p.nodePort;
    if (lbIPs.length > 0) sp.loadBalancerIPs = lbIPs;
    if (affinity !== undefined) sp.sessionAffinityTimeoutSeconds = affinity;
    return sp;
  });
}

/** status.loadBalancer.ingress IPv4 addresses (ipMode Proxy ones are the load balancer's to answer, as kube-proxy leaves them). */
function loadBalancerIPs(svc: Service): string[] {
  const ips = (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i.ip && isIPv4(i.ip) && i.ipMode !== 'Proxy').map((i) => i.ip!);
  return [...new Set(ips)];
}

/**
 * The endpoints of one Service port: in every IPv4 slice, the slice port of the
 * same name and protocol gives the target port (the endpoints controller has
 * resolved named targetPorts per pod); a slice without that port contributes none.
 */
function endpointsFor(port: ServicePort, protocol: ServiceProtocol, slices: readonly EndpointSlice[]): ProxyEndpoint[] {
  const out: ProxyEndpoint[] = [];
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    const sp = (slice.ports ?? []).find((x) => (x.name ?? '') === (port.name ?? '') && (x.protocol ?? 'TCP') === protocol);
    if (!sp?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const e = endpointOf(ep, sp.port);
      if (e) out.push(e);
    }
  }
  return out;
}

/** One slice endpoint as the proxy sees it: its first address; unset conditions read as Kubernetes defines them. */
function endpointOf(ep: Endpoint, port: number): ProxyEndpoint | undefined {
  const ip = ep.addresses?.[0];
  if (!ip || !isIPv4(ip)) return undefined;
  const c = ep.conditions ?? {};
  // As kube-proxy reads them: ready and serving unset mean true (an unknown state counts as up), terminating unset means false.
  return { ip, port, ready: c.ready ?? true, serving: c.serving ?? true, terminating: c.terminating ?? false, nodeName: ep.nodeName ?? '' };
}

const keyOf = (s: Service) => `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`;
