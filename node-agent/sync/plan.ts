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

export function shouldRestart(pod: Pod, c: RuntimeContainer): boolean {
  if (c.state !== 'exited') return false;
  switch (pod.spec.restartPolicy ?? 'Always') {
    case 'Always':
      return true;
    case 'OnFailure':
      return (c.exitCode ?? 1) !== 0;
    default:
      return false;
  }
}

function isAlive(c: RuntimeContainer): boolean {
  return c.state === 'running' || c.state === 'created' || c.state === 'unknown';
}

/** True when a pod has run to completion and its restart policy will not run anything again. */
export function podIsDone(pod: Pod, status: PodRuntimeStatus): boolean {
  if ((pod.spec.restartPolicy ?? 'Always') === 'Always') return false;
  const byName = new Map(status.containers.map((c) => [c.name, c]));
  return pod.spec.containers.every((spec) => {
    const c = byName.get(spec.name);
    return c !== undefined && c.state === 'exited' && !shouldRestart(pod, c);
  });
}

export function computePodActions(pod: Pod, status: PodRuntimeStatus, now: number): PodActions {
  const actions: PodActions = { killPod: false, createSandbox: false, containersToKill: [], containersToStart: [], backingOff: [] };
  const alive = status.containers.filter(isAlive);

  // Deleted pods and terminal ones: stop whatever still runs and tear the sandbox
  // down (the pod IP goes back), start nothing. A terminal phase is final, as in
  // Kubernetes: nothing runs again even when the runtime no longer has the pod.
  // (The runtime keeps a finished pod's exited containers, with their logs, until
  // the pod is deleted.)
  const deleting = pod.metadata.deletionTimestamp !== undefined;
  const terminal = pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';
  if (deleting || terminal) {
    actions.killPod = status.sandbox?.state === 'ready' || alive.length > 0;
    for (const c of alive) actions.containersToKill.push({ id: c.id, name: c.name, reason: deleting ? 'PodDeleted' : 'PodTerminal' });
    return actions;
  }

  const byName = new Map(status.containers.map((c) => [c.name, c]));
  const sandboxOk = status.sandbox?.state === 'ready';

  if (!sandboxOk) {
    // A pod whose containers all finished for good does not get a new sandbox.
    if (status.sandbox && podIsDone(pod, status)) return actions;
    actions.createSandbox = true;
    actions.killPod = status.sandbox !== undefined || alive.length > 0;
    for (const c of alive) actions.containersToKill.push({ id: c.id, name: c.name, reason: 'SandboxChanged' });
    for (const spec of pod.spec.containers) {
      const prev = byName.get(spec.name);
      // With a new sandbox, containers that finished for good stay finished.
      if (prev && prev.state === 'exited' && !shouldRestart(pod, prev)) continue;
      actions.containersToStart.push({ name: spec.name, restartCount: prev ? prev.restartCount + 1 : 0 });
    }
    return actions;
  }

  for (const spec of pod.spec.containers) {
    const c = byName.get(spec.name);
    if (!c) {
      actions.containersToStart.push({ name: spec.name, restartCount: 0 });
      continue;
    }
    if (c.sandboxId !== status.sandbox?.id) {
      if (isAlive(c)) actions.containersToKill.push({ id: c.id, name: c.name, reason: 'SandboxChanged' });
      actions.containersToStart.push({ name: spec.name, restartCount: c.restartCount + 1 });
      continue;
    }
    if (isAlive(c)) {
      if (c.specHash !== containerSpecHash(spec)) {
        actions.containersToKill.push({ id: c.id, name: c.name, reason: 'SpecChanged' });
        actions.containersToStart.push({ name: spec.name, restartCount: c.restartCount + 1 });
      }
      continue;
    }
    if (!shouldRestart(pod, c)) continue;
    const delayMs = restartBackoffMs(c.restartCount);
    const until = (c.finishedAt ?? now) + delayMs;
    if (until > now) {
      actions.backingOff.push({ name: c.name, until, delayMs });
      continue;
    }
    actions.containersToStart.push({ name: spec.name, restartCount: c.restartCount + 1 });
  }
  // Containers of names no longer in the spec (never in Kubernetes, but safe).
  const names = new Set(pod.spec.containers.map((c) => c.name));
  for (const c of alive) if (!names.has(c.name)) actions.containersToKill.push({ id: c.id, name: c.name, reason: 'Unknown' });
  return actions;
}
