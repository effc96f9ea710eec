// What the endpoints controller decides, pure: from a Service and the pods its
// selector matches, the endpoints Kubernetes' EndpointSlice controller would
// publish (podToEndpoint, FindPort, ShouldSetHostname), how they are packed
// into slices of at most 100 while moving as few endpoints as possible
// between slices, and the legacy Endpoints object mirrored for old clients.
// Table-tested in test/unit/endpoints-plan.test.ts.
import type { Endpoint, EndpointAddress, EndpointPort, EndpointSlice, EndpointSlicePort, EndpointSubset, Pod, Service, ServicePort } from '../../api/index.js';

export const MANAGED_BY = 'endpointslice-controller.k8s.io';
export const MAX_ENDPOINTS_PER_SLICE = 100;
/** Legacy Endpoints hold at most this many addresses (Kubernetes truncates, with an annotation). */
export const MAX_ENDPOINTS_ADDRESSES = 1000;
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

export function isPodReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** Kubernetes' ShouldPodBeInEndpoints: an IP, not finished; a terminating pod only where asked. */
export function podIsEndpoint(p: Pod, includeTerminating: boolean): boolean {
  if (!p.status?.podIP) return false;
  const phase = p.status.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  if (p.metadata.deletionTimestamp && !includeTerminating) return false;
  return true;
}

/** The pod port a service port points at (Kubernetes' FindPort): a number as it is, a name among the containers' ports of that protocol. */
export function findPort(pod: Pod, sp: ServicePort): number | undefined {
  const target = sp.targetPort ?? sp.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const proto = sp.protocol ?? 'TCP';
  for (const c of pod.spec.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === proto) return p.containerPort;
  }
  return undefined;
}

/** A pod's endpoint ports for the Service: one per service port the pod can serve. */
export function endpointPorts(svc: Service, pod: Pod): EndpointSlicePort[] {
  const out: EndpointSlicePort[] = [];
  for (const sp of svc.spec.ports ?? []) {
    const port = findPort(pod, sp);
    if (port === undefined) continue;
    out.push({ name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
  }
  return out;
}

/** Kubernetes' podToEndpoint. */
export function podEndpoint(svc: Service, pod: Pod): Endpoint {
  const serving = isPodReady(pod);
  const terminating = pod.metadata.deletionTimestamp !== undefined;
  // never ready while terminating, unless the Service publishes not-ready addresses
  const ready = svc.spec.publishNotReadyAddresses === true || (serving && !terminating);
  const ep: Endpoint = {
    addresses: [pod.status!.podIP!],
    conditions: { ready, serving, terminating },
    targetRef: { kind: 'Pod', namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
  };
  if (pod.spec.nodeName) ep.nodeName = pod.spec.nodeName;
  if (pod.spec.hostname && pod.spec.subdomain === svc.metadata.name && pod.metadata.namespace === svc.metadata.namespace) ep.hostname = pod.spec.hostname;
  return ep;
}

/** Endpoints grouped by their port list: each group goes into slices of its own. */
export interface EndpointGroup {
  ports: EndpointSlicePort[];
  endpoints: Endpoint[];
}

const portsKey = (ports: readonly EndpointSlicePort[]) =>
  JSON.stringify([...ports].map((p) => [p.name ?? '', p.protocol ?? 'TCP', p.port ?? 0, p.appProtocol ?? '']).sort());
const endpointKey = (e: Endpoint) => `${e.targetRef?.uid ?? ''}/${e.addresses.join(',')}`;

/** The endpoints the Service's pods give, grouped by port list, in a stable order. */
export function desiredGroups(svc: Service, pods: readonly Pod[]): EndpointGroup[] {
  const groups = new Map<string, EndpointGroup>();
  const sorted = [...pods].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const pod of sorted) {
    if (!podIsEndpoint(pod, true)) continue;
    const ports = endpointPorts(svc, pod);
    // a pod that serves none of several named ports is left out; a Service without ports keeps every pod
    if (ports.length === 0 && (svc.spec.ports ?? []).length > 0) continue;
    const k = portsKey(ports);
    const g = groups.get(k) ?? { ports, endpoints: [] };
    g.endpoints.push(podEndpoint(svc, pod));
    groups.set(k, g);
  }
  return [...groups.values()];
}

/** What to do with the Service's managed slices. */
export interface SlicePlan {
  create: { ports: EndpointSlicePort[]; endpoints: Endpoint[] }[];
  update: { slice: EndpointSlice; ports: EndpointSlicePort[]; endpoints: Endpoint[] }[];
  delete: EndpointSlice[];
}

const endpointsEqual = (a: readonly Endpoint[], b: readonly Endpoint[]) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Packs the desired groups into the existing slices: an endpoint stays in the
 * slice that has it (updated in place when its conditions change), new ones
 * fill slices with room before a new slice is made, slices left empty go. A
 * Service without endpoints keeps one empty placeholder slice, as Kubernetes.
 */
export function planSlices(groups: readonly EndpointGroup[], existing: readonly EndpointSlice[], max = MAX_ENDPOINTS_PER_SLICE): SlicePlan {
  const plan: SlicePlan = { create: [], update: [], delete: [] };
  const byPorts = new Map<string, EndpointSlice[]>();
  for (const s of [...existing].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))) {
    const k = portsKey(s.ports ?? []);
    byPorts.set(k, [...(byPorts.get(k) ?? []), s]);
  }
  const used = new Set<EndpointSlice>();
  for (const g of groups) {
    const slices = byPorts.get(portsKey(g.ports)) ?? [];
    const want = new Map(g.endpoints.map((e) => [endpointKey(e), e]));
    const placed = new Set<string>();
    const contents = new Map<EndpointSlice, Endpoint[]>();
    for (const s of slices) {
      const kept: Endpoint[] = [];
      for (const e of s.endpoints ?? []) {
        const k = endpointKey(e);
        const d = want.get(k);
        if (!d || placed.has(k) || kept.length >= max) continue;
        kept.push(d);
        placed.add(k);
      }
      contents.set(s, kept);
    }
    const fresh = g.endpoints.filter((e) => !placed.has(endpointKey(e)));
    // fill the fullest slices with room first, so fewer slices stay partly empty
    const withRoom = [...contents.entries()].filter(([, eps]) => eps.length > 0 && eps.length < max).sort((a, b) => b[1].length - a[1].length);
    for (const [, eps] of withRoom) while (eps.length < max && fresh.length > 0) eps.push(fresh.shift()!);
    // then empty existing slices, then new ones
    for (const [, eps] of contents) if (eps.length === 0) while (eps.length < max && fresh.length > 0) eps.push(fresh.shift()!);
    for (let i = 0; i < fresh.length; i += max) plan.create.push({ ports: g.ports, endpoints: fresh.slice(i, i + max) });
    for (const [s, eps] of contents) {
      if (eps.length === 0) continue;
      used.add(s);
      if (!endpointsEqual(s.endpoints ?? [], eps) || portsKey(s.ports ?? []) !== portsKey(g.ports) || JSON.stringify(s.ports ?? []) !== JSON.stringify(g.ports)) {
        plan.update.push({ slice: s, ports: g.ports, endpoints: eps });
      }
    }
  }
  const leftover = existing.filter((s) => !used.has(s));
  const hasEndpoints = plan.create.length > 0 || used.size > 0;
  if (!hasEndpoints) {
    // the placeholder: one empty slice without ports
    const keep = leftover.find((s) => (s.endpoints ?? []).length === 0 && (s.ports ?? []).length === 0) ?? leftover[0];
    if (keep) {
      if ((keep.endpoints ?? []).length > 0 || (keep.ports ?? []).length > 0) plan.update.push({ slice: keep, ports: [], endpoints: [] });
      plan.delete.push(...leftover.filter((s) => s !== keep));
    } else {
      plan.create.push({ ports: [], endpoints: [] });
    }
    return plan;
  }
  plan.delete.push(...leftover);
  return plan;
}

/** The legacy Endpoints subsets (Kubernetes' endpoints controller, repacked by port set). */
export function desiredSubsets(svc: Service, pods: readonly Pod[]): { subsets: EndpointSubset[]; truncated: boolean } {
  const tolerateUnready = svc.spec.publishNotReadyAddresses === true;
  const bySet = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  let total = 0;
  let truncated = false;
  const sorted = [...pods].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const pod of sorted) {
    if (!podIsEndpoint(pod, tolerateUnready)) continue;
    const ports = endpointPorts(svc, pod).map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port!, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }));
    if (ports.length === 0 && (svc.spec.ports ?? []).length > 0) continue;
    if (total >= MAX_ENDPOINTS_ADDRESSES) {
      truncated = true;
      break;
    }
    total++;
    const addr: EndpointAddress = {
      ip: pod.status!.podIP!,
      ...(pod.spec.hostname && pod.spec.subdomain === svc.metadata.name ? { hostname: pod.spec.hostname } : {}),
      ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
    };
    const k = JSON.stringify(ports.map((p) => [p.name ?? '', p.protocol, p.port]).sort());
    const set = bySet.get(k) ?? { ports: [...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port), ready: [], notReady: [] };
    if (tolerateUnready || (isPodReady(pod) && !pod.metadata.deletionTimestamp)) set.ready.push(addr);
    else set.notReady.push(addr);
    bySet.set(k, set);
  }
  const byIP = (a: EndpointAddress, b: EndpointAddress) => a.ip.localeCompare(b.ip, undefined, { numeric: true });
  const subsets: EndpointSubset[] = [];
  for (const s of [...bySet.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v)) {
    subsets.push({
      ...(s.ready.length > 0 ? { addresses: s.ready.sort(byIP) } : {}),
      ...(s.notReady.length > 0 ? { notReadyAddresses: s.notReady.sort(byIP) } : {}),
      ...(s.ports.length > 0 ? { ports: s.ports } : {}),
    });
  }
  return { subsets, truncated };
}
