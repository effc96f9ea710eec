// NodeResourcesLeastAllocated: prefer nodes with the most CPU and memory left
// after placing the pod. Per resource: (allocatable - requested) * 100 /
// allocatable, averaged; requests count containers that ask for nothing at
// Kubernetes' defaults (100m, 200 MiB) so empty pods still spread.
import type { Plugin } from '../framework.js';
import { MAX_NODE_SCORE } from '../framework.js';
import { podInfoOf } from './pod-facts.js';

export const LEAST_ALLOCATED = 'NodeResourcesLeastAllocated';

function leastRequested(requested: number, allocatable: number): number {
  if (allocatable <= 0 || requested > allocatable) return 0;
  return Math.trunc(((allocatable - requested) * MAX_NODE_SCORE) / allocatable);
}

export function newLeastAllocated(): Plugin {
  return {
    name: LEAST_ALLOCATED,
    score(state, pod, nodeInfo) {
      const r = podInfoOf(state, pod).nonZeroRequests;
      const cpu = leastRequested(nodeInfo.nonZeroRequested.milliCPU + r.milliCPU, nodeInfo.allocatable.milliCPU);
      const mem = leastRequested(nodeInfo.nonZeroRequested.memory + r.memory, nodeInfo.allocatable.memory);
      return Math.trunc((cpu + mem) / 2);
    },
  };
}
