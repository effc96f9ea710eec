// Stopping a pod's containers in the kubelet's order: the app containers (and
// any regular init container still running) first, all at once, each with its
// preStop hook and then SIGTERM; only when every one of them has exited, the
// sidecars, one at a time in reverse order of declaration (the last declared
// started last, so it goes first), each with its own preStop and SIGTERM. It
// all shares one grace period; a stage that starts late gets what is left of
// it, but at least the kubelet's minimum window for SIGTERM.
import type { Clock, Pod } from '../../api/index.js';
import { MIN_GRACE_AFTER_PRESTOP_SECONDS } from '../probes/hooks.js';
import { isSidecar, type ContainerToKill } from './plan.js';

export interface TerminationSteps {
  clock: Clock;
  /** The `Killing` event of one container, when its turn comes. */
  killing(c: ContainerToKill): Promise<void>;
  /** Runs the preStop hooks of CONTAINERS at once within GRACESECONDS; resolves to the seconds left for SIGTERM → SIGKILL. */
  preStop(containers: ContainerToKill[], graceSeconds: number): Promise<number>;
  /** SIGTERM, up to GRACESECONDS, SIGKILL; resolves once the container has exited. */
  stop(c: ContainerToKill, graceSeconds: number): Promise<void>;
  /** A stop failed: the others go on (what is left is killed with the pod). */
  failed(c: ContainerToKill, err: unknown): void;
}

/**
 * CONTAINERS grouped in the order they are stopped: first everything that is
 * not a sidecar, then one group per sidecar, last declared first. Empty groups
 * are left out.
 */
export function terminationStages(pod: Pod, containers: ContainerToKill[]): ContainerToKill[][] {
  const sidecars = (pod.spec.initContainers ?? []).filter(isSidecar).map((c) => c.name);
  const stages: ContainerToKill[][] = [];
  const first = containers.filter((c) => !sidecars.includes(c.name));
  if (first.length > 0) stages.push(first);
  for (const name of [...sidecars].reverse()) {
    const group = containers.filter((c) => c.name === name);
    if (group.length > 0) stages.push(group);
  }
  return stages;
}

/**
 * Stops CONTAINERS of POD stage by stage (see terminationStages) within
 * GRACESECONDS in all. A grace period of 0 (a forced delete) runs no hooks and
 * kills at once. Never rejects: a failed stop is reported and the next stage
 * still runs once the others of its stage are done.
 */
export async function stopInOrder(pod: Pod, containers: ContainerToKill[], graceSeconds: number, steps: TerminationSteps): Promise<void> {
  const deadline = steps.clock.now() + graceSeconds * 1000;
  // However late a stage starts, its containers get a moment for SIGTERM (none when forced).
  const floor = Math.min(graceSeconds, MIN_GRACE_AFTER_PRESTOP_SECONDS);
  for (const stage of terminationStages(pod, containers)) {
    for (const c of stage) await steps.killing(c);
    const left = Math.ceil((deadline - steps.clock.now()) / 1000);
    const afterHooks = left > 0 ? await steps.preStop(stage, left).catch(() => left) : 0;
    const grace = Math.max(floor, afterHooks);
    await Promise.all(stage.map((c) => steps.stop(c, grace).catch((e: unknown) => steps.failed(c, e))));
  }
}
