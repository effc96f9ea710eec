// Node lifecycle decisions, pure: given a node, when its agent last renewed the
// node lease, and the time, what should change? The controller loop reads the
// latest state, calls this, and writes the result with compare-and-swap.
// Also the taint manager's decision for one pod (decidePodEviction): evicted at
// once when it does not tolerate a NoExecute taint of its node, after its
// tolerationSeconds (counted from the taint's timeAdded) when it does.
import type { Node, NodeCondition, Pod, Taint } from '../../api/index.js';
import { rfc3339 } from '../../api/clock.js';
import { toleratesTaint } from '../scheduler/taints.js';

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

export interface LifecycleConfig {
  /** A node whose lease is older than this is NotReady (Ready=Unknown). Default 40 s. */
  gracePeriodMs: number;
}

export const DEFAULT_LIFECYCLE: LifecycleConfig = { gracePeriodMs: 40_000 };

export interface NodeLifecycleDecision {
  /** The node object to write, or undefined when nothing changes. */
  updatedNode?: Node;
  /** For logs and events: NodeNotReady, NodeReady… */
  transition?: 'NodeNotReady' | 'NodeReady';
}

const iso = rfc3339;

export function readyCondition(node: Node): NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready');
}

function withTaints(node: Node, wanted: Taint[], managed: string[], now: number): Taint[] {
  const keep = (node.spec?.taints ?? []).filter((t) => !managed.includes(t.key));
  const existing = node.spec?.taints ?? [];
  const next = wanted.map((w) => existing.find((t) => t.key === w.key && t.effect === w.effect) ?? { ...w, timeAdded: iso(now) });
  return [...keep, ...next];
}

function sameTaints(a: Taint[] | undefined, b: Taint[]): boolean {
  const k = (t: Taint) => `${t.key}:${t.effect}`;
  return JSON.stringify((a ?? []).map(k).sort()) === JSON.stringify(b.map(k).sort());
}

export function decideNodeLifecycle(
  node: Node,
  lastRenewMs: number | undefined,
  now: number,
  cfg: LifecycleConfig = DEFAULT_LIFECYCLE,
): NodeLifecycleDecision {
  const ready = readyCondition(node);
  const created = node.metadata.creationTimestamp ? Date.parse(node.metadata.creationTimestamp) : now;
  const lastSeen = lastRenewMs ?? created;
  const silent = now - lastSeen > cfg.gracePeriodMs;
  const decision: NodeLifecycleDecision = {};
  let next: Node = node;

  if (silent && ready?.status !== 'Unknown') {
    // The agent stopped renewing: the controller no longer knows the node's state.
    const conditions = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
    conditions.push({
      type: 'Ready',
      status: 'Unknown',
      reason: 'NodeStatusUnknown',
      message: 'Node agent stopped posting node status.',
      lastHeartbeatTime: ready?.lastHeartbeatTime ?? iso(lastSeen),
      lastTransitionTime: iso(now),
    });
    next = { ...node, status: { ...node.status, conditions } };
    decision.transition = 'NodeNotReady';
  }

  const cond = readyCondition(next);
  let wanted: Taint[] = [];
  if (cond?.status === 'Unknown') {
    wanted = [
      { key: TAINT_UNREACHABLE, effect: 'NoSchedule' },
      { key: TAINT_UNREACHABLE, effect: 'NoExecute' },
    ];
  } else if (cond?.status === 'False') {
    wanted = [
      { key: TAINT_NOT_READY, effect: 'NoSchedule' },
      { key: TAINT_NOT_READY, effect: 'NoExecute' },
    ];
  } else if (!cond) {
    wanted = [{ key: TAINT_NOT_READY, effect: 'NoSchedule' }];
  }
  // a cordoned node carries the unschedulable taint, as Kubernetes' node controller adds it
  if (next.spec?.unschedulable === true) wanted.push({ key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' });
  const taints = withTaints(next, wanted, [TAINT_UNREACHABLE, TAINT_NOT_READY, TAINT_UNSCHEDULABLE], now);
  if (!sameTaints(next.spec?.taints, taints)) {
    const hadCondTaint = (next.spec?.taints ?? []).some((t) => t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY);
    next = { ...next, spec: { ...next.spec, taints } };
    if (cond?.status === 'True' && hadCondTaint && !decision.transition) decision.transition = 'NodeReady';
  }
  if (next !== node) decision.updatedNode = next;
  return decision;
}

/** The node's NoExecute taints. */
export function noExecuteTaints(node: Node | undefined): Taint[] {
  return (node?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
}

export interface PodEvictionDecision {
  /** When the pod is to be evicted (ms); absent: never (it tolerates every NoExecute taint for ever, or there is none). */
  evictAtMs?: number;
}

/**
 * Kubernetes' taint manager for one pod: a NoExecute taint the pod does not
 * tolerate evicts it now; when it tolerates every one, the smallest
 * tolerationSeconds among the tolerations used decides, counted from the
 * taint's timeAdded (a toleration without tolerationSeconds tolerates for
 * ever). Negative tolerationSeconds count as 0, as Kubernetes does.
 */
export function decidePodEviction(pod: Pod, taints: readonly Taint[], now: number): PodEvictionDecision {
  let at: number | undefined;
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue;
    const used = (pod.spec?.tolerations ?? []).filter((t) => toleratesTaint(t, taint));
    const added = taint.timeAdded ? Date.parse(taint.timeAdded) : NaN;
    const since = Number.isNaN(added) ? now : added;
    if (used.length === 0) return { evictAtMs: now };
    const secs = used.map((t) => t.tolerationSeconds).filter((x): x is number => typeof x === 'number');
    if (secs.length === 0) continue; // tolerated for ever
    const when = since + Math.max(0, Math.min(...secs)) * 1000;
    at = at === undefined ? when : Math.min(at, when);
  }
  return at === undefined ? {} : { evictAtMs: at };
}
