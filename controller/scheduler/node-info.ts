// NodeInfo: what the scheduler knows about one node — the Node object and the
// pods assigned to it (bound or assumed), with their summed requests, the host
// ports they hold and label signatures for spreading. Kept up to date
// incrementally by the cache, so filters and scores are O(1) per node.
import { podRequests, tryParseQuantity, type Node, type Pod, type Taint } from '../../api/index.js';
import { effectiveTaints } from './taints.js';

/** Kubernetes' default max pods per node, used when a node reports none. */
export const DEFAULT_MAX_PODS = 110;
/** What scoring assumes a container without a CPU request uses (as Kubernetes: 100m). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
/** What scoring assumes a container without a memory request uses (as Kubernetes: 200 MiB). */
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

export interface Resources {
  milliCPU: number;
  memory: number;
}

export interface Allocatable extends Resources {
  pods: number;
}

export interface HostPort {
  protocol: string;
  hostIP: string;
  port: number;
}

/** Facts about a pod computed once: what it requests and holds. */
export interface PodInfo {
  pod: Pod;
  /** `namespace/name`. */
  key: string;
  requests: Resources;
  /** Requests with defaults for containers that request nothing: used by scores only. */
  nonZeroRequests: Resources;
  hostPorts: HostPort[];
  /** Namespace + sorted labels (what spreading groups pods by); undefined when the pod has no labels (not spread). */
  spreadSignature: string | undefined;
  /** The pod has podAffinity or podAntiAffinity (InterPodAffinity looks at such placed pods for every pod). */
  hasPodAffinity: boolean;
}

export function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

function nonZeroRequests(pod: Pod): Resources {
  let milliCPU = 0;
  let memory = 0;
  for (const c of pod.spec?.containers ?? []) {
    const r = { ...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {}) };
    const cpu = tryParseQuantity(r.cpu)?.toMilli();
    const mem = tryParseQuantity(r.memory)?.toBytes();
    milliCPU += cpu === undefined || cpu === 0 ? DEFAULT_MILLI_CPU_REQUEST : cpu;
    memory += mem === undefined || mem === 0 ? DEFAULT_MEMORY_REQUEST : mem;
  }
  return { milliCPU, memory };
}

export function podHostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  const hostNetwork = pod.spec?.hostNetwork === true;
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      // With hostNetwork the container port is a host port (as Kubernetes defaults it).
      const port = p.hostPort ?? (hostNetwork ? p.containerPort : undefined);
      if (port === undefined || port <= 0) continue;
      out.push({ protocol: p.protocol ?? 'TCP', hostIP: p.hostIP || '0.0.0.0', port });
    }
  }
  return out;
}

/** The label set spreading groups `pod` by: its namespace and sorted labels; undefined without labels. */
export function spreadSignatureOf(pod: Pod): string | undefined {
  const labels = pod.metadata.labels;
  if (!labels) return undefined;
  const keys = Object.keys(labels);
  if (keys.length === 0) return undefined;
  keys.sort();
  let s = pod.metadata.namespace ?? 'default';
  for (const k of keys) s += `\u0000${k}=${labels[k]}`;
  return s;
}

/**
 * Label sets interned to small numbers: spreading looks one up per node per
 * pod, and number keys are much cheaper than long strings. One table per
 * scheduler cache (its NodeInfos share it), counted: a label set no pod on any
 * node carries any more is forgotten, so the table holds only what is placed.
 */
export class SpreadKeys {
  private readonly ids = new Map<string, { id: number; refs: number }>();
  private next = 1;

  /** The id of `signature`, counting one more holder. */
  acquire(signature: string): number {
    let e = this.ids.get(signature);
    if (!e) this.ids.set(signature, (e = { id: this.next++, refs: 0 }));
    e.refs++;
    return e.id;
  }

  /** One holder of `signature` fewer; the last one forgets it. */
  release(signature: string): void {
    const e = this.ids.get(signature);
    if (!e) return;
    if (--e.refs <= 0) this.ids.delete(signature);
  }

  /** The id of `signature` if some placed pod carries it (else no node counts it). */
  lookup(signature: string): number | undefined {
    return this.ids.get(signature)?.id;
  }

  /** Label sets held. */
  get size(): number {
    return this.ids.size;
  }
}

export function computePodInfo(pod: Pod): PodInfo {
  const r = podRequests(pod);
  return {
    pod,
    key: podKey(pod),
    requests: { milliCPU: r.milliCPU, memory: r.memoryBytes },
    nonZeroRequests: nonZeroRequests(pod),
    hostPorts: podHostPorts(pod),
    spreadSignature: spreadSignatureOf(pod),
    hasPodAffinity: !!(pod.spec?.affinity?.podAffinity || pod.spec?.affinity?.podAntiAffinity),
  };
}

/** Allocatable resources of a node (falling back to capacity, then to nothing but max pods). */
export function nodeAllocatable(node: Node): Allocatable {
  const a = { ...(node.status?.capacity ?? {}), ...(node.status?.allocatable ?? {}) };
  const pods = tryParseQuantity(a.pods)?.toNumber();
  return {
    milliCPU: tryParseQuantity(a.cpu)?.toMilli() ?? 0,
    memory: tryParseQuantity(a.memory)?.toBytes() ?? 0,
    pods: pods === undefined ? DEFAULT_MAX_PODS : Math.floor(pods),
  };
}

function hardTaintsOf(node: Node | undefined): Taint[] {
  return effectiveTaints(node).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
}

export class NodeInfo {
  readonly name: string;
  /** Undefined while pods are known to be bound to a node the cache has not seen (yet). */
  node: Node | undefined;
  allocatable: Allocatable = { milliCPU: 0, memory: 0, pods: 0 };
  /** spec.unschedulable of the node, read once per node version (filters run per pod per node). */
  unschedulable = false;
  /** The node's labels (empty when none), likewise. */
  labels: Readonly<Record<string, string>> = {};
  /** Taints that keep pods off (NoSchedule/NoExecute, the not-ready/unreachable one included). */
  hardTaints: readonly Taint[] = hardTaintsOf(undefined);
  /** The node's PreferNoSchedule taints (scored, never filtered). */
  softTaints: readonly Taint[] = [];
  readonly requested: Resources = { milliCPU: 0, memory: 0 };
  readonly nonZeroRequested: Resources = { milliCPU: 0, memory: 0 };
  readonly pods = new Map<string, PodInfo>();
  /** How many of `pods` have podAffinity or podAntiAffinity. */
  podsWithAffinity = 0;
  /** `protocol/port` → host IPs in use (one entry per holder). */
  private readonly usedPorts = new Map<string, string[]>();
  /** Spread id (of `spreadKeys`) → number of pods here with it. */
  private readonly spreadCounts = new Map<number, number>();
  /** The interning table this node's pods' label sets are counted in (shared by a cache's nodes). */
  readonly spreadKeys: SpreadKeys;

  constructor(name: string, node?: Node, spreadKeys: SpreadKeys = new SpreadKeys()) {
    this.name = name;
    this.spreadKeys = spreadKeys;
    if (node) this.setNode(node);
  }

  setNode(node: Node): void {
    this.node = node;
    this.allocatable = nodeAllocatable(node);
    this.unschedulable = node.spec?.unschedulable === true;
    this.labels = node.metadata.labels ?? {};
    this.hardTaints = hardTaintsOf(node);
    this.softTaints = (node.spec?.taints ?? []).filter((t) => t.effect === 'PreferNoSchedule');
  }

  get podCount(): number {
    return this.pods.size;
  }

  addPod(pi: PodInfo): void {
    if (this.pods.has(pi.key)) this.removePod(pi.key);
    this.pods.set(pi.key, pi);
    if (pi.hasPodAffinity) this.podsWithAffinity++;
    this.requested.milliCPU += pi.requests.milliCPU;
    this.requested.memory += pi.requests.memory;
    this.nonZeroRequested.milliCPU += pi.nonZeroRequests.milliCPU;
    this.nonZeroRequested.memory += pi.nonZeroRequests.memory;
    for (const p of pi.hostPorts) {
      const k = `${p.protocol}/${p.port}`;
      const ips = this.usedPorts.get(k);
      if (ips) ips.push(p.hostIP);
      else this.usedPorts.set(k, [p.hostIP]);
    }
    if (pi.spreadSignature !== undefined) {
      const id = this.spreadKeys.acquire(pi.spreadSignature);
      this.spreadCounts.set(id, (this.spreadCounts.get(id) ?? 0) + 1);
    }
  }

  removePod(key: string): PodInfo | undefined {
    const pi = this.pods.get(key);
    if (!pi) return undefined;
    this.pods.delete(key);
    if (pi.hasPodAffinity) this.podsWithAffinity--;
    this.requested.milliCPU -= pi.requests.milliCPU;
    this.requested.memory -= pi.requests.memory;
    this.nonZeroRequested.milliCPU -= pi.nonZeroRequests.milliCPU;
    this.nonZeroRequested.memory -= pi.nonZeroRequests.memory;
    for (const p of pi.hostPorts) {
      const k = `${p.protocol}/${p.port}`;
      const ips = this.usedPorts.get(k);
      if (!ips) continue;
      const i = ips.indexOf(p.hostIP);
      if (i >= 0) ips.splice(i, 1);
      if (ips.length === 0) this.usedPorts.delete(k);
    }
    if (pi.spreadSignature !== undefined) {
      const id = this.spreadKeys.lookup(pi.spreadSignature);
      if (id !== undefined) {
        const n = (this.spreadCounts.get(id) ?? 1) - 1;
        if (n <= 0) this.spreadCounts.delete(id);
        else this.spreadCounts.set(id, n);
      }
      this.spreadKeys.release(pi.spreadSignature);
    }
    return pi;
  }

  /** True when a pod wanting `p` would clash: same protocol and port, and same IP or either is 0.0.0.0. */
  portInUse(p: HostPort): boolean {
    const ips = this.usedPorts.get(`${p.protocol}/${p.port}`);
    if (!ips || ips.length === 0) return false;
    if (p.hostIP === '0.0.0.0') return true;
    return ips.includes(p.hostIP) || ips.includes('0.0.0.0');
  }

  /** How many pods here carry this spread id (of `spreadKeys`). */
  spreadCount(id: number): number {
    return this.spreadCounts.get(id) ?? 0;
  }

  /** How many pods here carry this label set. */
  spreadCountOf(signature: string): number {
    const id = this.spreadKeys.lookup(signature);
    return id === undefined ? 0 : this.spreadCount(id);
  }
}
