// The CronJob controller (on the leader): reconcile(namespace/name) from the
// cronjobs and jobs informers. It keeps status.active in step with the Jobs
// the CronJob owns, prunes finished Jobs beyond the history limits, and, when a
// scheduled time is due (schedule.ts), creates the Job `<cronjob>-<minutes>`
// under the concurrency policy. It then asks to run again at the next
// scheduled time — never a poll.
import {
  CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION,
  componentLogger,
  cronJobKind,
  deepClone,
  jobKind,
  jsonEqual,
  parseSchedule,
  realClock,
  rfc3339InZone,
  toFlotillaError,
  type Clock,
  type CronJob,
  type CronJobStatus,
  type DeleteOptions,
  type Job,
  type KindDescriptor,
  type KubeObject,
  type Logger,
  type ObjectReference,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { EventRecorder } from '../events/index.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import { ExponentialBackoff, WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import { MAX_MISSED_START_TIMES, dueTime, earliestTime, jobNameFor } from './schedule.js';

type Target = { res: KindDescriptor; namespace?: string; name?: string; subresource?: string };

export interface CronJobApi {
  create(t: Target, body: unknown): Promise<KubeObject>;
  update(t: Target, body: unknown): Promise<KubeObject>;
  delete(t: Target, o: DeleteOptions): Promise<unknown>;
}

export interface CronJobControllerOptions {
  api: CronJobApi;
  informers: InformerFactory;
  recorder?: EventRecorder;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  workers?: number;
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name ?? ''}`;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function controllerRef(o: KubeObject): { kind: string; uid: string; name: string } | undefined {
  const r = o.metadata.ownerReferences?.find((x) => x.controller === true);
  return r ? { kind: r.kind, uid: r.uid, name: r.name } : undefined;
}

/** 'Complete' or 'Failed' once a Job has finished. */
export function jobFinishedAs(j: Job): 'Complete' | 'Failed' | undefined {
  for (const c of j.status?.conditions ?? []) {
    if ((c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') return c.type;
  }
  return undefined;
}

const jobRef = (j: Job): ObjectReference => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  name: j.metadata.name ?? '',
  namespace: j.metadata.namespace ?? 'default',
  uid: j.metadata.uid ?? '',
  ...(j.metadata.resourceVersion ? { resourceVersion: j.metadata.resourceVersion } : {}),
});

/** The Job a CronJob starts for `scheduledMs`: its jobTemplate, named by the minute, owned by the CronJob. */
export function newScheduledJob(cj: CronJob, scheduledMs: number): Job {
  const jt = deepClone(cj.spec.jobTemplate);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobNameFor(cj.metadata.name ?? '', scheduledMs),
      namespace: cj.metadata.namespace ?? 'default',
      labels: { ...(jt.metadata?.labels ?? {}) },
      annotations: { ...(jt.metadata?.annotations ?? {}), [CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]: rfc3339InZone(scheduledMs, cj.spec.timeZone) },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cj.metadata.name ?? '', uid: cj.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: jt.spec,
  } as Job;
}

export class CronJobController {
  private readonly log: Logger;
  private readonly clock: Clock;
  private cronjobs!: SharedInformer<CronJob>;
  private jobs!: SharedInformer<Job>;

  constructor(private readonly o: CronJobControllerOptions) {
    this.log = o.log ?? componentLogger('cronjob-controller');
    this.clock = o.clock ?? realClock;
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'cronjob', clock: this.clock, rateLimiter: new ExponentialBackoff({ baseMs: 500, maxMs: 60_000 }) });
    this.cronjobs = this.o.informers.informerFor<CronJob>('cronjobs');
    this.jobs = this.o.informers.informerFor<Job>('jobs');
    const enqueue = (c: CronJob) => queue.add(keyOf(c));
    this.cronjobs.addEventHandler({ onAdd: enqueue, onUpdate: (_, c) => enqueue(c), onDelete: enqueue }, { signal });
    const jobChanged = (j: Job) => {
      const ref = controllerRef(j);
      if (ref?.kind === 'CronJob') queue.add(`${j.metadata.namespace ?? 'default'}/${ref.name}`);
    };
    this.jobs.addEventHandler({ onAdd: jobChanged, onUpdate: (_, j) => jobChanged(j), onDelete: jobChanged }, { signal });
    await runController({
      name: 'cronjob',
      queue,
      workers: this.o.workers ?? 1,
      signal,
      waitFor: [this.cronjobs, this.jobs],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (key) => this.reconcile(key),
    });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.cronjobs.get(key);
    if (!cached || cached.metadata.deletionTimestamp) return;
    const cj = { ...cached, apiVersion: 'batch/v1', kind: 'CronJob' } as CronJob;
    const ns = cj.metadata.namespace ?? 'default';
    const uid = cj.metadata.uid ?? '';
    const now = this.clock.now();
    const owned = this.jobs.byIndex('owner', uid).filter((j) => controllerRef(j)?.uid === uid);
    const status: CronJobStatus = deepClone(cj.status ?? {});

    // ---- status.active from the Jobs it owns
    const byUid = new Map(owned.map((j) => [j.metadata.uid ?? '', j]));
    const active: ObjectReference[] = [];
    for (const ref of status.active ?? []) {
      const j = byUid.get(ref.uid ?? '');
      if (!j) {
        this.o.recorder?.event(cj, 'Normal', 'MissingJob', `Active job went missing: ${ref.name}`);
        continue;
      }
      const fin = jobFinishedAs(j);
      if (fin) {
        this.o.recorder?.event(cj, 'Normal', 'SawCompletedJob', `Saw completed job: ${j.metadata.name}, condition: ${fin}`);
        continue;
      }
      active.push(ref);
    }
    for (const j of owned) {
      if (!jobFinishedAs(j) && !j.metadata.deletionTimestamp && !active.some((r) => r.uid === j.metadata.uid)) active.push(jobRef(j));
      if (jobFinishedAs(j) === 'Complete' && j.status?.completionTime) {
        if (!status.lastSuccessfulTime || Date.parse(j.status.completionTime) > Date.parse(status.lastSuccessfulTime)) status.lastSuccessfulTime = j.status.completionTime;
      }
    }
    status.active = active;

    // ---- history limits
    await this.pruneHistory(cj, owned);

    // ---- the schedule
    let requeueAfterMs: number | undefined;
    let sched;
    try {
      sched = parseSchedule(cj.spec.schedule, cj.spec.timeZone);
    } catch (e) {
      this.o.recorder?.event(cj, 'Warning', 'UnparseableSchedule', `unparseable schedule: ${JSON.stringify(cj.spec.schedule)} : ${(e as Error).message}`);
      await this.writeStatus(cj, status);
      return; // an edit of the schedule brings it back
    }
    if (cj.spec.suspend !== true) {
      const due = dueTime(sched, earliestTime(cj, now), now);
      requeueAfterMs = due.next - now;
      if (due.missed > MAX_MISSED_START_TIMES) {
        this.o.recorder?.event(cj, 'Warning', 'TooManyMissedTimes', 'too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew');
      }
      const sds = cj.spec.startingDeadlineSeconds;
      if (due.mostRecent !== undefined) {
        const t = due.mostRecent;
        if (sds !== undefined && t + sds * 1000 < now) {
          this.o.recorder?.event(cj, 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${new Date(t).toUTCString()}`);
        } else if (cj.spec.concurrencyPolicy === 'Forbid' && active.length > 0) {
          this.o.recorder?.event(cj, 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
        } else {
          if (cj.spec.concurrencyPolicy === 'Replace') {
            for (const ref of [...active]) {
              await this.deleteJob(cj, ref.name ?? '', ref.uid ?? '');
              active.splice(active.indexOf(ref), 1);
            }
          }
          const job = await this.createJob(cj, t);
          if (job && !active.some((r) => r.uid === job.metadata.uid)) active.push(jobRef(job));
          status.lastScheduleTime = iso(t);
        }
      }
    }
    if (active.length > 0) status.active = active;
    else delete status.active;
    await this.writeStatus(cj, status);
    return requeueAfterMs !== undefined ? { requeueAfterMs: Math.max(0, requeueAfterMs) + 100 } : undefined;
  }

  private async createJob(cj: CronJob, t: number): Promise<Job | undefined> {
    const body = newScheduledJob(cj, t);
    try {
      const job = (await this.o.api.create({ res: jobKind, namespace: body.metadata.namespace! }, body)) as Job;
      this.o.recorder?.event(cj, 'Normal', 'SuccessfulCreate', `Created job ${job.metadata.name}`);
      return job;
    } catch (e) {
      const err = toFlotillaError(e);
      if (err.code === 'AlreadyExists') {
        // created before (a restart between the create and the status write): it is ours if the cache says so
        return this.jobs.getByName(body.metadata.namespace, body.metadata.name!);
      }
      this.o.recorder?.event(cj, 'Warning', 'FailedCreate', `Error creating job: ${err.message}`);
      throw e;
    }
  }

  private async deleteJob(cj: CronJob, name: string, uid: string): Promise<void> {
    try {
      await this.o.api.delete({ res: jobKind, namespace: cj.metadata.namespace ?? 'default', name }, { preconditions: { uid }, propagationPolicy: 'Background' });
      this.o.recorder?.event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${name}`);
    } catch (e) {
      const err = toFlotillaError(e);
      if (err.code === 'NotFound' || err.code === 'Conflict') return;
      this.o.recorder?.event(cj, 'Warning', 'FailedDelete', `Deleted job: ${err.message}`);
      throw e;
    }
  }

  /** Finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit go, oldest first. */
  private async pruneHistory(cj: CronJob, owned: Job[]): Promise<void> {
    const started = (j: Job) => Date.parse(j.status?.startTime ?? j.metadata.creationTimestamp ?? '') || 0;
    for (const [kind, limit] of [
      ['Complete', cj.spec.successfulJobsHistoryLimit ?? 3],
      ['Failed', cj.spec.failedJobsHistoryLimit ?? 1],
    ] as const) {
      const done = owned.filter((j) => jobFinishedAs(j) === kind && !j.metadata.deletionTimestamp).sort((a, b) => started(a) - started(b));
      for (const j of done.slice(0, Math.max(0, done.length - limit))) await this.deleteJob(cj, j.metadata.name ?? '', j.metadata.uid ?? '');
    }
  }

  private async writeStatus(cj: CronJob, status: CronJobStatus): Promise<void> {
    if (jsonEqual(cj.status ?? {}, status)) return;
    await this.o.api.update({ res: cronJobKind, namespace: cj.metadata.namespace ?? 'default', name: cj.metadata.name ?? '', subresource: 'status' }, { ...cj, status });
  }
}
