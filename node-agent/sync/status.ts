// What the agent reports for a pod: phase, conditions and container states
// computed from the runtime view, as Kubernetes' kubelet shapes them. Pure.
import type { ContainerState, ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from '../../api/index.js';
import { rfc3339 } from '../../api/clock.js';
import {
  activeDeadlineExceeded,
  appContainersDone,
  DEADLINE_EXCEEDED_MESSAGE,
  DEADLINE_EXCEEDED_REASON,
  initProgress,
  isAlive,
  isSidecar,
  podIsDone,
  restartBackoffMs,
  shouldRestart,
} from './plan.js';
import type { ContainerWaitReason, PodRuntimeStatus, RuntimeContainer } from './types.js';
import type { PodProbeLookup } from '../probes/index.js';

export interface StatusInput {
  pod: Pod;
  runtime: PodRuntimeStatus;
  /** Reasons a container could not be started (ErrImagePull, CreateContainerError…). */
  waiting: Map<string, ContainerWaitReason>;
  /** Probe results of the pod's containers (absent or undefined: not probed, ready once running). */
  probes?: PodProbeLookup;
  hostIP?: string;
  now: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : rfc3339(ms));

function terminatedState(c: Pick<RuntimeContainer, 'id' | 'exitCode' | 'reason' | 'message' | 'startedAt' | 'finishedAt'>): ContainerState {
  const exitCode = c.exitCode ?? 137;
  return {
    terminated: {
      exitCode,
      reason: c.reason ?? (exitCode === 0 ? 'Completed' : 'Error'),
      ...(c.message ? { message: c.message } : {}),
      ...(c.startedAt !== undefined ? { startedAt: iso(c.startedAt) } : {}),
      ...(c.finishedAt !== undefined ? { finishedAt: iso(c.finishedAt) } : {}),
      containerID: `flotilla://${c.id}`,
    },
  };
}

function containerStatus(input: StatusInput, name: string, image: string): ContainerStatus {
  const { pod, runtime, waiting, now } = input;
  const c = runtime.containers.find((x) => x.name === name);
  const wait = waiting.get(name);
  // As the kubelet: a pod with init containers shows PodInitializing for containers not made yet.
  const notYet = (pod.spec.initContainers?.length ?? 0) > 0 ? 'PodInitializing' : 'ContainerCreating';
  if (!c) {
    return {
      name,
      state: { waiting: { reason: wait?.reason ?? notYet, ...(wait ? { message: wait.message } : {}) } },
      ready: false,
      restartCount: 0,
      image,
      imageID: '',
      started: false,
    };
  }
  // What `kubectl describe` shows as Last State: how the instance before this one ended.
  const last = c.lastTermination ? { lastState: terminatedState(c.lastTermination) } : {};
  const base = { name, image: c.image || image, imageID: c.imageID ?? '', containerID: `flotilla://${c.id}`, restartCount: c.restartCount, ...last };
  if (c.state === 'running') {
    const started = input.probes?.started(name, c.id) ?? true;
    const ready = started && (input.probes?.ready(name, c.id) ?? true);
    return { ...base, state: { running: { startedAt: iso(c.startedAt) } }, ready, started };
  }
  if (c.state === 'created' || c.state === 'unknown') {
    return { ...base, state: { waiting: { reason: 'ContainerCreating' } }, ready: false, started: false };
  }
  // Exited: either finished for good, or waiting to restart (a sidecar is not, once the app containers are done).
  const sidecarStopping = isSidecar(pod.spec.initContainers?.find((x) => x.name === name)) && appContainersDone(pod, runtime);
  if (shouldRestart(pod, c) && !sidecarStopping && !activeDeadlineExceeded(pod, now) && runtime.sandbox?.state === 'ready') {
    const delay = restartBackoffMs(c.restartCount);
    const inBackoff = (c.finishedAt ?? now) + delay > now;
    const reason = wait?.reason ?? (inBackoff ? 'CrashLoopBackOff' : 'ContainerCreating');
    const message =
      wait?.message ??
      (inBackoff ? `back-off ${Math.round(delay / 1000)}s restarting failed container=${name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})` : undefined);
    // Waiting to run again: the instance that just ended is the last state.
    return {
      ...base,
      state: { waiting: { reason, ...(message ? { message } : {}) } },
      lastState: terminatedState(c),
      ready: false,
      started: false,
    };
  }
  return { ...base, state: terminatedState(c), ready: false, started: false };
}

function condition(type: string, ok: boolean, prev: PodCondition[] | undefined, now: string, reason?: string): PodCondition {
  const status = ok ? 'True' : 'False';
  const old = prev?.find((p) => p.type === type);
  return {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : now,
    ...(reason && !ok ? { reason } : {}),
  };
}

export function computePodPhase(pod: Pod, runtime: PodRuntimeStatus, statuses: ContainerStatus[]): PodPhase {
  const specNames = pod.spec.containers.map((c) => c.name);
  const all = specNames.map((n) => runtime.containers.find((c) => c.name === n));
  if ((pod.spec.initContainers?.length ?? 0) > 0) {
    const progress = initProgress(pod, runtime);
    // As the kubelet: a failed init container under restartPolicy Never fails the pod.
    if (progress.failed) return 'Failed';
    if (!progress.initialized) return 'Pending';
  }
  if (all.some((c) => c === undefined)) return 'Pending';
  if (podIsDone(pod, runtime)) {
    return all.every((c) => (c?.exitCode ?? 1) === 0) ? 'Succeeded' : 'Failed';
  }
  // App containers done, sidecars still being stopped.
  if (appContainersDone(pod, runtime)) return 'Running';
  if (statuses.some((s) => s.state?.running || s.lastState?.terminated)) return 'Running';
  if (statuses.every((s) => s.state?.terminated)) return 'Running';
  return 'Pending';
}

export function computePodStatus(input: StatusInput): PodStatus {
  const { pod, runtime, now } = input;
  const nowIso = iso(now)!;
  const statuses = pod.spec.containers.map((c) => containerStatus(input, c.name, c.image));
  const inits = pod.spec.initContainers ?? [];
  const initStatuses = inits.map((c) => containerStatus(input, c.name, c.image));
  // Past activeDeadlineSeconds the pod is Failed once its containers are stopped (the agent stops them).
  const deadline = activeDeadlineExceeded(pod, now) && !runtime.containers.some(isAlive);
  const phase = deadline ? 'Failed' : computePodPhase(pod, runtime, statuses);
  const prev = pod.status?.conditions;
  // Sidecars count for readiness, as in Kubernetes; regular init containers do not.
  const readiness = [...initStatuses.filter((_, i) => isSidecar(inits[i])), ...statuses];
  const allReady = readiness.every((s) => s.ready);
  const notReadyNames = readiness.filter((s) => !s.ready).map((s) => s.name);
  const progress = inits.length > 0 ? initProgress(pod, runtime) : undefined;
  const initialized = progress === undefined || progress.initialized || phase === 'Succeeded';
  const initCond = condition('Initialized', initialized, prev, nowIso, 'ContainersNotInitialized');
  if (!initialized) initCond.message = `containers with incomplete status: [${progress!.incomplete.join(' ')}]`;
  const conds: PodCondition[] = [
    initCond,
    condition('Ready', allReady, prev, nowIso, 'ContainersNotReady'),
    condition('ContainersReady', allReady, prev, nowIso, 'ContainersNotReady'),
    condition('PodScheduled', true, prev, nowIso),
  ];
  for (const c of conds) {
    if ((c.type === 'Ready' || c.type === 'ContainersReady') && c.status === 'False') {
      c.message = `containers with unready status: [${notReadyNames.join(' ')}]`;
      if (phase === 'Succeeded' || phase === 'Failed') c.reason = 'PodCompleted';
    }
  }
  const hostNetwork = pod.spec.hostNetwork === true;
  const podIP = hostNetwork ? input.hostIP : runtime.sandbox?.ip;
  const status: PodStatus = {
    phase,
    conditions: conds,
    ...(input.hostIP ? { hostIP: input.hostIP } : {}),
    ...(podIP ? { podIP, podIPs: [{ ip: podIP }] } : {}),
    startTime: pod.status?.startTime ?? nowIso,
    ...(deadline ? { reason: DEADLINE_EXCEEDED_REASON, message: DEADLINE_EXCEEDED_MESSAGE } : {}),
    ...(inits.length > 0 ? { initContainerStatuses: initStatuses } : {}),
    containerStatuses: statuses,
    ...(pod.status?.qosClass ? { qosClass: pod.status.qosClass } : {}),
  };
  return status;
}
