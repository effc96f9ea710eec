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
  for (const c of pod.spec?.initContainers ?? []) {
    const r = requestsOf(c);
    milliCPU = Math.max(milliCPU, tryParseQuantity(r.cpu)?.toMilli() ?? 0);
    memoryBytes = Math.max(memoryBytes, tryParseQuantity(r.memory)?.toBytes() ?? 0);
  }
  return { milliCPU, memoryBytes };
}
