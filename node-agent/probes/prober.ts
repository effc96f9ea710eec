// The prober: per running container, one worker per probe it has (startup,
// liveness, readiness), each on its own period, with the kubelet's semantics:
//  - nothing is probed before initialDelaySeconds after the container started;
//  - a result flips only after successThreshold / failureThreshold consecutive
//    results of the other kind;
//  - a startup probe gates the other two: until it succeeds the container is
//    not `started`, liveness and readiness do not run, and the container is
//    not ready;
//  - readiness drives `ready` (without a readiness probe: ready once started);
//  - liveness or startup reaching failureThreshold asks for the container to be
//    killed (the restart policy and back-off restart it), then holds until a new
//    instance of the container appears; the kill is remembered per instance
//    (markKilled) so it restarts unless restartPolicy is Never, whatever its
//    exit code.
// Results belong to one container instance (by id): a restarted container
// starts from scratch. Time comes from an injected clock.
import type { Clock, Container, Logger, Pod, Probe } from '../../api/index.js';
import type { PodRuntimeStatus } from '../sync/types.js';
import type { ProbeResult } from './handlers.js';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

/** kube-apiserver fills these in; used when a probe reaches the agent without them. */
const PROBE_DEFAULTS = { periodSeconds: 10, successThreshold: 1, failureThreshold: 3 } as const;

const FIELD: Record<ProbeKind, 'startupProbe' | 'livenessProbe' | 'readinessProbe'> = {
  startup: 'startupProbe',
  liveness: 'livenessProbe',
  readiness: 'readinessProbe',
};

/** `Liveness probe failed: …` — the event message prefix for a kind. */
export const PROBE_TITLE: Record<ProbeKind, string> = { startup: 'Startup', liveness: 'Liveness', readiness: 'Readiness' };

export interface ProbeCallbacks {
  /** A container's ready or started flag changed: write the pod status now. */
  changed(uid: string): void;
  /** One probe failed (the agent records `Unhealthy`). */
  failed(pod: Pod, container: string, kind: ProbeKind, message: string): void;
  /** Liveness or startup reached failureThreshold: kill the container within GRACESECONDS. */
  kill(pod: Pod, container: string, containerId: string, kind: ProbeKind, graceSeconds: number): void;
}

export interface ProberOptions {
  clock: Clock;
  /** Runs PROBE's handler once against the container (its timeout included). */
  run(pod: Pod, container: Container, probe: Probe, host: string): Promise<ProbeResult>;
  callbacks: ProbeCallbacks;
  log?: Logger;
}

/** What the status computation asks of a pod's probes (undefined: the container is not probed). */
export interface PodProbeLookup {
  ready(container: string, containerId: string): boolean | undefined;
  started(container: string, containerId: string): boolean | undefined;
}

interface ContainerProbes {
  containerId: string;
  pod: Pod;
  spec: Container;
  host: string;
  startedAt: number;
  started: boolean;
  ready: boolean;
  workers: ProbeWorker[];
}

class ProbeWorker {
  private timer: { cancel(): void } | undefined;
  private stopped = false;
  private lastOk: boolean | undefined;
  private run = 0;
  /** The current result: readiness starts failed, liveness passing, startup unknown. */
  result: boolean | undefined;

  constructor(
    readonly kind: ProbeKind,
    private readonly probe: Probe,
    private readonly entry: ContainerProbes,
    private readonly mgr: ProbeManager,
  ) {
    this.result = kind === 'liveness' ? true : kind === 'readiness' ? false : undefined;
  }

  private get periodMs(): number {
    return (this.probe.periodSeconds || PROBE_DEFAULTS.periodSeconds) * 1000;
  }

  start(): void {
    const now = this.mgr.clock.now();
    const first = Math.max(now, this.entry.startedAt + (this.probe.initialDelaySeconds ?? 0) * 1000);
    this.schedule(first - now);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.mgr.clock.setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const began = this.mgr.clock.now();
    const e = this.entry;
    // The startup probe gates the others; once passed, it is not run again.
    if (this.kind === 'startup' && e.started) return;
    if (this.kind !== 'startup' && !e.started) {
      this.schedule(this.periodMs);
      return;
    }
    let r: ProbeResult;
    try {
      r = await this.mgr.runProbe(e, this.probe);
    } catch (err) {
      r = { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
    if (this.stopped) return;
    this.observe(r);
    if (this.stopped) return;
    this.schedule(Math.max(0, began + this.periodMs - this.mgr.clock.now()));
  }

  private observe(r: ProbeResult): void {
    const e = this.entry;
    if (!r.ok) this.mgr.callbacks.failed(e.pod, e.spec.name, this.kind, r.message);
    this.run = this.lastOk === r.ok ? this.run + 1 : 1;
    this.lastOk = r.ok;
    const threshold = r.ok ? (this.probe.successThreshold || PROBE_DEFAULTS.successThreshold) : (this.probe.failureThreshold || PROBE_DEFAULTS.failureThreshold);
    if (this.run < threshold || this.result === r.ok) return;
    this.result = r.ok;
    switch (this.kind) {
      case 'readiness':
        this.mgr.setFlags(e);
        break;
      case 'startup':
        if (r.ok) this.mgr.setFlags(e);
        else this.kill();
        break;
      case 'liveness':
        if (!r.ok) this.kill();
        break;
    }
  }

  private kill(): void {
    const e = this.entry;
    // On hold until the container is replaced: this instance is going away.
    this.stop();
    const grace = this.probe.terminationGracePeriodSeconds ?? e.pod.spec.terminationGracePeriodSeconds ?? 30;
    // Noted before the kill, so no sync can see the exited instance without knowing why it exited.
    this.mgr.noteKill(e, this.kind === 'startup' ? 'startup' : 'liveness');
    this.mgr.callbacks.kill(e.pod, e.spec.name, e.containerId, this.kind, grace);
  }
}

export class ProbeManager {
  readonly clock: Clock;
  readonly callbacks: ProbeCallbacks;
  private readonly pods = new Map<string, Map<string, ContainerProbes>>();
  /**
   * Per pod, the container instances (by id) killed because a liveness or
   * startup probe failed, kept until the instance is replaced: the plan restarts
   * them whatever their exit code (see RuntimeContainer.killedByProbe).
   */
  private readonly kills = new Map<string, Map<string, 'liveness' | 'startup'>>();

  constructor(private readonly opts: ProberOptions) {
    this.clock = opts.clock;
    this.callbacks = opts.callbacks;
  }

  /** @internal */
  runProbe(e: ContainerProbes, probe: Probe): Promise<ProbeResult> {
    return this.opts.run(e.pod, e.spec, probe, e.host);
  }

  /** @internal Recomputes started/ready of E; tells the agent when either changed. */
  setFlags(e: ContainerProbes): void {
    const startup = e.workers.find((w) => w.kind === 'startup');
    const readiness = e.workers.find((w) => w.kind === 'readiness');
    const started = startup ? startup.result === true : true;
    const ready = started && (readiness ? readiness.result === true : true);
    if (started === e.started && ready === e.ready) return;
    e.started = started;
    e.ready = ready;
    this.opts.log?.debug({ pod: `${e.pod.metadata.namespace}/${e.pod.metadata.name}`, container: e.spec.name, started, ready }, 'probe result changed');
    this.callbacks.changed(e.pod.metadata.uid!);
  }

  /** @internal The probe of E's container instance failed: it is being killed. */
  noteKill(e: ContainerProbes, kind: 'liveness' | 'startup'): void {
    const uid = e.pod.metadata.uid!;
    const m = this.kills.get(uid) ?? new Map<string, 'liveness' | 'startup'>();
    m.set(e.containerId, kind);
    this.kills.set(uid, m);
  }

  /**
   * Marks the container instances of RUNTIME that were killed for a failed
   * liveness or startup probe (`killedByProbe`), so the plan and the status
   * treat their exit as a failure; returns RUNTIME.
   */
  markKilled(runtime: PodRuntimeStatus): PodRuntimeStatus {
    const m = this.kills.get(runtime.uid);
    if (!m) return runtime;
    for (const c of runtime.containers) {
      const kind = m.get(c.id);
      if (kind) c.killedByProbe = kind;
    }
    return runtime;
  }

  /** Forgets kills of instances the runtime no longer reports as a container's latest: they were replaced. */
  private pruneKills(uid: string, runtime: PodRuntimeStatus): void {
    const m = this.kills.get(uid);
    if (!m) return;
    const current = new Set(runtime.containers.map((c) => c.id));
    for (const id of [...m.keys()]) if (!current.has(id)) m.delete(id);
    if (m.size === 0) this.kills.delete(uid);
  }

  /**
   * Brings the pod's workers in line with what runs: a worker set per running
   * container that has probes (new instance: new workers, results reset),
   * none for containers that are not running.
   */
  update(pod: Pod, runtime: PodRuntimeStatus, host: string): void {
    const uid = pod.metadata.uid!;
    this.pruneKills(uid, runtime);
    const entries = this.pods.get(uid) ?? new Map<string, ContainerProbes>();
    const specs = [...(pod.spec.initContainers ?? []).filter((c) => (c as { restartPolicy?: string }).restartPolicy === 'Always'), ...pod.spec.containers];
    const wanted = new Set<string>();
    for (const spec of specs) {
      if (!spec.livenessProbe && !spec.readinessProbe && !spec.startupProbe) continue;
      const rc = runtime.containers.find((c) => c.name === spec.name);
      if (!rc || rc.state !== 'running' || rc.sandboxId !== runtime.sandbox?.id) continue;
      wanted.add(spec.name);
      const cur = entries.get(spec.name);
      if (cur && cur.containerId === rc.id) {
        cur.pod = pod;
        continue;
      }
      cur?.workers.forEach((w) => w.stop());
      const e: ContainerProbes = { containerId: rc.id, pod, spec, host, startedAt: rc.startedAt ?? this.clock.now(), started: !spec.startupProbe, ready: false, workers: [] };
      for (const kind of ['startup', 'liveness', 'readiness'] as const) {
        const probe = spec[FIELD[kind]];
        if (probe) e.workers.push(new ProbeWorker(kind, probe, e, this));
      }
      e.ready = e.started && !spec.readinessProbe;
      entries.set(spec.name, e);
      for (const w of e.workers) w.start();
    }
    for (const [name, e] of entries) {
      if (wanted.has(name)) continue;
      e.workers.forEach((w) => w.stop());
      entries.delete(name);
    }
    if (entries.size > 0) this.pods.set(uid, entries);
    else this.pods.delete(uid);
  }

  /** Stops every worker of the pod (it is gone or being deleted). */
  removePod(uid: string): void {
    for (const e of this.pods.get(uid)?.values() ?? []) e.workers.forEach((w) => w.stop());
    this.pods.delete(uid);
    this.kills.delete(uid);
  }

  lookup(uid: string): PodProbeLookup {
    const entries = this.pods.get(uid);
    const find = (name: string, id: string) => {
      const e = entries?.get(name);
      return e && e.containerId === id ? e : undefined;
    };
    return {
      ready: (name, id) => find(name, id)?.ready,
      started: (name, id) => find(name, id)?.started,
    };
  }

  stop(): void {
    for (const uid of [...this.pods.keys()]) this.removePod(uid);
  }
}
