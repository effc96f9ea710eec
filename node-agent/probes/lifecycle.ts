// What the agent's executor calls around container starts and stops: the
// postStart hook after a start, the preStop hooks before a stop (inside the
// grace period), probe runs against a container, and the kill a failed
// liveness/startup probe asks for. Events are worded as the kubelet words them.
import { toFlotillaError, type Clock, type Container, type Logger, type Pod, type Probe } from '../../api/index.js';
import type { PodRuntime } from '../pod-runtime.js';
import { runHandler, runtimeExec, type HandlerTarget, type ProbeResult } from './handlers.js';
import { PROBE_TITLE } from './prober.js';
import { HOOK_FAILED_REASON, MIN_GRACE_AFTER_PRESTOP_SECONDS, hookFailureMessage, hookOf } from './hooks.js';

export type RecordEvent = (pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;

export interface LifecycleRunnerOptions {
  runtime: PodRuntime;
  nodeIP: string;
  clock: Clock;
  event: RecordEvent;
  log: Logger;
}

/** How long a postStart hook may run before it counts as failed. */
export const POST_START_TIMEOUT_MS = 120_000;

/** The same Unhealthy event (pod, container, probe, message) is recorded at most this often. */
export const UNHEALTHY_EVENT_EVERY_MS = 30_000;

export class LifecycleRunner {
  private readonly lastUnhealthy = new Map<string, number>();

  constructor(private readonly opts: LifecycleRunnerOptions) {}

  /**
   * Records `Unhealthy` for one failed probe (`Liveness probe failed: …`), but a
   * probe failing the same way every period does not write an Event each time.
   */
  unhealthy(pod: Pod, container: string, kind: 'startup' | 'liveness' | 'readiness', message: string): void {
    const now = this.opts.clock.now();
    for (const [k, at] of this.lastUnhealthy) if (now - at >= UNHEALTHY_EVENT_EVERY_MS) this.lastUnhealthy.delete(k);
    const key = `${pod.metadata.uid}\0${container}\0${kind}\0${message}`;
    if (this.lastUnhealthy.has(key)) return;
    this.lastUnhealthy.set(key, now);
    void this.opts.event(pod, 'Warning', 'Unhealthy', `${PROBE_TITLE[kind]} probe failed: ${message}`);
  }

  /** The address probes and hooks use: the pod IP, or the node's for hostNetwork pods. */
  host(pod: Pod, podIP: string | undefined): string {
    return pod.spec.hostNetwork ? this.opts.nodeIP : (podIP ?? this.opts.nodeIP);
  }

  target(pod: Pod, container: Container, host: string): HandlerTarget {
    return { pod, container, host, exec: runtimeExec(this.opts.runtime, pod, container.name) };
  }

  /** A hollow runtime (scale tests) runs nothing: its probes and hooks pass at once. */
  private get hollow(): boolean {
    return (this.opts.runtime as { hollow?: boolean }).hollow === true;
  }

  /** One probe run (the prober's `run`). */
  runProbe(pod: Pod, container: Container, probe: Probe, host: string): Promise<ProbeResult> {
    if (this.hollow) return Promise.resolve({ ok: true, message: '' });
    return runHandler(probe, this.target(pod, container, host), (probe.timeoutSeconds || 1) * 1000);
  }

  /**
   * Runs the container's postStart hook, if any. On failure records
   * FailedPostStartHook, kills the container and returns false (the restart
   * policy takes it from there).
   */
  async postStart(pod: Pod, c: Container, podIP: string | undefined, graceSeconds: number): Promise<boolean> {
    const h = hookOf(c, 'postStart');
    if (!h || this.hollow) return true;
    const r = await runHandler(h, this.target(pod, c, this.host(pod, podIP)), POST_START_TIMEOUT_MS);
    if (r.ok) return true;
    await this.opts.event(pod, 'Warning', HOOK_FAILED_REASON.postStart, hookFailureMessage(h, c, pod, r));
    await this.opts.event(pod, 'Normal', 'Killing', `FailedPostStartHook`);
    const id = (await this.opts.runtime.podStatus(pod)).containers.find((x) => x.name === c.name && x.state === 'running')?.id;
    if (id) await this.opts.runtime.stopContainer(pod, id, graceSeconds);
    return false;
  }

  /**
   * Runs the preStop hooks of CONTAINERS (those that have one) at once, no
   * longer than the grace period; returns the seconds left for SIGTERM → SIGKILL
   * (at least the kubelet's minimum of 2 when a hook ran).
   */
  async preStop(pod: Pod, containers: { name: string; id: string }[], podIP: string | undefined, graceSeconds: number): Promise<number> {
    const withHook = containers
      .map((x) => ({ ...x, spec: [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === x.name) }))
      .filter((x): x is { name: string; id: string; spec: Container } => x.spec !== undefined && hookOf(x.spec, 'preStop') !== undefined);
    if (withHook.length === 0 || graceSeconds <= 0 || this.hollow) return graceSeconds;
    const began = this.opts.clock.now();
    const budgetMs = graceSeconds * 1000;
    const ac = new AbortController();
    const host = this.host(pod, podIP);
    const timer = this.opts.clock.setTimeout(() => ac.abort(), budgetMs);
    await Promise.all(
      withHook.map(async (x) => {
        const h = hookOf(x.spec, 'preStop')!;
        let r: ProbeResult;
        try {
          const run = runHandler(h, this.target(pod, x.spec, host), budgetMs, ac.signal);
          const cut = new Promise<ProbeResult>((resolve) => ac.signal.addEventListener('abort', () => resolve({ ok: false, message: `preStop hook did not finish within the grace period (${graceSeconds}s)` }), { once: true }));
          r = await Promise.race([run, cut]);
        } catch (e) {
          r = { ok: false, message: toFlotillaError(e).message };
        }
        // A sleep cut short by the grace period did what it was for.
        if (!r.ok && !(h.sleep && ac.signal.aborted)) {
          this.opts.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, container: x.name, err: r.message }, 'preStop hook failed');
          await this.opts.event(pod, 'Warning', HOOK_FAILED_REASON.preStop, hookFailureMessage(h, x.spec, pod, r));
        }
      }),
    );
    timer.cancel();
    const usedS = (this.opts.clock.now() - began) / 1000;
    return Math.max(MIN_GRACE_AFTER_PRESTOP_SECONDS, Math.ceil(graceSeconds - usedS));
  }
}
