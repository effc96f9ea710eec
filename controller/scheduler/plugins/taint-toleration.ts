// TaintToleration: a pod may land on a node only if it tolerates every
// NoSchedule/NoExecute taint; PreferNoSchedule taints it does not tolerate
// lower the node's score. A node whose Ready condition is not True carries
// the condition taint (`node.kubernetes.io/not-ready`, or `…/unreachable` when
// Unknown) even before the node lifecycle controller writes it, as Kubernetes'
// taint-nodes-by-condition does.
import type { Node, Taint, Toleration } from '../../../api/index.js';
import type { Plugin } from '../framework.js';
import { MAX_NODE_SCORE, SUCCESS, unresolvable } from '../framework.js';

export const TAINT_TOLERATION = 'TaintToleration';
export const TAINT_NODE_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_NODE_UNREACHABLE = 'node.kubernetes.io/unreachable';

export function untoleratedTaintReason(t: Taint): string {
  return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
}

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

export function newTaintToleration(): Plugin {
  return {
    name: TAINT_TOLERATION,
    filter(_state, pod, nodeInfo) {
      // The node's hard taints are worked out once per node version (NodeInfo.setNode).
      const tols = pod.spec?.tolerations;
      for (const t of nodeInfo.hardTaints) {
        if (!tolerationsTolerateTaint(tols, t)) return unresolvable(untoleratedTaintReason(t));
      }
      return SUCCESS;
    },
    score(_state, pod, nodeInfo) {
      let n = 0;
      for (const t of nodeInfo.softTaints) if (!tolerationsTolerateTaint(pod.spec?.tolerations, t)) n++;
      return n;
    },
    normalizeScores(_state, _pod, scores) {
      // Fewer untolerated PreferNoSchedule taints is better.
      let max = 0;
      for (const s of scores) if (s > max) max = s;
      for (let i = 0; i < scores.length; i++) {
        scores[i] = max === 0 ? MAX_NODE_SCORE : Math.trunc((MAX_NODE_SCORE * (max - scores[i]!)) / max);
      }
    },
  };
}
