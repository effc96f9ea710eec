// `describe` layouts of Services, Endpoints and EndpointSlices, kubectl 1.33's.
// A Service's Endpoints line is read from its EndpointSlices (the slices
// labelled kubernetes.io/service-name), as kubectl 1.33 does, not from the
// legacy Endpoints object. Pure functions of (object, slices, events, now).
import { formatLabelMap, type EndpointSlice, type Endpoints, type Event, type Service } from '../../api/index.js';
import { annotationLines, eventsSection, Lines, mapLines } from './describe.js';
import { DESCRIBE_TABS, tabwrite } from './tabwriter.js';

/** At most this many addresses on an Endpoints line, then ` + N more...`. */
const MAX_LISTED = 3;

/**
 * kubectl keeps the padding of a cell whose line ends in an empty cell
 * (`Endpoints:` with no ready endpoint), so lines are not trimmed here.
 */
function untrimmedText(out: Lines): string {
  return tabwrite(out.lines, DESCRIBE_TABS).join('\n') + '\n';
}

function joinHostPort(ip: string, port: number | undefined): string {
  const p = String(port ?? 0);
  return ip.includes(':') ? `[${ip}]:${p}` : `${ip}:${p}`;
}

/** A slice endpoint counts as ready unless its ready condition is false (nil means unknown, taken as ready). */
const isReady = (e: EndpointSlice['endpoints'][number]): boolean => e.conditions?.ready !== false;

/**
 * The Endpoints line of one Service port (`portName`), or of every port
 * (undefined): ready addresses with the slice port, the first three, then
 * ` + N more...`. kubectl notices "more" when it reaches a fourth endpoint
 * even if that one is not ready, and so may print ` + 0 more...`; kept as is.
 */
export function sliceEndpointsText(slices: readonly EndpointSlice[], portName?: string): string {
  if (slices.length === 0) return '<none>';
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const s of slices) {
    const endpoints = s.endpoints ?? [];
    const ports = s.ports ?? [];
    if (ports.length === 0) {
      // a headless Service may have no ports: bare addresses
      for (const e of endpoints) {
        if (list.length === MAX_LISTED) more = true;
        if (!isReady(e)) continue;
        if (!more) list.push(e.addresses[0] ?? '');
        count++;
      }
      continue;
    }
    for (const p of ports) {
      if (portName !== undefined && (p.name ?? '') !== portName) continue;
      for (const e of endpoints) {
        if (list.length === MAX_LISTED) more = true;
        if (!isReady(e)) continue;
        if (!more) list.push(joinHostPort(e.addresses[0] ?? '', p.port ?? undefined));
        count++;
      }
    }
  }
  const text = list.join(',');
  return more ? `${text} + ${count - MAX_LISTED} more...` : text;
}

/** `10.0.0.1 (VIP), lb.example.com`: each ingress point, with its ipMode when set. */
function ingressText(svc: Service): string {
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  return ingress.map((i) => `${i.ip || i.hostname || ''}${i.ipMode ? ` (${i.ipMode})` : ''}`).join(', ');
}

function servicePortLines(out: Lines, svc: Service, slices: readonly EndpointSlice[]): void {
  for (const p of svc.spec.ports ?? []) {
    const name = p.name || '<unset>';
    const proto = p.protocol ?? '';
    out.add(0, 'Port:', name, `${p.port}/${proto}`);
    // an unset targetPort is the port itself (the server's default; a client-built object may lack it)
    out.add(0, 'TargetPort:', `${p.targetPort ?? p.port}/${proto}`);
    if (p.nodePort) out.add(0, 'NodePort:', name, `${p.nodePort}/${proto}`);
    out.add(0, 'Endpoints:', sliceEndpointsText(slices, p.name ?? ''));
  }
}

/** Spec fields Flotilla refuses today but a stored object might carry; kubectl prints them when set. */
type ServiceSpecExtras = {
  externalIPs?: string[];
  loadBalancerIP?: string;
  healthCheckNodePort?: number;
  loadBalancerSourceRanges?: string[];
  trafficDistribution?: string;
};

export function describeService(svc: Service, slices: readonly EndpointSlice[], events: Event[], now: number): string {
  const out = new Lines();
  const m = svc.metadata;
  const spec = (svc.spec ?? {}) as Service['spec'] & ServiceSpecExtras;
  out.add(0, 'Name:', m.name ?? '');
  out.add(0, 'Namespace:', m.namespace ?? '');
  mapLines(out, 0, 'Labels', m.labels);
  annotationLines(out, 0, m.annotations);
  out.add(0, 'Selector:', formatLabelMap(spec.selector));
  out.add(0, 'Type:', spec.type ?? '');
  if (spec.ipFamilyPolicy) out.add(0, 'IP Family Policy:', spec.ipFamilyPolicy);
  out.add(0, 'IP Families:', spec.ipFamilies?.length ? spec.ipFamilies.join(',') : '<none>');
  out.add(0, 'IP:', spec.clusterIP ?? '');
  out.add(0, 'IPs:', spec.clusterIPs?.length ? spec.clusterIPs.join(',') : '<none>');
  if (spec.externalIPs?.length) out.add(0, 'External IPs:', spec.externalIPs.join(','));
  // kubectl labels the requested load balancer address `IP:` too
  if (spec.loadBalancerIP) out.add(0, 'IP:', spec.loadBalancerIP);
  if (spec.externalName) out.add(0, 'External Name:', spec.externalName);
  if (svc.status?.loadBalancer?.ingress?.length) out.add(0, 'LoadBalancer Ingress:', ingressText(svc));
  servicePortLines(out, { ...svc, spec }, slices);
  out.add(0, 'Session Affinity:', spec.sessionAffinity ?? '');
  if (spec.externalTrafficPolicy) out.add(0, 'External Traffic Policy:', spec.externalTrafficPolicy);
  if (spec.internalTrafficPolicy) out.add(0, 'Internal Traffic Policy:', spec.internalTrafficPolicy);
  if (spec.healthCheckNodePort) out.add(0, 'HealthCheck NodePort:', String(spec.healthCheckNodePort));
  if (spec.loadBalancerSourceRanges?.length) out.add(0, 'LoadBalancer Source Ranges:', spec.loadBalancerSourceRanges.join(','));
  if (spec.trafficDistribution) out.add(0, 'Traffic Distribution:', spec.trafficDistribution);
  out.lines.push(...eventsSection(events, now));
  return untrimmedText(out);
}

/** The legacy Endpoints: each subset's ready and not-ready addresses and its ports, a blank line after each. */
export function describeEndpoints(ep: Endpoints, events: Event[], now: number): string {
  const out = new Lines();
  out.add(0, 'Name:', ep.metadata.name ?? '');
  out.add(0, 'Namespace:', ep.metadata.namespace ?? '');
  mapLines(out, 0, 'Labels', ep.metadata.labels);
  annotationLines(out, 0, ep.metadata.annotations);
  out.add(0, 'Subsets:');
  for (const subset of ep.subsets ?? []) {
    const ips = (list: { ip: string }[] | undefined) => (list ?? []).map((a) => a.ip).join(',') || '<none>';
    out.add(1, 'Addresses:', ips(subset.addresses));
    out.add(1, 'NotReadyAddresses:', ips(subset.notReadyAddresses));
    const ports = subset.ports ?? [];
    if (ports.length > 0) {
      out.add(1, 'Ports:');
      out.add(2, 'Name', 'Port', 'Protocol');
      out.add(2, '----', '----', '--------');
      for (const p of ports) out.add(2, p.name || '<unset>', String(p.port), p.protocol ?? '');
    }
    out.lines.push('');
  }
  out.lines.push(...eventsSection(events, now));
  return untrimmedText(out);
}

export function describeEndpointSlice(slice: EndpointSlice, events: Event[], now: number): string {
  const out = new Lines();
  out.add(0, 'Name:', slice.metadata.name ?? '');
  out.add(0, 'Namespace:', slice.metadata.namespace ?? '');
  mapLines(out, 0, 'Labels', slice.metadata.labels);
  annotationLines(out, 0, slice.metadata.annotations);
  out.add(0, 'AddressType:', slice.addressType ?? '');
  const ports = slice.ports ?? [];
  if (ports.length === 0) out.lines.push('Ports: <unset>');
  else {
    out.add(0, 'Ports:');
    out.add(1, 'Name', 'Port', 'Protocol');
    out.add(1, '----', '----', '--------');
    for (const p of ports) out.add(1, p.name || '<unset>', p.port === undefined || p.port === null ? '<unset>' : String(p.port), p.protocol ?? '');
  }
  const endpoints = slice.endpoints ?? [];
  if (endpoints.length === 0) out.lines.push('Endpoints: <none>');
  else {
    out.add(0, 'Endpoints:');
    for (const e of endpoints) {
      out.add(1, '- Addresses:', e.addresses.join(', ') || '<none>');
      out.add(2, 'Conditions:');
      out.add(3, 'Ready:', e.conditions?.ready === undefined || e.conditions.ready === null ? '<unset>' : String(e.conditions.ready));
      out.add(2, 'Hostname:', e.hostname ?? '<unset>');
      if (e.targetRef) out.add(2, 'TargetRef:', `${e.targetRef.kind ?? ''}/${e.targetRef.name ?? ''}`);
      out.add(2, 'NodeName:', e.nodeName ?? '<unset>');
      out.add(2, 'Zone:', e.zone ?? '<unset>');
    }
  }
  out.lines.push(...eventsSection(events, now));
  return untrimmedText(out);
}
