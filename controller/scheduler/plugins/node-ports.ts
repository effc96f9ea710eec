// NodePorts: the host ports a pod asks for must be free on the node (same
// protocol and port clash when the IPs are equal or either is 0.0.0.0).
import type { Plugin } from '../framework.js';
import { SKIP, SUCCESS, unschedulable } from '../framework.js';
import { podInfoOf } from './pod-facts.js';

export const NODE_PORTS = 'NodePorts';
export const REASON_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports";

export function newNodePorts(): Plugin {
  return {
    name: NODE_PORTS,
    preFilter(state, pod) {
      return podInfoOf(state, pod).hostPorts.length > 0 ? SUCCESS : SKIP;
    },
    filter(state, pod, nodeInfo) {
      const ports = podInfoOf(state, pod).hostPorts;
      for (const p of ports) {
        if (nodeInfo.portInUse(p)) return unschedulable(REASON_NODE_PORTS);
      }
      return SUCCESS;
    },
  };
}
