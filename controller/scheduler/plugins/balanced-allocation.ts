// NodeResourcesBalancedAllocation: prefer nodes where CPU and memory would be
// used in similar fractions after placing the pod, so neither is stranded.
// Score = (1 - standard deviation of the two fractions) * 100.
import type { Plugin } from '../framework.js';
import { MAX_NODE_SCORE } from '../framework.js';
import { podInfoOf } from './pod-facts.js';

export const BALANCED_ALLOCATION = 'NodeResourcesBalancedAllocation';

function fraction(requested: number, allocatable: number): number {
  if (allocatable <= 0) return 1;
  return Math.min(1, requested / allocatable);
}

export function newBalancedAllocation(): Plugin {
  return {
    name: BALANCED_ALLOCATION,
    score(state, pod, nodeInfo) {
      const r = podInfoOf(state, pod).nonZeroRequests;
      const cpu = fraction(nodeInfo.nonZeroRequested.milliCPU + r.milliCPU, nodeInfo.allocatable.milliCPU);
      const mem = fraction(nodeInfo.nonZeroRequested.memory + r.memory, nodeInfo.allocatable.memory);
      const std = Math.abs(cpu - mem) / 2;
      return Math.trunc((1 - std) * MAX_NODE_SCORE);
    },
  };
}
