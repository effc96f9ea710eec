// Node lifecycle decisions, pure: given a node, when its agent last renewed the
// node lease, and the time, what should change? The controller loop reads the
// latest state, calls this, and writes the result with compare-and-swap.
import type { Node, NodeCondition, Taint } from '../../api/index.js';
import { rfc3339 } from '../../api/clock.js';

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

export interface LifecycleConfig {
  /** A node whose lease is older than this is NotReady (Ready=Unknown). Default 40 s. */
  gracePeriodMs: number;
  /** Pods of a node NotReady for this long are marked Failed with reason NodeLost. Default 300 s. */
  podEvictionTimeoutMs: number;
}

export const DEFAULT_LIFECYCLE: LifecycleConfig = { gracePeriodMs: 40_000, podEvictionTimeoutMs: 300_000 };

export interface NodeLifecycleDecision {
  /** The node object to write, or undefined when nothing changes. */
  updatedNode?: Node;
  /** Mark this node's pods Failed/NodeLost. */
  evictPods: boolean;
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
  const decision: NodeLifecycleDecision = { evictPods: false };
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
  const taints = withTaints(next, wanted, [TAINT_UNREACHABLE, TAINT_NOT_READY], now);
  if (!sameTaints(next.spec?.taints, taints)) {
    next = { ...next, spec: { ...next.spec, taints } };
    if (cond?.status === 'True' && !decision.transition) decision.transition = 'NodeReady';
  }
  if (next !== node) decision.updatedNode = next;

  if (cond && cond.status !== 'True') {
    const since = cond.lastTransitionTime ? Date.parse(cond.lastTransitionTime) : now;
    decision.evictPods = now - since >= cfg.podEvictionTimeoutMs;
  }
  return decision;
}
