// NodeName: a pod that names a node fits only that node.
import type { Plugin } from '../framework.js';
import { SKIP, SUCCESS, unresolvable } from '../framework.js';

export const NODE_NAME = 'NodeName';
export const REASON_NODE_NAME = "node(s) didn't match the requested node name";

export function newNodeName(): Plugin {
  return {
    name: NODE_NAME,
    preFilter(_state, pod) {
      return pod.spec?.nodeName ? SUCCESS : SKIP;
    },
    filter(_state, pod, nodeInfo) {
      const wanted = pod.spec?.nodeName;
      if (!wanted || wanted === nodeInfo.name) return SUCCESS;
      return unresolvable(REASON_NODE_NAME);
    },
  };
}
