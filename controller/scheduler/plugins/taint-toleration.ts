// TaintToleration: a pod may land on a node only if it tolerates every
// NoSchedule/NoExecute taint; PreferNoSchedule taints it does not tolerate
// lower the node's score. A node whose Ready condition is not True carries
// the condition taint (`node.kubernetes.io/not-ready`, or `…/unreachable` when
// Unknown) even before the node lifecycle controller writes it, as Kubernetes'
// taint-nodes-by-condition does.
import type { Taint } from '../../../api/index.js';
import type { Plugin } from '../framework.js';
import { MAX_NODE_SCORE, SUCCESS, unresolvable } from '../framework.js';
import { tolerationsTolerateTaint } from '../taints.js';

export { TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE, effectiveTaints, toleratesTaint, tolerationsTolerateTaint } from '../taints.js';

export const TAINT_TOLERATION = 'TaintToleration';

export function untoleratedTaintReason(t: Taint): string {
  return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
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
