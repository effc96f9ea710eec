// What the agent reports for a pod: phase, conditions and container states
// computed from the runtime view, as Kubernetes' kubelet shapes them. Pure.
import type { ContainerState, ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from '../../api/index.js';
import { rfc3339 } from '../../api/clock.js';
import { podIsDone, restartBackoffMs, shouldRestart } from './plan.js';
import type { ContainerWaitReason, PodRuntimeStatus, RuntimeContainer } from './types.js';

export interface StatusInput {
  pod: Pod;
  runtime: PodRuntimeStatus;
  /** Reasons a container could not be started (ErrImagePull, CreateContainerError…). */
  waiting: Map<string, ContainerWaitReason>;
  hostIP?: string;
  now: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : rfc3339(ms));

function terminatedState(c: RuntimeContainer): ContainerState {
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
  if (!c) {
    return {
      name,
      state: { waiting: { reason: wait?.reason ?? 'ContainerCreating', ...(wait ? { message: wait.message } : {}) } },
      ready: false,
      restartCount: 0,
      image,
      imageID: '',
      started: false,
    };
  }
  const base = { name, image: c.image || image, imageID: c.imageID ?? '', containerID: `flotilla://${c.id}`, restartCount: c.restartCount };
  if (c.state === 'running') {
    return { ...base, state: { running: { startedAt: iso(c.startedAt) } }, ready: true, started: true };
  }
  if (c.state === 'created' || c.state === 'unknown') {
    return { ...base, state: { waiting: { reason: 'ContainerCreating' } }, ready: false, started: false };
  }
  // Exited: either finished for good, or waiting to restart.
  if (shouldRestart(pod, c) && runtime.sandbox?.state === 'ready') {
    const delay = restartBackoffMs(c.restartCount);
    const inBackoff = (c.finishedAt ?? now) + delay > now;
    const reason = wait?.reason ?? (inBackoff ? 'CrashLoopBackOff' : 'ContainerCreating');
    const message =
      wait?.message ??
      (inBackoff ? `back-off ${Math.round(delay / 1000)}s restarting failed container=${name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})` : undefined);
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
  if (all.some((c) => c === undefined)) return 'Pending';
  if (podIsDone(pod, runtime)) {
    return all.every((c) => (c?.exitCode ?? 1) === 0) ? 'Succeeded' : 'Failed';
  }
  if (statuses.some((s) => s.state?.running || s.lastState?.terminated)) return 'Running';
  if (statuses.every((s) => s.state?.terminated)) return 'Running';
  return 'Pending';
}

export function computePodStatus(input: StatusInput): PodStatus {
  const { pod, runtime, now } = input;
  const nowIso = iso(now)!;
  const statuses = pod.spec.containers.map((c) => containerStatus(input, c.name, c.image));
  const phase = computePodPhase(pod, runtime, statuses);
  const prev = pod.status?.conditions;
  const allReady = statuses.every((s) => s.ready);
  const notReadyNames = statuses.filter((s) => !s.ready).map((s) => s.name);
  const conds: PodCondition[] = [
    condition('Initialized', true, prev, nowIso),
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
    containerStatuses: statuses,
    ...(pod.status?.qosClass ? { qosClass: pod.status.qosClass } : {}),
  };
  return status;
}
