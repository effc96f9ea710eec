// The job controller's decisions, pure: which pods are active, finished or
// terminating, which finished pods get counted (through
// status.uncountedTerminatedPods, as Kubernetes tracks them with the
// batch.kubernetes.io/job-tracking finalizer), whether the Job succeeded or
// failed, and how many pods (which indexes) to create or delete. The
// controller (controller.ts) only carries the plan out.
import {
  JOB_COMPLETION_INDEX_ANNOTATION,
  JOB_TRACKING_FINALIZER,
  type Job,
  type JobCondition,
  type JobStatus,
  type Pod,
  type PodFailurePolicyRule,
} from '../../api/index.js';

/** Back-off before a new pod after failures: 10 s doubling, at most 6 min (Kubernetes' defaults). */
export interface BackoffConfig {
  baseMs: number;
  maxMs: number;
}
export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 10_000, maxMs: 360_000 };

export const isPodFinished = (p: Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
export const hasTrackingFinalizer = (p: Pod) => (p.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
export const isPodReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** The completion index of a pod of an Indexed Job, undefined when absent or malformed. */
export function podIndex(p: Pod): number | undefined {
  const v = p.metadata.annotations?.[JOB_COMPLETION_INDEX_ANNOTATION];
  if (v === undefined || !/^(0|[1-9][0-9]*)$/.test(v)) return undefined;
  return Number(v);
}

/** `1,3-5,7` → [1,3,4,5,7]. */
export function parseIndexes(s: string | undefined): number[] {
  if (!s) return [];
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

/** [1,3,4,5,7] → `1,3-5,7` (sorted, deduplicated), as status.completedIndexes reads. */
export function formatIndexes(xs: Iterable<number>): string {
  const sorted = [...new Set(xs)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export interface FailurePolicyMatch {
  action: PodFailurePolicyRule['action'];
  message: string;
}

/** The first podFailurePolicy rule a failed pod matches (Kubernetes' order), with the message Kubernetes writes. */
export function matchPodFailurePolicy(job: Job, pod: Pod): FailurePolicyMatch | undefined {
  const rules = job.spec.podFailurePolicy?.rules ?? [];
  const who = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
  for (const [i, r] of rules.entries()) {
    if (r.onExitCodes) {
      const req = r.onExitCodes;
      const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
      for (const cs of statuses) {
        if (req.containerName !== undefined && req.containerName !== cs.name) continue;
        const code = cs.state?.terminated?.exitCode;
        if (code === undefined || code === 0) continue; // containers that succeeded never match
        const inSet = req.values.includes(code);
        if (req.operator === 'In' ? inSet : !inSet) {
          return { action: r.action, message: `Container ${cs.name} for pod ${who} failed with exit code ${code} matching ${r.action} rule at index ${i}` };
        }
      }
    }
    if (r.onPodConditions && r.onPodConditions.length > 0) {
      for (const pat of r.onPodConditions) {
        const c = pod.status?.conditions?.find((x) => x.type === pat.type && x.status === (pat.status ?? 'True'));
        if (c) return { action: r.action, message: `Pod ${who} has condition ${pat.type} matching ${r.action} rule at index ${i}` };
      }
    }
  }
  return undefined;
}

/** When a failed pod finished (its containers' latest finishedAt), for the back-off clock. */
export function podFinishedAt(p: Pod): number | undefined {
  let best: number | undefined;
  for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
    const t = cs.state?.terminated?.finishedAt ? Date.parse(cs.state.terminated.finishedAt) : NaN;
    if (!Number.isNaN(t)) best = best === undefined ? t : Math.max(best, t);
  }
  return best;
}

/** Container restarts of a pod, init containers included (as `kubectl get pods` RESTARTS adds them up). */
export function podRestarts(p: Pod): number {
  let n = 0;
  for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) n += cs.restartCount ?? 0;
  return n;
}

/**
 * Kubernetes' back-off rule for `restartPolicy: OnFailure`: the agent restarts a
 * failing container in place, so the pod never fails and `failed` never grows;
 * instead the restarts of the containers of the Job's pending and running pods
 * count. As in Kubernetes the limit is reached at `backoffLimit` restarts (at the
 * first restart when it is 0), not past it as with failed pods.
 */
export function restartsPastBackoffLimit(job: Job, active: Pod[]): boolean {
  if (job.spec.template.spec.restartPolicy !== 'OnFailure') return false;
  const limit = job.spec.backoffLimit ?? 6;
  const restarts = active.filter((p) => !isPodFinished(p)).reduce((n, p) => n + podRestarts(p), 0);
  return limit === 0 ? restarts > 0 : restarts >= limit;
}

export function condition(status: JobStatus | undefined, type: JobCondition['type']): JobCondition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}
export const isTrue = (status: JobStatus | undefined, type: JobCondition['type']) => condition(status, type)?.status === 'True';
export const isJobFinished = (status: JobStatus | undefined) => isTrue(status, 'Complete') || isTrue(status, 'Failed');

/** Sets (or changes) a condition; the transition time moves only when the status changes. */
export function setCondition(conds: JobCondition[], type: JobCondition['type'], status: JobCondition['status'], reason: string, message: string, nowIso: string): JobCondition[] {
  const cur = conds.find((c) => c.type === type);
  if (cur && cur.status === status && cur.reason === reason && cur.message === message) return conds;
  const next: JobCondition = {
    type,
    status,
    reason,
    message,
    lastProbeTime: nowIso,
    lastTransitionTime: cur && cur.status === status ? (cur.lastTransitionTime ?? nowIso) : nowIso,
  };
  return cur ? conds.map((c) => (c === cur ? next : c)) : [...conds, next];
}

export interface JobPlan {
  /** The status to write (undefined: unchanged). */
  status: JobStatus;
  /** Write the status before anything else (new uncounted pods): the finalizers go only after it is stored. */
  statusFirst: boolean;
  /** Pods whose tracking finalizer goes (counted in the stored status, or not to be counted at all). */
  removeFinalizers: Pod[];
  /** Pods to delete (excess, or all active ones of a finished/suspended Job). */
  deletePods: Pod[];
  /** Pods to create: NonIndexed a count of undefined entries, Indexed their indexes. */
  create: (number | undefined)[];
  /** Look again after this long (a back-off or a deadline). */
  requeueAfterMs?: number;
  /** Events to record (type, reason, message). */
  events: [type: 'Normal' | 'Warning', reason: string, message: string][];
}

export interface PlanInput {
  job: Job;
  /** The Job's pods (controlled by it). */
  pods: Pod[];
  now: number;
  backoff: BackoffConfig;
  /** Pods this controller deleted itself (not counted as failures when they go). */
  deletedByController: ReadonlySet<string>;
  /** When the last failure was counted (the back-off clock), if known. */
  lastFailureMs?: number;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Everything one reconcile of a Job decides. */
export function planJob(input: PlanInput): JobPlan {
  const { job, pods, now } = input;
  const nowIso = iso(now);
  const spec = job.spec;
  const old = job.status ?? {};
  const events: JobPlan['events'] = [];
  const indexed = spec.completionMode === 'Indexed';
  const suspended = spec.suspend === true;
  const finishedBefore = isJobFinished(old);
  const failureTargetBefore = isTrue(old, 'FailureTarget');
  const successBefore = isTrue(old, 'SuccessCriteriaMet');

  const uncountedSucceeded = new Set(old.uncountedTerminatedPods?.succeeded ?? []);
  const uncountedFailed = new Set(old.uncountedTerminatedPods?.failed ?? []);
  let succeeded = old.succeeded ?? 0;
  let failed = old.failed ?? 0;
  const completed = new Set(parseIndexes(old.completedIndexes));
  let failJob: { reason: string; message: string } | undefined;
  const removeFinalizers: Pod[] = [];
  let newlyUncounted = false;
  let newestFailure = input.lastFailureMs;
  const failingBefore = isTrue(old, 'FailureTarget');
  for (const p of pods) {
    if (p.status?.phase !== 'Failed') continue;
    const at = podFinishedAt(p);
    if (at !== undefined) newestFailure = newestFailure === undefined ? at : Math.max(newestFailure, at);
  }

  const byUid = new Map(pods.map((p) => [p.metadata.uid ?? '', p]));
  const active: Pod[] = [];
  const terminating: Pod[] = [];
  for (const p of pods) {
    const uid = p.metadata.uid ?? '';
    const tracked = hasTrackingFinalizer(p);
    const finished = isPodFinished(p);
    const deleting = p.metadata.deletionTimestamp !== undefined;
    if (!finished && !deleting) {
      active.push(p);
      continue;
    }
    if (!finished && deleting) terminating.push(p);
    if (!tracked || uncountedSucceeded.has(uid) || uncountedFailed.has(uid)) continue;
    // a tracked pod that ended: count it (or, if it is not to be counted, let it go)
    const ended = p.status?.phase;
    if (ended === 'Succeeded') {
      if (indexed) {
        const i = podIndex(p);
        if (i === undefined || i >= (spec.completions ?? 0) || completed.has(i)) {
          removeFinalizers.push(p); // a duplicate or stray index: not counted
          continue;
        }
      }
      uncountedSucceeded.add(uid);
      newlyUncounted = true;
      continue;
    }
    // a pod this controller stopped (suspend, excess, success) is no failure; one stopped because the Job fails is
    if (input.deletedByController.has(uid) && !failingBefore) {
      removeFinalizers.push(p);
      continue;
    }
    if (!finished && (finishedBefore || suspended)) {
      removeFinalizers.push(p);
      continue;
    }
    if (ended === 'Failed') {
      const m = matchPodFailurePolicy(job, p);
      if (m?.action === 'Ignore') {
        removeFinalizers.push(p);
        continue;
      }
      if (m?.action === 'FailJob' && !failJob) failJob = { reason: 'PodFailurePolicy', message: m.message };
      if (podFinishedAt(p) === undefined) newestFailure = Math.max(newestFailure ?? 0, now);
    } else {
      newestFailure = Math.max(newestFailure ?? 0, now); // deleted before it ended: the back-off counts from now
    }
    uncountedFailed.add(uid);
    newlyUncounted = true;
  }

  // pods recorded as uncounted whose finalizer is gone (or the pod itself) are counted now
  const stillUncounted = { succeeded: [] as string[], failed: [] as string[] };
  for (const [set, kind] of [
    [uncountedSucceeded, 'succeeded'],
    [uncountedFailed, 'failed'],
  ] as const) {
    for (const uid of set) {
      const p = byUid.get(uid);
      if (!newlyUncounted && (!p || !hasTrackingFinalizer(p))) {
        if (kind === 'succeeded') {
          succeeded++;
          const i = p ? podIndex(p) : undefined;
          if (indexed && i !== undefined) completed.add(i);
        } else failed++;
        continue;
      }
      stillUncounted[kind].push(uid);
      if (!newlyUncounted && p) removeFinalizers.push(p);
    }
  }
  if (indexed) {
    // pods counted earlier carry their index; the uncounted ones add theirs once their finalizer goes
    succeeded = Math.max(succeeded, 0);
  }
  const pendingSucceeded = stillUncounted.succeeded.length;
  const pendingFailed = stillUncounted.failed.length;

  // ---- has the Job met its end?
  const completions = spec.completions;
  const totalSucceeded = succeeded + pendingSucceeded;
  const completedIndexesSoFar = new Set(completed);
  if (indexed) for (const uid of stillUncounted.succeeded) {
    const i = byUid.get(uid) ? podIndex(byUid.get(uid)!) : undefined;
    if (i !== undefined) completedIndexesSoFar.add(i);
  }
  let success = successBefore;
  if (!success && !failureTargetBefore && !failJob) {
    if (indexed) success = completions !== undefined && completedIndexesSoFar.size >= completions;
    else if (completions !== undefined) success = totalSucceeded >= completions;
    else success = totalSucceeded > 0 && active.length === 0;
  }
  let failure: { reason: string; message: string } | undefined = failureTargetBefore
    ? { reason: condition(old, 'FailureTarget')?.reason ?? 'BackoffLimitExceeded', message: condition(old, 'FailureTarget')?.message ?? '' }
    : undefined;
  if (!failure && !success) {
    if (failJob) failure = failJob;
    else if (failed + pendingFailed > (spec.backoffLimit ?? 6) || restartsPastBackoffLimit(job, active)) {
      failure = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
    }
    else if (spec.activeDeadlineSeconds !== undefined && old.startTime && !suspended && !isTrue(old, 'Suspended') && now - Date.parse(old.startTime) >= spec.activeDeadlineSeconds * 1000) {
      failure = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
    }
  }

  let conds = old.conditions ?? [];
  const deletePods: Pod[] = [];
  const create: (number | undefined)[] = [];
  let requeueAfterMs: number | undefined;
  const later = (ms: number) => (requeueAfterMs = requeueAfterMs === undefined ? ms : Math.min(requeueAfterMs, ms));
  let startTime = old.startTime;
  let completionTime = old.completionTime;

  if (finishedBefore) {
    deletePods.push(...active);
  } else if (failure) {
    if (!failureTargetBefore) {
      conds = setCondition(conds, 'FailureTarget', 'True', failure.reason, failure.message, nowIso);
      events.push(['Warning', failure.reason, failure.message]);
    }
    deletePods.push(...active);
    // Failed once no pod runs or terminates and every ended pod is counted
    if (active.length === 0 && terminating.length === 0 && pendingFailed + pendingSucceeded === 0 && !newlyUncounted) {
      conds = setCondition(conds, 'Failed', 'True', failure.reason, failure.message, nowIso);
    }
  } else if (success) {
    if (!successBefore) conds = setCondition(conds, 'SuccessCriteriaMet', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods', nowIso);
    deletePods.push(...active);
    if (active.length === 0 && terminating.length === 0 && pendingFailed + pendingSucceeded === 0 && !newlyUncounted) {
      conds = setCondition(conds, 'Complete', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods', nowIso);
      completionTime = nowIso;
      events.push(['Normal', 'Completed', 'Job completed']);
    }
  } else if (suspended) {
    deletePods.push(...active);
    if (!isTrue(old, 'Suspended')) {
      conds = setCondition(conds, 'Suspended', 'True', 'JobSuspended', 'Job suspended', nowIso);
      events.push(['Normal', 'Suspended', 'Job suspended']);
    }
  } else {
    if (isTrue(old, 'Suspended')) {
      conds = setCondition(conds, 'Suspended', 'False', 'JobResumed', 'Job resumed', nowIso);
      events.push(['Normal', 'Resumed', 'Job resumed']);
      startTime = nowIso; // the active deadline counts again from the resume
    }
    startTime ??= nowIso;
    const parallelism = spec.parallelism ?? 1;
    // pods being replaced with podReplacementPolicy Failed wait until the terminating ones are gone
    const busy = active.length + (spec.podReplacementPolicy === 'Failed' ? terminating.length : 0);
    let want: number;
    if (indexed) want = Math.min(parallelism, (completions ?? 0) - completedIndexesSoFar.size);
    else if (completions !== undefined) want = Math.min(parallelism, completions - totalSucceeded);
    else want = totalSucceeded > 0 ? Math.min(busy, parallelism) : parallelism; // a work queue: no new pod after a success
    want = Math.max(0, want);
    if (busy > want) {
      // the newest first, as Kubernetes deletes (not-ready before ready)
      const ranked = [...active].sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b)) || (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''));
      deletePods.push(...ranked.slice(0, busy - want));
    } else if (busy < want) {
      const failures = failed + pendingFailed;
      const delay = failures > 0 ? Math.min(input.backoff.baseMs * 2 ** (failures - 1), input.backoff.maxMs) : 0;
      const readyAt = (newestFailure ?? 0) + delay;
      if (failures > 0 && newestFailure !== undefined && now < readyAt) {
        later(readyAt - now);
      } else if (indexed) {
        const running = new Set(active.map(podIndex).filter((i): i is number => i !== undefined));
        for (let i = 0; i < (completions ?? 0) && create.length < want - busy; i++) {
          if (!completedIndexesSoFar.has(i) && !running.has(i)) create.push(i);
        }
      } else {
        for (let i = 0; i < want - busy; i++) create.push(undefined);
      }
    }
    if (spec.activeDeadlineSeconds !== undefined && startTime) later(Date.parse(startTime) + spec.activeDeadlineSeconds * 1000 - now);
  }

  const uncounted = stillUncounted.succeeded.length + stillUncounted.failed.length > 0 ? stillUncounted : { succeeded: [], failed: [] };
  const status: JobStatus = {
    ...(conds.length > 0 ? { conditions: conds } : {}),
    ...(startTime ? { startTime } : {}),
    ...(completionTime ? { completionTime } : {}),
    active: active.length - deletePods.filter((p) => active.includes(p)).length,
    succeeded,
    failed,
    terminating: terminating.length,
    ready: active.filter(isPodReady).length,
    ...(indexed ? { completedIndexes: formatIndexes(completed) } : {}),
    uncountedTerminatedPods: uncounted,
    ...(job.metadata.generation !== undefined ? { observedGeneration: job.metadata.generation } : {}),
  };
  if (success || failure || finishedBefore) status.active = 0;
  return {
    status,
    statusFirst: newlyUncounted,
    removeFinalizers: newlyUncounted ? removeFinalizers.filter((p) => !uncountedSucceeded.has(p.metadata.uid ?? '') && !uncountedFailed.has(p.metadata.uid ?? '')) : removeFinalizers,
    deletePods: newlyUncounted ? [] : deletePods,
    create: newlyUncounted ? [] : create,
    ...(requeueAfterMs !== undefined ? { requeueAfterMs: Math.max(0, requeueAfterMs) } : {}),
    events,
  };
}
