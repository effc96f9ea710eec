// The job controller's planner, driven by a small simulated world with a fake
// clock: the plan is applied (status stored first, then finalizers, deletes,
// creates) and pods are made to finish, as the controller and the agents would.
import { describe, expect, it } from 'vitest';
import { JOB_TRACKING_FINALIZER, defaultObject, jobKind, type Job, type Pod } from '../../api/index.js';
import { formatIndexes, matchPodFailurePolicy, newJobPod, parseIndexes, planJob } from '../../controller/job/index.js';

type Obj = Record<string, any>;
const T0 = Date.parse('2026-12-07T12:00:00Z');

function makeJob(spec: Obj): Job {
  const j: Obj = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'work', namespace: 'default', generation: 1 },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } }, ...spec },
  };
  const d = defaultObject(j) as Obj;
  jobKind.strategy.prepareForCreate!(d);
  return d as Job;
}

/** A world of one Job and its pods; `step()` runs one reconcile. */
class World {
  pods: Pod[] = [];
  now = T0;
  seq = 0;
  deleted = new Set<string>();
  events: string[] = [];
  constructor(public job: Job) {}
  step() {
    const plan = planJob({ job: this.job, pods: this.pods, now: this.now, backoff: { baseMs: 10_000, maxMs: 360_000 }, deletedByController: this.deleted });
    for (const [, reason] of plan.events) this.events.push(reason);
    this.job = { ...this.job, status: plan.status };
    if (plan.statusFirst) return plan;
    for (const p of plan.removeFinalizers) p.metadata.finalizers = (p.metadata.finalizers ?? []).filter((f) => f !== JOB_TRACKING_FINALIZER);
    for (const p of plan.deletePods) {
      this.deleted.add(p.metadata.uid!);
      p.metadata.deletionTimestamp = new Date(this.now).toISOString();
    }
    for (const index of plan.create) {
      const p = newJobPod(this.job, index);
      const n = ++this.seq;
      p.metadata.name = `${p.metadata.generateName}${n}`;
      p.metadata.uid = `uid-${n}`;
      p.metadata.creationTimestamp = new Date(this.now + n).toISOString();
      p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } as never;
      this.pods.push(p);
    }
    // pods deleted and without finalizer are gone; deleted ones end (as the agent would kill them)
    this.pods = this.pods.filter((p) => !(p.metadata.deletionTimestamp && (p.metadata.finalizers ?? []).length === 0));
    return plan;
  }
  /** Runs reconciles until nothing changes. */
  settle() {
    for (let i = 0; i < 20; i++) {
      const before = JSON.stringify([this.job.status, this.pods]);
      this.step();
      if (JSON.stringify([this.job.status, this.pods]) === before) return;
    }
  }
  running() {
    return this.pods.filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);
  }
  finish(p: Pod, exitCode: number) {
    p.status = {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [{ name: 'main', ready: false, restartCount: 0, image: 'busybox', state: { terminated: { exitCode, finishedAt: new Date(this.now).toISOString() } } }],
    } as never;
  }
  /** The agent restarted a container of `p` in place (restartPolicy OnFailure): the pod stays Running. */
  restart(p: Pod, container = 'main', init = false) {
    const key = init ? 'initContainerStatuses' : 'containerStatuses';
    const list: Obj[] = ((p.status as Obj)[key] ??= []);
    let cs = list.find((c) => c.name === container);
    if (!cs) list.push((cs = { name: container, ready: false, restartCount: 0, image: 'busybox', state: { running: {} } }));
    cs.restartCount += 1;
    cs.lastState = { terminated: { exitCode: 1, finishedAt: new Date(this.now).toISOString() } };
  }
  cond(type: string) {
    return this.job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  }
}

describe('[job] completions and parallelism', () => {
  it('completions 3 parallelism 2: two at a time, a third after one succeeds, Complete after three', () => {
    const w = new World(makeJob({ completions: 3, parallelism: 2 }));
    w.settle();
    expect(w.running()).toHaveLength(2);
    expect(w.job.status).toMatchObject({ active: 2, succeeded: 0, failed: 0, ready: 2 });
    expect(w.pods.every((p) => p.metadata.finalizers?.includes(JOB_TRACKING_FINALIZER))).toBe(true);
    expect(w.pods[0]!.metadata.labels!['batch.kubernetes.io/job-name']).toBe('work');
    w.finish(w.running()[0]!, 0);
    w.settle();
    expect(w.job.status).toMatchObject({ succeeded: 1, active: 2 });
    expect(w.pods.filter((p) => p.status?.phase === 'Succeeded')[0]!.metadata.finalizers).toEqual([]);
    for (const p of w.running()) w.finish(p, 0);
    w.settle();
    expect(w.job.status).toMatchObject({ succeeded: 3, active: 0 });
    expect(w.cond('SuccessCriteriaMet')).toBeDefined();
    expect(w.cond('Complete')).toMatchObject({ reason: 'CompletionsReached' });
    expect(w.job.status!.completionTime).toBeDefined();
    expect(w.pods).toHaveLength(3);
  });

  it('a pod is counted once, even when the status write of its count is seen twice', () => {
    const w = new World(makeJob({}));
    w.settle();
    w.finish(w.pods[0]!, 0);
    const first = w.step();
    expect(first.statusFirst).toBe(true);
    expect(w.job.status!.uncountedTerminatedPods!.succeeded).toEqual(['uid-1']);
    w.settle();
    expect(w.job.status!.succeeded).toBe(1);
    expect(w.job.status!.uncountedTerminatedPods).toEqual({ succeeded: [], failed: [] });
  });

  it('a pod deleted before it ended still counts (as a failure), thanks to the finalizer', () => {
    const w = new World(makeJob({ backoffLimit: 3 }));
    w.settle();
    w.pods[0]!.metadata.deletionTimestamp = new Date(w.now).toISOString(); // someone else deleted it
    w.settle();
    expect(w.job.status!.failed).toBe(1);
  });

  it('work queue (completions unset): done when one succeeded and none run', () => {
    const w = new World(makeJob({ parallelism: 2 }));
    w.settle();
    expect(w.running()).toHaveLength(2);
    w.finish(w.running()[0]!, 0);
    w.settle();
    expect(w.cond('Complete')).toBeUndefined();
    expect(w.running()).toHaveLength(1); // no new pod after a success
    w.finish(w.running()[0]!, 0);
    w.settle();
    expect(w.cond('Complete')).toBeDefined();
    expect(w.job.status!.succeeded).toBe(2);
  });
});

describe('[job] backoff', () => {
  it('a new pod after 10 s, then 20 s; Failed with BackoffLimitExceeded past backoffLimit', () => {
    const w = new World(makeJob({ backoffLimit: 2 }));
    w.settle();
    w.finish(w.pods[0]!, 1);
    w.settle();
    expect(w.job.status!.failed).toBe(1);
    expect(w.running()).toHaveLength(0);
    const p = planJob({ job: w.job, pods: w.pods, now: w.now, backoff: { baseMs: 10_000, maxMs: 360_000 }, deletedByController: w.deleted });
    expect(p.requeueAfterMs).toBe(10_000);
    w.now += 9_000;
    w.settle();
    expect(w.running()).toHaveLength(0);
    w.now += 1_000;
    w.settle();
    expect(w.running()).toHaveLength(1);
    w.finish(w.running()[0]!, 1);
    w.settle();
    w.now += 19_000;
    w.settle();
    expect(w.running()).toHaveLength(0);
    w.now += 1_000;
    w.settle();
    expect(w.running()).toHaveLength(1);
    w.finish(w.running()[0]!, 1);
    w.settle();
    expect(w.job.status!.failed).toBe(3);
    expect(w.cond('FailureTarget')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(w.cond('Failed')).toMatchObject({ reason: 'BackoffLimitExceeded' });
    expect(w.events).toContain('BackoffLimitExceeded');
  });

  it('the delay is capped at 6 minutes', () => {
    const w = new World(makeJob({ backoffLimit: 100 }));
    w.job = { ...w.job, status: { failed: 10, startTime: new Date(T0).toISOString() } };
    const plan = planJob({ job: w.job, pods: [], now: T0, backoff: { baseMs: 10_000, maxMs: 360_000 }, deletedByController: new Set(), lastFailureMs: T0 });
    expect(plan.requeueAfterMs).toBe(360_000);
    expect(plan.create).toEqual([]);
  });
});

describe('[job] back-off with restartPolicy OnFailure counts container restarts', () => {
  const onFailure = (spec: Obj, initContainers?: Obj[]) =>
    makeJob({ ...spec, template: { spec: { restartPolicy: 'OnFailure', ...(initContainers ? { initContainers } : {}), containers: [{ name: 'main', image: 'busybox' }] } } });

  it('backoffLimit 2: a restart leaves the Job running; the second fails it, deletes the pod and creates none', () => {
    const w = new World(onFailure({ backoffLimit: 2 }));
    w.settle();
    const pod = w.running()[0]!;
    w.restart(pod);
    w.settle();
    expect(w.cond('FailureTarget')).toBeUndefined();
    expect(w.running()).toEqual([pod]);
    expect(w.job.status).toMatchObject({ active: 1, failed: 0 });
    w.restart(pod);
    w.step();
    expect(w.cond('FailureTarget')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(pod.metadata.deletionTimestamp).toBeDefined();
    expect(w.job.status!.active).toBe(0);
    w.settle();
    expect(w.cond('Failed')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(w.pods).toHaveLength(0); // the one pod, counted and gone; no replacement
    expect(w.job.status).toMatchObject({ active: 0, failed: 1, succeeded: 0 }); // the pod stopped because the Job failed
    expect(w.events.filter((e) => e === 'BackoffLimitExceeded')).toHaveLength(1);
  });

  it('backoffLimit 0: the first restart fails the Job', () => {
    const w = new World(onFailure({ backoffLimit: 0 }));
    w.settle();
    w.restart(w.running()[0]!);
    w.settle();
    expect(w.cond('Failed')).toMatchObject({ reason: 'BackoffLimitExceeded' });
    expect(w.running()).toHaveLength(0);
  });

  it('restarts of init and regular containers of all running pods add up', () => {
    const w = new World(onFailure({ backoffLimit: 3, completions: 2, parallelism: 2 }, [{ name: 'setup', image: 'busybox' }]));
    w.settle();
    const [a, b] = w.running();
    w.restart(a!, 'setup', true);
    w.restart(b!);
    w.settle();
    expect(w.cond('FailureTarget')).toBeUndefined();
    expect(w.running()).toHaveLength(2);
    w.restart(b!);
    w.settle();
    expect(w.cond('Failed')).toMatchObject({ reason: 'BackoffLimitExceeded' });
    expect(w.running()).toHaveLength(0);
    expect(w.job.status!.failed).toBe(2);
  });

  it('restarts of a pod that already succeeded no longer count (as in Kubernetes, only pending and running pods)', () => {
    const w = new World(onFailure({ backoffLimit: 2, completions: 2, parallelism: 1 }));
    w.settle();
    const first = w.running()[0]!;
    w.restart(first);
    w.finish(first, 0);
    (first.status!.containerStatuses![0] as Obj).restartCount = 1;
    w.settle();
    const second = w.running()[0]!;
    expect(second).not.toBe(first);
    w.restart(second);
    w.settle();
    expect(w.cond('FailureTarget')).toBeUndefined();
    w.finish(second, 0);
    w.settle();
    expect(w.cond('Complete')).toBeDefined();
  });

  it('with restartPolicy Never, restart counts are not back-off (pods fail instead)', () => {
    const w = new World(makeJob({ backoffLimit: 0 }));
    w.settle();
    w.restart(w.running()[0]!);
    w.settle();
    expect(w.cond('FailureTarget')).toBeUndefined();
    expect(w.running()).toHaveLength(1);
  });
});

describe('[job] activeDeadlineSeconds and suspend', () => {
  it('DeadlineExceeded deletes the running pods and fails the Job', () => {
    const w = new World(makeJob({ activeDeadlineSeconds: 30, parallelism: 2, completions: 4 }));
    w.settle();
    expect(w.running()).toHaveLength(2);
    w.now += 30_000;
    w.step();
    expect(w.cond('FailureTarget')).toMatchObject({ reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
    expect(w.running()).toHaveLength(0);
    for (const p of w.pods) w.finish(p, 137);
    w.settle();
    expect(w.cond('Failed')).toMatchObject({ reason: 'DeadlineExceeded' });
    expect(w.job.status!.failed).toBe(2); // as in Kubernetes, the pods stopped by the deadline count as failed
  });

  it('suspend deletes active pods (not failures); resume restarts them and the deadline clock', () => {
    const w = new World(makeJob({ parallelism: 2, completions: 2, activeDeadlineSeconds: 100 }));
    w.settle();
    const started = w.job.status!.startTime;
    w.job = { ...w.job, spec: { ...w.job.spec, suspend: true } };
    w.settle();
    expect(w.cond('Suspended')).toMatchObject({ reason: 'JobSuspended', message: 'Job suspended' });
    expect(w.running()).toHaveLength(0);
    for (const p of w.pods) w.finish(p, 143);
    w.settle();
    expect(w.job.status!.failed).toBe(0);
    w.now += 200_000; // long past the deadline while suspended
    w.job = { ...w.job, spec: { ...w.job.spec, suspend: false } };
    w.settle();
    expect(w.job.status!.conditions!.find((c) => c.type === 'Suspended')).toMatchObject({ status: 'False', reason: 'JobResumed' });
    expect(w.job.status!.startTime).not.toBe(started);
    expect(w.running()).toHaveLength(2);
    expect(w.cond('FailureTarget')).toBeUndefined();
  });
});

describe('[job] Indexed completion mode', () => {
  it('one pod per index with annotation, label, hostname and JOB_COMPLETION_INDEX from the downward API; completedIndexes', () => {
    const w = new World(makeJob({ completions: 3, parallelism: 2, completionMode: 'Indexed' }));
    w.settle();
    const idx = (p: Pod) => p.metadata.annotations!['batch.kubernetes.io/job-completion-index'];
    expect(w.running().map(idx)).toEqual(['0', '1']);
    const p0 = w.running()[0]!;
    expect(p0.metadata.generateName).toBe('work-0-');
    expect(p0.metadata.labels!['batch.kubernetes.io/job-completion-index']).toBe('0');
    expect(p0.spec.hostname).toBe('work-0');
    expect(p0.spec.containers[0]!.env).toContainEqual({ name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } });
    w.finish(w.running()[1]!, 0); // index 1 first
    w.settle();
    expect(w.job.status!.completedIndexes).toBe('1');
    expect(w.running().map(idx).sort()).toEqual(['0', '2']);
    w.finish(w.running().find((p) => idx(p) === '0')!, 1); // index 0 fails: retried after the back-off
    w.settle();
    w.now += 10_000;
    w.settle();
    expect(w.running().map(idx).sort()).toEqual(['0', '2']);
    for (const p of w.running()) w.finish(p, 0);
    w.settle();
    expect(w.job.status).toMatchObject({ completedIndexes: '0-2', succeeded: 3, failed: 1 });
    expect(w.cond('Complete')).toBeDefined();
  });

  it('interval notation round-trips', () => {
    expect(formatIndexes([7, 1, 3, 4, 5, 3])).toBe('1,3-5,7');
    expect(parseIndexes('1,3-5,7')).toEqual([1, 3, 4, 5, 7]);
  });
});

describe('[job] podFailurePolicy', () => {
  const policy = {
    rules: [
      { action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [42] } },
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      { action: 'Count', onExitCodes: { operator: 'NotIn', values: [42] } },
    ],
  };
  it('FailJob on exit code 42: the Job fails at once with reason PodFailurePolicy', () => {
    const w = new World(makeJob({ completions: 3, parallelism: 2, backoffLimit: 6, podFailurePolicy: policy }));
    w.settle();
    w.finish(w.running()[0]!, 42);
    w.settle();
    expect(w.cond('Failed')).toMatchObject({ reason: 'PodFailurePolicy', message: 'Container main for pod default/work-1 failed with exit code 42 matching FailJob rule at index 0' });
    expect(w.running()).toHaveLength(0);
  });
  it('Ignore: a disrupted pod is not counted and is replaced at once', () => {
    const w = new World(makeJob({ backoffLimit: 0, podFailurePolicy: policy }));
    w.settle();
    const p = w.running()[0]!;
    w.finish(p, 137);
    p.status!.conditions = [{ type: 'DisruptionTarget', status: 'True' }] as never;
    w.settle();
    expect(w.job.status!.failed).toBe(0);
    expect(w.running()).toHaveLength(1);
    expect(w.cond('Failed')).toBeUndefined();
  });
  it('Count: other exit codes count toward backoffLimit', () => {
    const w = new World(makeJob({ backoffLimit: 0, podFailurePolicy: policy }));
    w.settle();
    w.finish(w.running()[0]!, 3);
    w.settle();
    expect(w.job.status!.failed).toBe(1);
    expect(w.cond('Failed')).toMatchObject({ reason: 'BackoffLimitExceeded' });
  });
  it('containerName and NotIn are honoured', () => {
    const job = makeJob({ podFailurePolicy: policy });
    const pod = { metadata: { name: 'p', namespace: 'default' }, status: { phase: 'Failed', containerStatuses: [{ name: 'other', state: { terminated: { exitCode: 42 } } }] } } as unknown as Pod;
    expect(matchPodFailurePolicy(job, pod)).toBeUndefined(); // rule 0 names container main; rule 2 is NotIn [42]
    (pod.status!.containerStatuses![0] as Obj).state.terminated.exitCode = 5;
    expect(matchPodFailurePolicy(job, pod)?.action).toBe('Count');
  });
});
