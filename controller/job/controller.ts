// The Job controller (on the leader): reconcile(namespace/name) is level-
// triggered from the jobs and pods informers. It reads the cache, decides with
// the pure planner (plan.ts), then acts through the API: status first when
// newly ended pods are to be counted (status.uncountedTerminatedPods), then the
// batch.kubernetes.io/job-tracking finalizers, deletes and creates. Pods carry
// that finalizer from their creation until the Job has counted them, so a pod
// deleted before it was seen ending is still counted (as in Kubernetes).
// Also: ttlSecondsAfterFinished (the Job is deleted, its pods follow through
// the garbage collector) and the removal of finalizers from pods whose Job is gone.
import {
  JOB_COMPLETION_INDEX_ANNOTATION,
  JOB_TRACKING_FINALIZER,
  componentLogger,
  deepClone,
  jobKind,
  jsonEqual,
  podKind,
  realClock,
  toFlotillaError,
  type Clock,
  type DeleteOptions,
  type Job,
  type KindDescriptor,
  type KubeObject,
  type Logger,
  type Pod,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { EventRecorder } from '../events/index.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import { ExponentialBackoff, WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import { DEFAULT_BACKOFF, hasTrackingFinalizer, isJobFinished, planJob, podFinishedAt, type BackoffConfig } from './plan.js';

type Target = { res: KindDescriptor; namespace?: string; name?: string; subresource?: string };

/** What the controller writes through: the API's REST semantics (ResourceApi fits). */
export interface JobApi {
  create(t: Target, body: unknown): Promise<KubeObject>;
  update(t: Target, body: unknown): Promise<KubeObject>;
  patch(t: Target, type: 'merge', patch: unknown): Promise<KubeObject>;
  delete(t: Target, o: DeleteOptions): Promise<unknown>;
}

export interface JobControllerOptions {
  api: JobApi;
  informers: InformerFactory;
  recorder?: EventRecorder;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  /** Jobs reconciled at once. Default 2. */
  workers?: number;
  /** Back-off between failed pods; default 10 s doubling to 6 min. */
  backoff?: Partial<BackoffConfig>;
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name ?? ''}`;
const ORPHAN_PREFIX = 'pod:';

function controllerRef(o: KubeObject): { kind: string; uid: string; name: string } | undefined {
  const r = o.metadata.ownerReferences?.find((x) => x.controller === true);
  return r ? { kind: r.kind, uid: r.uid, name: r.name } : undefined;
}

/** The pod a Job creates: its template, labels, owner, finalizer; for Indexed Jobs the index (annotation, label, env, hostname). */
export function newJobPod(job: Job, index: number | undefined): Pod {
  const t = deepClone(job.spec.template);
  const name = job.metadata.name ?? '';
  const labels = { ...(t.metadata?.labels ?? {}) };
  const annotations = { ...(t.metadata?.annotations ?? {}) };
  const spec = t.spec;
  if (index !== undefined) {
    annotations[JOB_COMPLETION_INDEX_ANNOTATION] = String(index);
    labels[JOB_COMPLETION_INDEX_ANNOTATION] = String(index);
    const env = { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${JOB_COMPLETION_INDEX_ANNOTATION}']` } } };
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const list = (c.env ?? []).filter((x) => x.name !== 'JOB_COMPLETION_INDEX');
      c.env = [...list, env] as never;
    }
    spec.hostname ??= `${name}-${index}`;
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: index !== undefined ? `${name}-${index}-` : `${name}-`,
      namespace: job.metadata.namespace ?? 'default',
      labels,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      finalizers: [JOB_TRACKING_FINALIZER],
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec,
  } as Pod;
}

export class JobController {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly backoff: BackoffConfig;
  private jobs!: SharedInformer<Job>;
  private pods!: SharedInformer<Pod>;
  private queue!: WorkQueue;
  /** Pod uids this controller deleted (suspend, excess, a finished Job): not failures when they go. */
  private readonly deleted = new Set<string>();
  /** Per Job uid: when its last failure was counted (the back-off clock when the pod is gone). */
  private readonly lastFailure = new Map<string, number>();

  constructor(private readonly o: JobControllerOptions) {
    this.log = o.log ?? componentLogger('job-controller');
    this.clock = o.clock ?? realClock;
    this.backoff = { ...DEFAULT_BACKOFF, ...(o.backoff ?? {}) };
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'job', clock: this.clock, rateLimiter: new ExponentialBackoff({ baseMs: 200, maxMs: 60_000 }) });
    this.queue = queue;
    this.jobs = this.o.informers.informerFor<Job>('jobs');
    this.pods = this.o.informers.informerFor<Pod>('pods');
    const enqueue = (j: Job) => queue.add(keyOf(j));
    this.jobs.addEventHandler(
      {
        onAdd: enqueue,
        onUpdate: (_, j) => enqueue(j),
        onDelete: (j) => {
          this.lastFailure.delete(j.metadata.uid ?? '');
          // its pods lose their finalizer so they can go
          for (const p of this.pods.byIndex('owner', j.metadata.uid ?? '')) if (hasTrackingFinalizer(p)) queue.add(ORPHAN_PREFIX + keyOf(p));
        },
      },
      { signal },
    );
    const podChanged = (p: Pod) => {
      const ref = controllerRef(p);
      if (!ref || ref.kind !== 'Job') return;
      const job = this.jobs.getByName(p.metadata.namespace, ref.name);
      if (job && job.metadata.uid === ref.uid) queue.add(keyOf(job));
      else if (hasTrackingFinalizer(p)) queue.add(ORPHAN_PREFIX + keyOf(p));
    };
    this.pods.addEventHandler(
      {
        onAdd: podChanged,
        onUpdate: (_, p) => podChanged(p),
        onDelete: (p) => {
          this.deleted.delete(p.metadata.uid ?? '');
          podChanged(p);
        },
      },
      { signal },
    );
    await runController({
      name: 'job',
      queue,
      workers: this.o.workers ?? 2,
      signal,
      waitFor: [this.jobs, this.pods],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (key) => (key.startsWith(ORPHAN_PREFIX) ? this.releaseOrphan(key.slice(ORPHAN_PREFIX.length)) : this.reconcile(key)),
    });
  }

  /** A pod with the tracking finalizer whose Job is gone: the finalizer goes. */
  private async releaseOrphan(key: string): Promise<void> {
    const p = this.pods.get(key);
    if (!p || !hasTrackingFinalizer(p)) return;
    const ref = controllerRef(p);
    const job = ref ? this.jobs.getByName(p.metadata.namespace, ref.name) : undefined;
    if (job && job.metadata.uid === ref?.uid && !job.metadata.deletionTimestamp) return;
    await this.removeFinalizer(p);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.jobs.get(key);
    if (!cached) return;
    const job = { ...cached, apiVersion: 'batch/v1', kind: 'Job' } as Job;
    const uid = job.metadata.uid ?? '';
    const pods = this.pods.byIndex('owner', uid).filter((p) => controllerRef(p)?.uid === uid);
    if (job.metadata.deletionTimestamp) {
      for (const p of pods) if (hasTrackingFinalizer(p)) await this.removeFinalizer(p);
      return;
    }
    const now = this.clock.now();
    if (isJobFinished(job.status)) {
      const done = await this.finished(job, pods, now);
      if (done !== 'plan') return done;
    }
    let lastFailureMs = this.lastFailure.get(uid);
    for (const p of pods) {
      if (p.status?.phase !== 'Failed') continue;
      const at = podFinishedAt(p);
      if (at !== undefined) lastFailureMs = lastFailureMs === undefined ? at : Math.max(lastFailureMs, at);
    }
    const plan = planJob({ job, pods, now, backoff: this.backoff, deletedByController: this.deleted, ...(lastFailureMs !== undefined ? { lastFailureMs } : {}) });
    const ns = job.metadata.namespace ?? 'default';
    const statusChanged = !jsonEqual(job.status ?? {}, plan.status);
    if (plan.statusFirst) {
      if ((plan.status.failed ?? 0) + (plan.status.uncountedTerminatedPods?.failed?.length ?? 0) > (job.status?.failed ?? 0) + (job.status?.uncountedTerminatedPods?.failed?.length ?? 0)) {
        this.lastFailure.set(uid, Math.max(lastFailureMs ?? 0, now));
      }
      await this.writeStatus(job, plan.status);
      for (const [type, reason, message] of plan.events) this.o.recorder?.event(job, type, reason, message);
      return { requeueAfterMs: 0 };
    }
    let firstError: unknown;
    for (const p of plan.removeFinalizers) {
      try {
        await this.removeFinalizer(p);
      } catch (e) {
        firstError ??= e;
      }
    }
    await Promise.all(
      plan.deletePods.map(async (p) => {
        if (p.metadata.deletionTimestamp) return;
        this.deleted.add(p.metadata.uid ?? '');
        try {
          await this.o.api.delete({ res: podKind, namespace: ns, name: p.metadata.name ?? '' }, { preconditions: { uid: p.metadata.uid ?? '' } });
          this.o.recorder?.event(job, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        } catch (e) {
          const err = toFlotillaError(e);
          if (err.code === 'NotFound' || err.code === 'Conflict') return;
          this.o.recorder?.event(job, 'Warning', 'FailedDelete', `Error deleting: ${err.message}`);
          firstError ??= e;
        }
      }),
    );
    // growing batches (1, 2, 4, …) as Kubernetes' slow start, stopping at the first error
    let created = 0;
    for (let batch = 1, i = 0; i < plan.create.length && firstError === undefined; i += batch, batch *= 2) {
      await Promise.all(
        plan.create.slice(i, i + batch).map(async (index) => {
          try {
            const pod = await this.o.api.create({ res: podKind, namespace: ns }, newJobPod(job, index));
            created++;
            this.o.recorder?.event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`);
          } catch (e) {
            const err = toFlotillaError(e);
            this.o.recorder?.event(job, 'Warning', 'FailedCreate', `Error creating: ${err.message}`);
            firstError ??= e;
          }
        }),
      );
    }
    const status = { ...plan.status, active: (plan.status.active ?? 0) + created };
    if (statusChanged || created > 0) await this.writeStatus(job, status);
    for (const [type, reason, message] of plan.events) this.o.recorder?.event(job, type, reason, message);
    if (firstError !== undefined) throw firstError;
    if (plan.removeFinalizers.length > 0) return { requeueAfterMs: 0 };
    if (plan.requeueAfterMs !== undefined) return { requeueAfterMs: plan.requeueAfterMs + 50 };
    if (isJobFinished(status) && job.spec.ttlSecondsAfterFinished !== undefined) return { requeueAfterMs: job.spec.ttlSecondsAfterFinished * 1000 };
  }

  /** A finished Job: its time to live, if any. Undefined: the planner still has work (uncounted pods, active ones). */
  private async finished(job: Job, pods: Pod[], now: number): Promise<ReconcileResult | undefined | 'plan'> {
    const pending = pods.some((p) => hasTrackingFinalizer(p) || (!p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed'));
    if (pending || (job.status?.uncountedTerminatedPods?.succeeded?.length ?? 0) + (job.status?.uncountedTerminatedPods?.failed?.length ?? 0) > 0) return 'plan';
    const ttl = job.spec.ttlSecondsAfterFinished;
    if (ttl === undefined) return undefined;
    const c = job.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
    const at = Date.parse(job.status?.completionTime ?? c?.lastTransitionTime ?? '') || now;
    const due = at + ttl * 1000;
    if (now < due) return { requeueAfterMs: due - now + 50 };
    try {
      await this.o.api.delete(
        { res: jobKind, namespace: job.metadata.namespace ?? 'default', name: job.metadata.name ?? '' },
        { preconditions: { uid: job.metadata.uid ?? '' }, propagationPolicy: 'Background' },
      );
      this.log.info({ job: keyOf(job) }, 'deleted a finished job after its ttlSecondsAfterFinished');
    } catch (e) {
      const code = toFlotillaError(e).code;
      if (code !== 'NotFound' && code !== 'Conflict') throw e;
    }
    return undefined;
  }

  private async removeFinalizer(p: Pod): Promise<void> {
    try {
      await this.o.api.patch({ res: podKind, namespace: p.metadata.namespace ?? 'default', name: p.metadata.name ?? '' }, 'merge', {
        metadata: { finalizers: (p.metadata.finalizers ?? []).filter((f) => f !== JOB_TRACKING_FINALIZER), resourceVersion: p.metadata.resourceVersion },
      });
    } catch (e) {
      const code = toFlotillaError(e).code;
      if (code === 'NotFound') return;
      throw e;
    }
  }

  private async writeStatus(job: Job, status: Job['status']): Promise<void> {
    await this.o.api.update({ res: jobKind, namespace: job.metadata.namespace ?? 'default', name: job.metadata.name ?? '', subresource: 'status' }, { ...job, status });
  }
}
