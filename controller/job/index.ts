// Public entry of controller/job: the Job controller and its pure planner.
export { JobController, newJobPod, type JobApi, type JobControllerOptions } from './controller.js';
export { DEFAULT_BACKOFF, formatIndexes, matchPodFailurePolicy, parseIndexes, planJob, podIndex, type BackoffConfig, type JobPlan, type PlanInput } from './plan.js';
