// Public entry of controller/daemonset: the DaemonSet controller and its pure
// planners (which nodes run a daemon pod, what a sync creates and deletes,
// the status, the revision history).
export { DaemonSetController, REASON_FAILED_DAEMON_POD, type DaemonSetApi, type DaemonSetControllerOptions } from './controller.js';
export { CONTROLLER_REVISION_HASH, daemonTolerations, newDaemonPod, nodeShouldRunDaemonPod, targetNodeOf, withDaemonTolerations, type NodeDecision } from './daemon-pods.js';
export { computeStatus, isPodAvailable, isPodReady, planManage, planRollingUpdate, podsByNode, rollingBudget, type ManagePlan, type RollingPlan } from './plan.js';
export { newRevision, revisionData, revisionMatches, revisionsToPrune, templateHash } from './history.js';
