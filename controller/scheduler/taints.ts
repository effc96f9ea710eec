// Taint facts the scheduler's NodeInfo and the TaintToleration plugin share:
// toleration matching and the taints a node effectively carries. Imports
// nothing of the scheduler, so NodeInfo can use it without depending on a
// plugin (which depends on the framework, which depends on NodeInfo).
import type { Node, Taint, Toleration } from '../../api/index.js';

export const TAINT_NODE_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_NODE_UNREACHABLE = 'node.kubernetes.io/unreachable';

/** Kubernetes' toleration matching: key (or empty key with Exists = any), operator, value, effect. */
export function toleratesTaint(tol: Toleration, taint: Taint): boolean {
  if (tol.effect && tol.effect !== taint.effect) return false;
  const op = tol.operator ?? 'Equal';
  if (!tol.key) return op === 'Exists';
  if (tol.key !== taint.key) return false;
  if (op === 'Exists') return true;
  return (tol.value ?? '') === (taint.value ?? '');
}

export function tolerationsTolerateTaint(tols: readonly Toleration[] | undefined, taint: Taint): boolean {
  if (!tols) return false;
  for (const t of tols) if (toleratesTaint(t, taint)) return true;
  return false;
}

/** The node's taints plus the condition taint implied by a Ready condition that is not True. */
export function effectiveTaints(node: Node | undefined): Taint[] {
  const taints = node?.spec?.taints ?? [];
  const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return taints;
  const key = ready?.status === 'Unknown' ? TAINT_NODE_UNREACHABLE : TAINT_NODE_NOT_READY;
  if (taints.some((t) => t.key === key && t.effect === 'NoSchedule')) return taints;
  return [...taints, { key, effect: 'NoSchedule' }];
}
