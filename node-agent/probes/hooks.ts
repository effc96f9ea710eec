// Lifecycle hooks: postStart right after a container starts (a failure kills
// the container, FailedPostStartHook), preStop before it is sent SIGTERM,
// inside the grace period (FailedPreStopHook on failure; the stop goes on).
import type { Container, LifecycleHandler, Pod } from '../../api/index.js';
import { runHandler, type HandlerTarget, type ProbeResult } from './handlers.js';

export type HookKind = 'postStart' | 'preStop';

/** The event reason for a failed hook. */
export const HOOK_FAILED_REASON: Record<HookKind, string> = { postStart: 'FailedPostStartHook', preStop: 'FailedPreStopHook' };

/** The kubelet shows at least this long between the preStop hook and SIGKILL. */
export const MIN_GRACE_AFTER_PRESTOP_SECONDS = 2;

/** The hook's handler for C, if it has one. */
export function hookOf(c: Container, kind: HookKind): LifecycleHandler | undefined {
  return c.lifecycle?.[kind] ?? undefined;
}

/** The kubelet's words for a failed hook: `Exec lifecycle hook ([sh -c exit 1]) for Container "c" in Pod "p_ns(uid)" failed - error: …`. */
export function hookFailureMessage(h: LifecycleHandler, c: Container, pod: Pod, r: ProbeResult): string {
  const who = `for Container ${JSON.stringify(c.name)} in Pod "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})"`;
  if (h.exec) return `Exec lifecycle hook ([${(h.exec.command ?? []).join(' ')}]) ${who} failed - error: ${r.message}, message: ${JSON.stringify(r.message)}`;
  if (h.httpGet) return `HTTP lifecycle hook (${h.httpGet.path ?? '/'}) ${who} failed - error: ${r.message}`;
  return `Sleep lifecycle hook ${who} failed - error: ${r.message}`;
}

/** Runs one hook within TIMEOUTMS (a sleep ends early when SIGNAL aborts). */
export function runHook(h: LifecycleHandler, t: HandlerTarget, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  return runHandler(h, t, timeoutMs, signal);
}
