// The CronJob controller on a fake clock over a MemoryStore and the real
// ResourceApi and informers: Jobs created at the scheduled minute (requeued at
// the next schedule time, no polling), concurrencyPolicy Forbid and Replace,
// history limits, suspend, and the TooManyMissedTimes warning.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, cronJobKind, jobKind, namespaceKind, silentLogger, type CronJob, type Job, type KubeObject } from '../../api/index.js';
import { MetricsRegistry } from '../../api/metrics.js';
import { ResourceApi } from '../../controller/apiserver/resource-api.js';
import { CronJobController } from '../../controller/cronjob/index.js';
import type { EventRecorder } from '../../controller/events/index.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

const pause = (ms = 40) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v) return v;
    await pause(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const runs: { ac: AbortController; done: Promise<void> }[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) {
    r.ac.abort();
    await r.done;
  }
});

function world(start: string) {
  const clock = new FakeClock(Date.parse(start));
  const store = new MemoryStore(() => clock.now());
  const api = new ResourceApi({ store, clock, log: silentLogger() });
  const events: string[] = [];
  const recorder = { event: (_o: KubeObject, _t: string, reason: string, message: string) => events.push(`${reason}: ${message}`) } as unknown as EventRecorder;
  const c = new CronJobController({ api, informers: new InformerFactory({ store, clock, log: silentLogger() }), clock, metrics: new MetricsRegistry(), log: silentLogger(), recorder });
  const ac = new AbortController();
  runs.push({ ac, done: c.run(ac.signal) });
  const jobs = async () => (await api.list({ res: jobKind, namespace: 'default' }, {})).items as Job[];
  const cronjob = async (name = 'hello') => (await api.get({ res: cronJobKind, namespace: 'default', name })) as CronJob;
  return { clock, store, api, events, jobs, cronjob };
}

type W = ReturnType<typeof world>;

async function createCronJob(w: W, spec: Record<string, unknown> = {}, name = 'hello'): Promise<void> {
  await w.api.create({ res: namespaceKind }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }).catch(() => undefined);
  await w.api.create({ res: cronJobKind, namespace: 'default' }, {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: 'default' },
    spec: {
      schedule: '* * * * *',
      jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'hello', image: 'busybox:1.35' }] } } } },
      ...spec,
    },
  });
}

async function finish(w: W, j: Job, type: 'Complete' | 'Failed'): Promise<void> {
  const cur = (await w.api.get({ res: jobKind, namespace: 'default', name: j.metadata.name! })) as Job;
  await w.api.update({ res: jobKind, namespace: 'default', name: j.metadata.name!, subresource: 'status' }, {
    ...cur,
    status: { startTime: new Date(w.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'), completionTime: new Date(w.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'), conditions: [{ type, status: 'True' }] },
  });
}

describe('[cronjob] controller on a fake clock', () => {
  it('creates <name>-<minutes> at the scheduled minute, records it in status, and waits for the next minute (no poll)', async () => {
    const w = world('2026-12-07T12:00:20Z');
    await createCronJob(w);
    await pause();
    expect(await w.jobs()).toHaveLength(0);
    w.clock.advance(40_000 + 100); // 12:01:00.1
    const [job] = await until('a job', async () => ((await w.jobs()).length > 0 ? w.jobs() : undefined));
    const minute = Date.parse('2026-12-07T12:01:00Z') / 60_000;
    expect(job!.metadata.name).toBe(`hello-${minute}`);
    expect(job!.metadata.annotations!['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe('2026-12-07T12:01:00Z');
    expect(job!.metadata.ownerReferences![0]).toMatchObject({ kind: 'CronJob', name: 'hello', controller: true, blockOwnerDeletion: true });
    expect(job!.spec.backoffLimit).toBe(6); // a Job's defaults, from the API
    const cj = await until('status', async () => ((await w.cronjob()).status?.lastScheduleTime ? w.cronjob() : undefined));
    expect(cj.status).toMatchObject({ lastScheduleTime: '2026-12-07T12:01:00Z', active: [{ kind: 'Job', name: `hello-${minute}` }] });
    expect(w.events).toContain(`SuccessfulCreate: Created job hello-${minute}`);
    w.clock.advance(30_000); // 12:01:30: nothing new
    await pause();
    expect(await w.jobs()).toHaveLength(1);
    w.clock.advance(30_000); // 12:02:00.1
    await until('a second job', async () => (await w.jobs()).length === 2);
  });

  it('Forbid: no new Job while one is active; Replace: the active one is deleted for the new one', async () => {
    const w = world('2026-12-07T12:00:50Z');
    await createCronJob(w, { concurrencyPolicy: 'Forbid' });
    await createCronJob(w, { concurrencyPolicy: 'Replace' }, 'swap');
    await pause();
    w.clock.advance(10_100);
    await until('two jobs', async () => (await w.jobs()).length === 2);
    w.clock.advance(60_000);
    await until('Forbid skipped, Replace replaced', async () => {
      const names = (await w.jobs()).map((j) => j.metadata.name!).sort();
      const m = Date.parse('2026-12-07T12:01:00Z') / 60_000;
      return JSON.stringify(names) === JSON.stringify([`hello-${m}`, `swap-${m + 1}`]);
    });
    expect(w.events).toContain('JobAlreadyActive: Not starting job because prior execution is running and concurrency policy is Forbid');
    expect(w.events.some((e) => e.startsWith('SuccessfulDelete: Deleted job swap-'))).toBe(true);
  });

  it('keeps successfulJobsHistoryLimit finished Jobs and drops older ones; sets lastSuccessfulTime', async () => {
    const w = world('2026-12-07T12:00:50Z');
    await createCronJob(w, { successfulJobsHistoryLimit: 1 });
    await pause();
    w.clock.advance(10_100);
    const [first] = await until('job 1', async () => ((await w.jobs()).length === 1 ? w.jobs() : undefined));
    await finish(w, first!, 'Complete');
    w.clock.advance(60_000);
    const second = await until('job 2', async () => (await w.jobs()).find((j) => j.metadata.name !== first!.metadata.name));
    await finish(w, second, 'Complete');
    await until('the older finished job pruned', async () => (await w.jobs()).map((j) => j.metadata.name).join() === second.metadata.name);
    const cj = await until('lastSuccessfulTime', async () => ((await w.cronjob()).status?.lastSuccessfulTime ? w.cronjob() : undefined));
    expect(cj.status!.active ?? []).toEqual([]);
  });

  it('suspend: no Jobs while suspended', async () => {
    const w = world('2026-12-07T12:00:50Z');
    await createCronJob(w, { suspend: true });
    await pause();
    w.clock.advance(10_100);
    await pause();
    w.clock.advance(60_000);
    await pause();
    expect(await w.jobs()).toHaveLength(0);
  });

  it('more than 100 missed start times: a TooManyMissedTimes warning, and only the most recent starts', async () => {
    const w = world('2026-12-07T12:00:30Z');
    await createCronJob(w, { suspend: true });
    await pause();
    w.clock.advance(3 * 3600_000); // three hours suspended: 180 missed minutes
    const cj = await w.cronjob();
    await w.api.update({ res: cronJobKind, namespace: 'default', name: 'hello' }, { ...cj, spec: { ...cj.spec, suspend: false } });
    await until('one job', async () => (await w.jobs()).length === 1);
    expect(w.events).toContain('TooManyMissedTimes: too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew');
    expect((await w.jobs())[0]!.metadata.name).toBe(`hello-${Date.parse('2026-12-07T15:00:00Z') / 60_000}`);
  });
});
