// NodeUnschedulable: a cordoned node (spec.unschedulable) takes only pods that
// tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.
import type { Taint } from '../../../api/index.js';
import type { Plugin } from '../framework.js';
import { SUCCESS, unresolvable } from '../framework.js';
import { tolerationsTolerateTaint } from '../taints.js';

export const NODE_UNSCHEDULABLE = 'NodeUnschedulable';
export const REASON_NODE_UNSCHEDULABLE = 'node(s) were unschedulable';
const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

export function newNodeUnschedulable(): Plugin {
  return {
    name: NODE_UNSCHEDULABLE,
    filter(_state, pod, nodeInfo) {
      if (!nodeInfo.unschedulable) return SUCCESS;
      if (tolerationsTolerateTaint(pod.spec?.tolerations, UNSCHEDULABLE_TAINT)) return SUCCESS;
      return unresolvable(REASON_NODE_UNSCHEDULABLE);
    },
  };
}
