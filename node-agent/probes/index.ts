// Probes and lifecycle hooks of the node agent (see README.md).
export { runHandler, runtimeExec, resolvePort, httpURL, type HandlerTarget, type ProbeResult } from './handlers.js';
export { grpcHealthCheck, HEALTH_SERVICE, SERVING_STATUS, type ServingStatus } from './grpc-health.js';
export { ProbeManager, PROBE_TITLE, type PodProbeLookup, type ProbeCallbacks, type ProbeKind, type ProberOptions } from './prober.js';
export { hookOf, hookFailureMessage, runHook, HOOK_FAILED_REASON, MIN_GRACE_AFTER_PRESTOP_SECONDS, type HookKind } from './hooks.js';
export { LifecycleRunner, POST_START_TIMEOUT_MS, type LifecycleRunnerOptions, type RecordEvent } from './lifecycle.js';
