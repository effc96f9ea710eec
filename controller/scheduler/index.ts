// Public entry of controller/scheduler: the framework, the plugins and their
// registry, the pure scheduling algorithm, the queue, the cache, the binder
// (shared with the API server's pods/binding) and the scheduler loop.
export * from './framework.js';
export * from './node-info.js';
export * from './algorithm.js';
export * from './registry.js';
export * from './cache.js';
export * from './queue.js';
export * from './binder.js';
export * from './scheduler.js';
export { podInfoOf } from './plugins/pod-facts.js';
export { NODE_NAME, REASON_NODE_NAME, newNodeName } from './plugins/node-name.js';
export { NODE_SELECTOR, REASON_NODE_SELECTOR, newNodeSelector } from './plugins/node-selector.js';
export {
  NODE_AFFINITY,
  REASON_NODE_AFFINITY,
  newNodeAffinity,
  nodeFacts,
  nodeSelectorTermMatches,
  podMatchesNodeSelectorAndAffinity,
  preferredNodeAffinityScore,
  type NodeFacts,
} from './plugins/node-affinity.js';
export {
  INTER_POD_AFFINITY,
  REASON_AFFINITY,
  REASON_ANTI_AFFINITY,
  REASON_EXISTING_ANTI_AFFINITY,
  newInterPodAffinity,
  termMatches,
} from './plugins/inter-pod-affinity.js';
export { NODE_UNSCHEDULABLE, REASON_NODE_UNSCHEDULABLE, newNodeUnschedulable } from './plugins/node-unschedulable.js';
export {
  TAINT_TOLERATION,
  TAINT_NODE_NOT_READY,
  TAINT_NODE_UNREACHABLE,
  effectiveTaints,
  newTaintToleration,
  toleratesTaint,
  tolerationsTolerateTaint,
  untoleratedTaintReason,
} from './plugins/taint-toleration.js';
export {
  NODE_RESOURCES_FIT,
  REASON_INSUFFICIENT_CPU,
  REASON_INSUFFICIENT_MEMORY,
  REASON_TOO_MANY_PODS,
  newNodeResourcesFit,
} from './plugins/node-resources-fit.js';
export { NODE_PORTS, REASON_NODE_PORTS, newNodePorts } from './plugins/node-ports.js';
export { LEAST_ALLOCATED, newLeastAllocated } from './plugins/least-allocated.js';
export { BALANCED_ALLOCATION, newBalancedAllocation } from './plugins/balanced-allocation.js';
export { SELECTOR_SPREAD, newSelectorSpread } from './plugins/selector-spread.js';
