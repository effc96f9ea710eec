// Defaulting: fills the fields Kubernetes fills before validation, so stored
// objects are complete and clients see what kubectl users expect. Runs on
// untrusted bodies before validation: it only touches fields whose shape is
// right and leaves garbage for validation to report. Never mutates its input.
import type { KubeObject } from './meta.js';
import type { Container, Pod, PullPolicy } from './types.js';
import { deepClone, isPlainObject } from './helpers.js';
import { lookupResource } from './resources.js';
import { tryParseQuantity } from './quantity.js';

export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
export const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30;
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';

type Obj = Record<string, unknown>;

/**
 * The pull policy Kubernetes picks when none is given: `Always` for `:latest`
 * or an untagged reference, `IfNotPresent` for any other tag or a digest.
 */
export function defaultPullPolicy(image: string): PullPolicy {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) return 'Always';
  return lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Returns a defaulted copy of `obj` (any registered kind; unknown kinds only get copied). */
export function defaultObject<T>(obj: T): T {
  const copy = deepClone(obj);
  if (!isPlainObject(copy)) return copy;
  const out: Obj = copy;
  const res = typeof out.kind === 'string' ? lookupResource(out.kind) : undefined;
  if (!res || res.kind !== out.kind) return copy;
  if (res.namespaced) {
    if (out.metadata === undefined) out.metadata = {};
    const md = out.metadata;
    if (isPlainObject(md) && (md.namespace === undefined || md.namespace === '')) md.namespace = DEFAULT_NAMESPACE;
  }
  switch (res.kind) {
    case 'Pod':
      defaultPod(out);
      break;
    case 'Namespace':
      defaultNamespace(out);
      break;
    case 'Event':
      defaultEvent(out);
      break;
    default:
      break;
  }
  return copy;
}

function defaultPod(pod: Obj): void {
  const spec = pod.spec;
  if (isPlainObject(spec)) {
    spec.restartPolicy ??= 'Always';
    spec.terminationGracePeriodSeconds ??= DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS;
    spec.dnsPolicy ??= 'ClusterFirst';
    spec.schedulerName ??= DEFAULT_SCHEDULER_NAME;
    const hostNetwork = spec.hostNetwork === true;
    for (const key of ['containers', 'initContainers'] as const) {
      const list = spec[key];
      if (!Array.isArray(list)) continue;
      for (const c of list) if (isPlainObject(c)) defaultContainer(c, hostNetwork);
    }
    if (Array.isArray(spec.volumes)) {
      for (const v of spec.volumes) {
        if (!isPlainObject(v)) continue;
        // a volume without a source is an emptyDir, as in Kubernetes
        if (Object.keys(v).every((k) => k === 'name')) v.emptyDir = {};
        if (isPlainObject(v.hostPath)) v.hostPath.type ??= '';
      }
    }
    if (Array.isArray(spec.tolerations)) {
      for (const t of spec.tolerations) {
        // an empty key with no operator means "tolerate everything"
        if (isPlainObject(t) && t.operator === undefined) t.operator = t.key === undefined || t.key === '' ? 'Exists' : 'Equal';
      }
    }
  }
  if (pod.status === undefined) pod.status = {};
  const status = pod.status;
  if (isPlainObject(status)) {
    status.phase ??= 'Pending';
    if (isPlainObject(spec) && status.qosClass === undefined) {
      const qos = qosClassOf(pod as unknown as Pod);
      if (qos) status.qosClass = qos;
    }
  }
}

function defaultContainer(c: Obj, hostNetwork: boolean): void {
  if (typeof c.image === 'string' && c.image !== '') c.imagePullPolicy ??= defaultPullPolicy(c.image);
  c.terminationMessagePath ??= DEFAULT_TERMINATION_MESSAGE_PATH;
  c.terminationMessagePolicy ??= 'File';
  if (Array.isArray(c.ports)) {
    for (const p of c.ports) {
      if (!isPlainObject(p)) continue;
      p.protocol ??= 'TCP';
      if (hostNetwork && p.hostPort === undefined && typeof p.containerPort === 'number') p.hostPort = p.containerPort;
    }
  }
  if (c.resources === undefined) c.resources = {};
  const res = c.resources;
  if (isPlainObject(res)) {
    for (const k of ['requests', 'limits'] as const) {
      // JSON numbers (`cpu: 1`) become canonical quantity strings
      const list = res[k];
      if (!isPlainObject(list)) continue;
      for (const [name, v] of Object.entries(list)) {
        if (typeof v === 'number') {
          const q = tryParseQuantity(v);
          if (q) list[name] = q.toString();
        }
      }
    }
    // a resource with only a limit requests its limit
    if (isPlainObject(res.limits)) {
      const limits = res.limits;
      if (res.requests === undefined) res.requests = {};
      if (isPlainObject(res.requests)) {
        const requests = res.requests;
        for (const [name, v] of Object.entries(limits)) if (requests[name] === undefined) requests[name] = v;
        if (Object.keys(requests).length === 0) delete res.requests;
      }
    }
  }
}

function defaultNamespace(ns: Obj): void {
  if (ns.status === undefined) ns.status = {};
  if (isPlainObject(ns.status)) ns.status.phase ??= 'Active';
}

function defaultEvent(ev: Obj): void {
  // involvedObject.namespace follows the event's namespace when omitted
  const md = ev.metadata;
  const ref = ev.involvedObject;
  if (isPlainObject(md) && isPlainObject(ref) && ref.namespace === undefined && ref.kind !== 'Node' && ref.kind !== 'Namespace') {
    if (typeof md.namespace === 'string') ref.namespace = md.namespace;
  }
  ev.type ??= 'Normal';
}

/**
 * The pod's QoS class as Kubernetes computes it: Guaranteed when every container
 * has cpu and memory limits equal to its requests, BestEffort when none sets any
 * request or limit, Burstable otherwise. Undefined when the spec is malformed.
 */
export function qosClassOf(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' | undefined {
  const containers = [...(Array.isArray(pod.spec?.containers) ? pod.spec.containers : []), ...(Array.isArray(pod.spec?.initContainers) ? pod.spec.initContainers : [])];
  if (containers.length === 0) return undefined;
  let any = false;
  let guaranteed = true;
  for (const c of containers as Container[]) {
    if (!isPlainObject(c)) return undefined;
    const limits = isPlainObject(c.resources?.limits) ? c.resources!.limits! : {};
    const requests = { ...limits, ...(isPlainObject(c.resources?.requests) ? c.resources!.requests! : {}) };
    for (const name of ['cpu', 'memory']) {
      const l = tryParseQuantity(limits[name]);
      const r = tryParseQuantity(requests[name]);
      if ((l && !l.isZero()) || (r && !r.isZero())) any = true;
      if (!l || !r || !l.equals(r)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** Object types the defaulting knows about, for callers that want the static type back. */
export type Defaultable = KubeObject;
