// Small helpers over objects that several components need.
import type { KubeObject } from './meta.js';
import type { Container, ObjectReference, Pod, PodPhase, ResourceList } from './types.js';
import { tryParseQuantity } from './quantity.js';

/** A deep copy of plain JSON data (objects, arrays, primitives). */
export function deepClone<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => deepClone(x)) as unknown as T;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x !== undefined) out[k] = deepClone(x);
  }
  return out as T;
}

/** True for plain JSON objects (not arrays, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** An ObjectReference to `obj`, as events' involvedObject and bindings use. */
export function objectRef(obj: KubeObject): ObjectReference {
  const ref: ObjectReference = {};
  if (obj.kind) ref.kind = obj.kind;
  if (obj.metadata?.namespace) ref.namespace = obj.metadata.namespace;
  if (obj.metadata?.name) ref.name = obj.metadata.name;
  if (obj.metadata?.uid) ref.uid = obj.metadata.uid;
  if (obj.apiVersion) ref.apiVersion = obj.apiVersion;
  if (obj.metadata?.resourceVersion) ref.resourceVersion = obj.metadata.resourceVersion;
  return ref;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the usual cache and queue key. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata.name ?? ''}` : (obj.metadata?.name ?? '');
}

/** A pod in Succeeded or Failed will never run again. */
export function isTerminalPhase(phase: PodPhase | string | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

export interface PodResourceRequests {
  /** Requested CPU in millicores. */
  milliCPU: number;
  /** Requested memory in bytes. */
  memoryBytes: number;
}

function requestsOf(c: Container): ResourceList {
  // Kubernetes semantics: a resource with only a limit requests its limit.
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  return { ...limits, ...requests };
}

/**
 * What the scheduler reserves for a pod: the sum of its containers' requests,
 * or the largest init container request when that is higher (init containers
 * run one at a time, before the others). Unparseable values count as zero.
 */
export function podRequests(pod: Pod): PodResourceRequests {
  let milliCPU = 0;
  let memoryBytes = 0;
  for (const c of pod.spec?.containers ?? []) {
    const r = requestsOf(c);
    milliCPU += tryParseQuantity(r.cpu)?.toMilli() ?? 0;
    memoryBytes += tryParseQuantity(r.memory)?.toBytes() ?? 0;
  }
  // Init containers run one at a time beside the sidecars started before them
  // (init containers with restartPolicy Always), which then run beside the app
  // containers too: Kubernetes' effective request is the larger of the two peaks.
  let sideCPU = 0;
  let sideMemory = 0;
  let initCPU = 0;
  let initMemory = 0;
  for (const c of pod.spec?.initContainers ?? []) {
    const r = requestsOf(c);
    const cpu = tryParseQuantity(r.cpu)?.toMilli() ?? 0;
    const mem = tryParseQuantity(r.memory)?.toBytes() ?? 0;
    if ((c as { restartPolicy?: string }).restartPolicy === 'Always') {
      sideCPU += cpu;
      sideMemory += mem;
      initCPU = Math.max(initCPU, sideCPU);
      initMemory = Math.max(initMemory, sideMemory);
    } else {
      initCPU = Math.max(initCPU, sideCPU + cpu);
      initMemory = Math.max(initMemory, sideMemory + mem);
    }
  }
  milliCPU = Math.max(milliCPU + sideCPU, initCPU);
  memoryBytes = Math.max(memoryBytes + sideMemory, initMemory);
  return { milliCPU, memoryBytes };
}

interface ConditionLike {
  type: string;
  status: string;
  lastTransitionTime?: string;
}

/** The condition of `type`, if present. */
export function getCondition<C extends ConditionLike>(conditions: readonly C[] | undefined, type: string): C | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * A new conditions list with `cond` set: replaces the condition of the same
 * type in place (or appends it). `lastTransitionTime` moves to `now` only when
 * the status changes, as Kubernetes readers expect; other fields are taken from `cond`.
 */
export function setCondition<C extends ConditionLike>(conditions: readonly C[] | undefined, cond: C, now: string): C[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === cond.type);
  const prev = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = prev && prev.status === cond.status ? (prev.lastTransitionTime ?? now) : (cond.lastTransitionTime ?? now);
  const next = { ...cond, lastTransitionTime };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** `ready/total` containers of a pod, as the READY column shows it. */
export function podReadyCount(pod: Pod): { ready: number; total: number } {
  const sidecars = new Set(
    (Array.isArray(pod.spec?.initContainers) ? pod.spec.initContainers : []).filter((c) => (c as { restartPolicy?: string }).restartPolicy === 'Always').map((c) => c.name),
  );
  const total = (Array.isArray(pod.spec?.containers) ? pod.spec.containers.length : 0) + sidecars.size;
  const statuses = Array.isArray(pod.status?.containerStatuses) ? pod.status.containerStatuses : [];
  const initStatuses = Array.isArray(pod.status?.initContainerStatuses) ? pod.status.initContainerStatuses : [];
  const ready = statuses.filter((s) => s?.ready === true).length + initStatuses.filter((s) => sidecars.has(s?.name) && s?.ready === true).length;
  return { ready, total };
}

/**
 * Deep equality of JSON values; a key whose value is undefined counts as absent
 * (a spec read back from etcd equals the one that was written).
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}
