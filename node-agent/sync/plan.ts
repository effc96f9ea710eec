// Decide, then act: computePodActions compares a pod's spec with what the
// runtime has for it and returns a plan. It is pure and table-tested; the pod
// worker's executor carries the plan out.
import { createHash } from 'node:crypto';
import type { Container, Pod } from '../../api/index.js';
import type { PodRuntimeStatus, RuntimeContainer } from './types.js';

export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;

export interface ContainerToStart {
  name: string;
  /** The restart count the new instance carries. */
  restartCount: number;
}

export interface ContainerToKill {
  id: string;
  name: string;
  reason: 'PodDeleted' | 'SpecChanged' | 'SandboxChanged' | 'PodTerminal' | 'Unknown';
}

export interface PodActions {
  /** Stop every container and the sandbox (pod deleted, terminal, or sandbox to be recreated). */
  killPod: boolean;
  createSandbox: boolean;
  containersToKill: ContainerToKill[];
  containersToStart: ContainerToStart[];
  /** Containers that should restart but are in CrashLoopBackOff until `until`. */
  backingOff: { name: string; until: number; delayMs: number }[];
}

/** Hash of what makes a container instance: change any of it and the container is replaced. */
export function containerSpecHash(c: Container): string {
  const relevant = {
    image: c.image,
    command: c.command ?? null,
    args: c.args ?? null,
    env: c.env ?? null,
    workingDir: c.workingDir ?? null,
    ports: c.ports ?? null,
    resources: c.resources ?? null,
    volumeMounts: c.volumeMounts ?? null,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

/** Kubernetes-style crash-loop back-off: 0 for the first restart, then 10 s doubling to 5 min. */
export function restartBackoffMs(restartCount: number): number {
  if (restartCount <= 0) return 0;
  return Math.min(BACKOFF_INITIAL_MS * 2 ** (restartCount - 1), BACKOFF_MAX_MS);
}

/** A sidecar: an init container with `restartPolicy: Always` (started before, and outliving, the app containers). */
export function isSidecar(c: Container | undefined): boolean {
  return (c as { restartPolicy?: string } | undefined)?.restartPolicy === 'Always';
}

type ContainerRole = 'app' | 'init' | 'sidecar';

function roleOf(pod: Pod, name: string): ContainerRole {
  const init = pod.spec.initContainers?.find((c) => c.name === name);
  if (!init) return 'app';
  return isSidecar(init) ? 'sidecar' : 'init';
}

/** The spec of a container of the pod, app or init, by name. */
export function podContainerSpec(pod: Pod, name: string): Container | undefined {
  return pod.spec.containers.find((c) => c.name === name) ?? pod.spec.initContainers?.find((c) => c.name === name);
}

/**
 * Whether an exited container is run again: app containers per the pod's
 * restartPolicy; init containers until they succeed, unless the pod's policy is
 * Never; sidecars always (while the pod runs: see appContainersDone). An app
 * container killed for a failed liveness or startup probe is restarted unless
 * the policy is Never, whatever it exited with: as the kubelet, the kill is the
 * failure, even when the process answers SIGTERM with exit 0.
 */
export function shouldRestart(pod: Pod, c: RuntimeContainer): boolean {
  if (c.state !== 'exited') return false;
  const policy = pod.spec.restartPolicy ?? 'Always';
  switch (roleOf(pod, c.name)) {
    case 'sidecar':
      return true;
    case 'init':
      return policy !== 'Never' && (c.exitCode ?? 1) !== 0;
    default:
      break;
  }
  if (c.killedByProbe !== undefined) return policy !== 'Never';
  switch (policy) {
    case 'Always':
      return true;
    case 'OnFailure':
      return (c.exitCode ?? 1) !== 0;
    default:
      return false;
  }
}

export function isAlive(c: RuntimeContainer): boolean {
  return c.state === 'running' || c.state === 'created' || c.state === 'unknown';
}

/** True when the pod's app containers have run to completion and its restart policy will not run them again. */
export function appContainersDone(pod: Pod, status: PodRuntimeStatus): boolean {
  if ((pod.spec.restartPolicy ?? 'Always') === 'Always') return false;
  const byName = new Map(status.containers.map((c) => [c.name, c]));
  return pod.spec.containers.every((spec) => {
    const c = byName.get(spec.name);
    return c !== undefined && c.state === 'exited' && !shouldRestart(pod, c);
  });
}

/** The sidecars of the pod that still run. */
function aliveSidecars(pod: Pod, status: PodRuntimeStatus): RuntimeContainer[] {
  const names = new Set((pod.spec.initContainers ?? []).filter(isSidecar).map((c) => c.name));
  return status.containers.filter((c) => names.has(c.name) && isAlive(c));
}

/** Where a pod's initialization stands, as the plan and the status both need it. */
export interface InitProgress {
  /** Every init container completed (sidecars: started), or an app container already ran in this sandbox. */
  initialized: boolean;
  /** Init containers not done yet, in spec order (the Initialized condition's message). */
  incomplete: string[];
  /** A regular init container failed and the pod's restartPolicy is Never: the pod fails. */
  failed: boolean;
}

export function initProgress(pod: Pod, status: PodRuntimeStatus): InitProgress {
  const inits = pod.spec.initContainers ?? [];
  const sandboxId = status.sandbox?.id;
  const current = (name: string) => {
    const c = status.containers.find((x) => x.name === name);
    return c && c.sandboxId === sandboxId ? c : undefined;
  };
  const never = (pod.spec.restartPolicy ?? 'Always') === 'Never';
  let failed = false;
  const incomplete: string[] = [];
  for (const spec of inits) {
    const c = status.containers.find((x) => x.name === spec.name);
    if (!isSidecar(spec) && never && c && c.state === 'exited' && (c.exitCode ?? 1) !== 0) failed = true;
  }
  // Once an app container ran in this sandbox the pod has been initialized, whatever
  // happens to its init containers later (a sidecar restarting, old records gone).
  const appStarted = sandboxId !== undefined && pod.spec.containers.some((s) => current(s.name) !== undefined);
  for (const spec of inits) {
    const c = current(spec.name);
    const done = isSidecar(spec) ? c !== undefined && c.state === 'running' : c !== undefined && c.state === 'exited' && c.exitCode === 0;
    if (!done) incomplete.push(spec.name);
  }
  return { initialized: appStarted || incomplete.length === 0, incomplete: appStarted ? [] : incomplete, failed };
}

/**
 * True when a pod has run to completion and its restart policy will not run
 * anything again: its app containers are done (or an init container failed
 * under restartPolicy Never), and no sidecar still runs.
 */
export function podIsDone(pod: Pod, status: PodRuntimeStatus): boolean {
  const finished = appContainersDone(pod, status) || ((pod.spec.initContainers?.length ?? 0) > 0 && initProgress(pod, status).failed);
  return finished && aliveSidecars(pod, status).length === 0;
}

export const DEADLINE_EXCEEDED_REASON = 'DeadlineExceeded';
export const DEADLINE_EXCEEDED_MESSAGE = 'Pod was active on the node longer than the specified deadline';

/** When `spec.activeDeadlineSeconds` runs out (ms since the epoch), counted from status.startTime; undefined: no deadline (yet). */
export function activeDeadline(pod: Pod): number | undefined {
  const ads = pod.spec.activeDeadlineSeconds;
  const start = pod.status?.startTime ? Date.parse(pod.status.startTime) : NaN;
  if (typeof ads !== 'number' || ads <= 0 || Number.isNaN(start)) return undefined;
  return start + ads * 1000;
}

export function activeDeadlineExceeded(pod: Pod, now: number): boolean {
  const d = activeDeadline(pod);
  return d !== undefined && now >= d;
}

/** Kills in the order the kubelet stops a pod: app containers, then sidecars in reverse order. */
function killOrder(pod: Pod, alive: RuntimeContainer[]): RuntimeContainer[] {
  const sidecars = (pod.spec.initContainers ?? []).filter(isSidecar).map((c) => c.name);
  const rank = (c: RuntimeContainer) => {
    const i = sidecars.indexOf(c.name);
    return i < 0 ? -1 : sidecars.length - i;
  };
  return [...alive].sort((a, b) => rank(a) - rank(b));
}

export function computePodActions(pod: Pod, status: PodRuntimeStatus, now: number): PodActions {
  const actions: PodActions = { killPod: false, createSandbox: false, containersToKill: [], containersToStart: [], backingOff: [] };
  const alive = killOrder(pod, status.containers.filter(isAlive));

  // Deleted pods and terminal ones: stop whatever still runs and tear the sandbox
  // down (the pod IP goes back), start nothing. A terminal phase is final, as in
  // Kubernetes: nothing runs again even when the runtime no longer has the pod.
  // (The runtime keeps a finished pod's exited containers, with their logs, until
  // the pod is deleted.) A pod past its activeDeadlineSeconds is stopped the same
  // way (its status then says Failed, DeadlineExceeded).
  const deleting = pod.metadata.deletionTimestamp !== undefined;
  const terminal = pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded' || activeDeadlineExceeded(pod, now);
  if (deleting || terminal) {
    actions.killPod = status.sandbox?.state === 'ready' || alive.length > 0;
    for (const c of alive) actions.containersToKill.push({ id: c.id, name: c.name, reason: deleting ? 'PodDeleted' : 'PodTerminal' });
    return actions;
  }

  const byName = new Map(status.containers.map((c) => [c.name, c]));
  const sandboxOk = status.sandbox?.state === 'ready';
  const inits = pod.spec.initContainers ?? [];

  if (!sandboxOk) {
    // A pod whose containers all finished for good does not get a new sandbox.
    if (status.sandbox && podIsDone(pod, status)) return actions;
    actions.createSandbox = true;
    actions.killPod = status.sandbox !== undefined || alive.length > 0;
    for (const c of alive) actions.containersToKill.push({ id: c.id, name: c.name, reason: 'SandboxChanged' });
    if (inits.length > 0) {
      // A new sandbox is initialized again, from its first init container.
      const first = inits[0]!;
      const prev = byName.get(first.name);
      actions.containersToStart.push({ name: first.name, restartCount: prev ? prev.restartCount + 1 : 0 });
      return actions;
    }
    for (const spec of pod.spec.containers) {
      const prev = byName.get(spec.name);
      // With a new sandbox, containers that finished for good stay finished.
      if (prev && prev.state === 'exited' && !shouldRestart(pod, prev)) continue;
      actions.containersToStart.push({ name: spec.name, restartCount: prev ? prev.restartCount + 1 : 0 });
    }
    return actions;
  }

  const appsDone = appContainersDone(pod, status);
  /** Plans one container against the spec; returns whether it is now running as specified. */
  const reconcile = (spec: Container): 'running' | 'exited' | 'started' | 'waiting' => {
    const c = byName.get(spec.name);
    if (!c) {
      actions.containersToStart.push({ name: spec.name, restartCount: 0 });
      return 'started';
    }
    if (c.sandboxId !== status.sandbox?.id) {
      if (isAlive(c)) actions.containersToKill.push({ id: c.id, name: c.name, reason: 'SandboxChanged' });
      actions.containersToStart.push({ name: spec.name, restartCount: c.restartCount + 1 });
      return 'started';
    }
    if (isAlive(c)) {
      if (c.specHash !== containerSpecHash(spec)) {
        actions.containersToKill.push({ id: c.id, name: c.name, reason: 'SpecChanged' });
        actions.containersToStart.push({ name: spec.name, restartCount: c.restartCount + 1 });
        return 'started';
      }
      return c.state === 'running' ? 'running' : 'waiting';
    }
    if (!shouldRestart(pod, c)) return 'exited';
    const delayMs = restartBackoffMs(c.restartCount);
    const until = (c.finishedAt ?? now) + delayMs;
    if (until > now) {
      actions.backingOff.push({ name: c.name, until, delayMs });
      return 'waiting';
    }
    actions.containersToStart.push({ name: spec.name, restartCount: c.restartCount + 1 });
    return 'started';
  };

  if (inits.length > 0) {
    const progress = initProgress(pod, status);
    if (progress.failed) return actions; // the pod fails (status); the terminal branch stops the sidecars
    if (appsDone) {
      // The app containers are done: the sidecars stop (last started, first stopped) and the pod completes.
      for (const c of alive) if (roleOf(pod, c.name) === 'sidecar') actions.containersToKill.push({ id: c.id, name: c.name, reason: 'PodTerminal' });
      return actions;
    }
    if (progress.initialized) {
      // Sidecars keep running beside the app containers (restarted with back-off).
      for (const spec of inits) if (isSidecar(spec)) reconcile(spec);
    } else {
      // One init container at a time, in order: the next starts once this one completed
      // (a sidecar: once it runs).
      for (const spec of inits) {
        const c = byName.get(spec.name);
        const inCurrent = c !== undefined && c.sandboxId === status.sandbox?.id;
        if (!isSidecar(spec) && inCurrent && c.state === 'exited' && c.exitCode === 0) continue;
        const r = reconcile(spec);
        if (isSidecar(spec) && r === 'running') continue;
        return actions;
      }
    }
  }

  for (const spec of pod.spec.containers) reconcile(spec);
  // Containers of names no longer in the spec (never in Kubernetes, but safe).
  const names = new Set([...pod.spec.containers, ...inits].map((c) => c.name));
  for (const c of alive) if (!names.has(c.name)) actions.containersToKill.push({ id: c.id, name: c.name, reason: 'Unknown' });
  return actions;
}
