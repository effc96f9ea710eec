// Public entry of controller/replicaset: the ReplicaSet controller and its pure planning.
export { ReplicaSetController, podFromTemplate, type ReplicaSetControllerOptions } from './controller.js';
export { slowStartBatchSizes, compareDeletionPriority, podsToDelete, replicaSetCounts, isPodAvailable, isPodReady, isActivePod } from './plan.js';
