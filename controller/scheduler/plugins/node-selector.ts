// NodeSelector: every key=value of spec.nodeSelector must be a label of the node.
// The default profile runs NodeAffinity instead (nodeSelector and node
// affinity together, as Kubernetes); this one stays for custom profiles.
import type { Plugin } from '../framework.js';
import { SKIP, SUCCESS, unresolvable } from '../framework.js';

export const NODE_SELECTOR = 'NodeSelector';
export const REASON_NODE_SELECTOR = "node(s) didn't match Pod's node affinity/selector";

export function newNodeSelector(): Plugin {
  return {
    name: NODE_SELECTOR,
    preFilter(_state, pod) {
      const selector = pod.spec?.nodeSelector;
      return selector && Object.keys(selector).length > 0 ? SUCCESS : SKIP;
    },
    filter(_state, pod, nodeInfo) {
      const selector = pod.spec?.nodeSelector;
      if (!selector) return SUCCESS;
      const labels = nodeInfo.labels;
      for (const k in selector) {
        if (labels[k] !== selector[k]) return unresolvable(REASON_NODE_SELECTOR);
      }
      return SUCCESS;
    },
  };
}
