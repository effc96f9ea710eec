// NodeResourcesFit: the pod's requests must fit in what the node has left
// (allocatable minus the requests of the pods already there, assumed ones
// included), and the node must have room for one more pod (max pods).
import type { Plugin } from '../framework.js';
import { SUCCESS, unschedulable } from '../framework.js';
import { podInfoOf } from './pod-facts.js';

export const NODE_RESOURCES_FIT = 'NodeResourcesFit';
export const REASON_TOO_MANY_PODS = 'Too many pods';
export const REASON_INSUFFICIENT_CPU = 'Insufficient cpu';
export const REASON_INSUFFICIENT_MEMORY = 'Insufficient memory';

export function newNodeResourcesFit(): Plugin {
  return {
    name: NODE_RESOURCES_FIT,
    filter(state, pod, nodeInfo) {
      const req = podInfoOf(state, pod).requests;
      const alloc = nodeInfo.allocatable;
      let reasons: string[] | undefined;
      if (nodeInfo.podCount + 1 > alloc.pods) reasons = [REASON_TOO_MANY_PODS];
      if (req.milliCPU > 0 && req.milliCPU > alloc.milliCPU - nodeInfo.requested.milliCPU) {
        (reasons ??= []).push(REASON_INSUFFICIENT_CPU);
      }
      if (req.memory > 0 && req.memory > alloc.memory - nodeInfo.requested.memory) {
        (reasons ??= []).push(REASON_INSUFFICIENT_MEMORY);
      }
      return reasons ? unschedulable(...reasons) : SUCCESS;
    },
  };
}
