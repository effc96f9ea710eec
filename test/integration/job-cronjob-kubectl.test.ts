// Jobs and CronJobs on the real controller (its managed etcd, the leader's job
// and cronjob controllers, the scheduler) with two hollow nodes joined through
// the real join path, driven by real kubectl 1.33. Hollow pods finish by the
// hollow runtime's convention (annotation hollow.flotilla.io/exit-code, see
// node-agent/hollow-runtime.ts), added to the templates here and nowhere else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeManifests, type CronJob, type Job, type Pod } from '../../api/index.js';
import { eventually } from '../helpers/flotctl.js';
import { HollowCluster } from '../helpers/hollow-cluster.js';
import { REPO_ROOT } from '../helpers/lab.js';

const NS = `jobs-${process.pid}`;
const cluster = new HollowCluster({ prefix: `jobnode-${process.pid}`, nodes: 2, kubectl: ['1.33'], agent: { relistMs: 250 } });
const { api, kubectl } = cluster;
let cronCreatedAt = 0;

const podsOf = async (job: string) => (await api<{ items: Pod[] }>('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${job}`)}`)).body.items;
const getJob = async (name: string) => (await api<Job>('GET', `/apis/batch/v1/namespaces/${NS}/jobs/${name}`)).body;

/** A manifest from manifests/ with the hollow exit convention added to its pod template. */
function hollowManifest(file: string, exitCode: number, runMs = 300): string {
  const [doc] = decodeManifests(readFileSync(join(REPO_ROOT, 'manifests', file), 'utf8'), file);
  const o = structuredClone(doc!.object) as any;
  const spec = o.kind === 'CronJob' ? o.spec.jobTemplate.spec : o.spec;
  spec.template.metadata = { ...(spec.template.metadata ?? {}), annotations: { 'hollow.flotilla.io/exit-code': String(exitCode), 'hollow.flotilla.io/run-ms': String(runMs) } };
  o.metadata.namespace = NS;
  return JSON.stringify(o);
}

function jobManifest(name: string, spec: Record<string, unknown>, exitCode: number, runMs = 300): string {
  return JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: NS },
    spec: {
      ...spec,
      template: {
        metadata: { annotations: { 'hollow.flotilla.io/exit-code': String(exitCode), 'hollow.flotilla.io/run-ms': String(runMs) } },
        spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.35', command: ['sh', '-c', `exit ${exitCode}`] }] },
      },
    },
  });
}

beforeAll(async () => {
  await cluster.start();
  expect((await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })).status).toBe(201);
  // the documentation's CronJob, every minute: created first, looked at last (≤ 70 s)
  const r = await kubectl(['apply', '-f', '-'], { stdin: hollowManifest('cronjob.yaml', 0) });
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe('cronjob.batch/hello created');
  cronCreatedAt = Date.now();
}, 120_000);

afterAll(cluster.stop, 60_000);

describe('[job] Jobs with kubectl 1.33 on hollow nodes', () => {
  it('the documentation pi Job completes; kubectl wait --for=condition=complete returns; its pod is what Kubernetes makes', async () => {
    const r = await kubectl(['apply', '-f', '-'], { stdin: hollowManifest('job.yaml', 0) });
    expect(r.stdout.trim()).toBe('job.batch/pi created');
    const w = await kubectl(['wait', '-n', NS, '--for=condition=complete', 'job/pi', '--timeout=60s']);
    expect(w.stderr).toBe('');
    expect(w.stdout.trim()).toBe('job.batch/pi condition met');
    const job = await getJob('pi');
    const uid = job.metadata.uid!;
    expect(job.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 4, completionMode: 'NonIndexed', suspend: false, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } } });
    expect(job.status).toMatchObject({ succeeded: 1, failed: 0, active: 0, ready: 0 });
    expect(job.status!.conditions!.map((c) => `${c.type}=${c.status}`)).toEqual(['SuccessCriteriaMet=True', 'Complete=True']);
    const pods = await podsOf('pi');
    expect(pods).toHaveLength(1);
    const p = pods[0]!;
    expect(p.metadata.name).toMatch(/^pi-[a-z0-9]{5}$/);
    expect(p.status?.phase).toBe('Succeeded');
    expect(p.metadata.labels).toMatchObject({ 'batch.kubernetes.io/controller-uid': uid, 'controller-uid': uid, 'batch.kubernetes.io/job-name': 'pi', 'job-name': 'pi' });
    expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'Job', name: 'pi', uid, controller: true, blockOwnerDeletion: true }]);
    expect(p.metadata.finalizers ?? []).toEqual([]); // counted: the tracking finalizer is gone
  }, 90_000);

  it('completions 3, parallelism 2: never more than two at once, three succeed; kubectl get jobs shows it', async () => {
    expect((await kubectl(['apply', '-f', '-'], { stdin: jobManifest('three', { completions: 3, parallelism: 2 }, 0, 1500) })).stdout.trim()).toBe('job.batch/three created');
    let maxActive = 0;
    await eventually(
      'job three complete',
      async () => {
        const pods = await podsOf('three');
        maxActive = Math.max(maxActive, pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').length);
        return (await getJob('three')).status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');
      },
      60_000,
      100,
    );
    expect(maxActive).toBe(2);
    expect((await podsOf('three')).map((p) => p.status?.phase)).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);
    const g = await kubectl(['get', 'jobs', '-n', NS, 'three']);
    const [head, row] = g.stdout.trim().split('\n');
    expect(head!.split(/\s{2,}/)).toEqual(['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 3)).toEqual(['three', 'Complete', '3/3']);
    const wide = await kubectl(['get', 'jobs', '-n', NS, 'three', '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]!.split(/\s{2,}/)).toEqual(['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
    expect(wide.stdout).toContain('batch.kubernetes.io/controller-uid=');
  }, 90_000);

  it('a podFailurePolicy FailJob on exit code 3 fails the Job at once (reason PodFailurePolicy), whatever the backoffLimit', async () => {
    const spec = { completions: 2, parallelism: 1, backoffLimit: 6, podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [3] } }] } };
    expect((await kubectl(['apply', '-f', '-'], { stdin: jobManifest('exit3', spec, 3) })).stdout.trim()).toBe('job.batch/exit3 created');
    const w = await kubectl(['wait', '-n', NS, '--for=condition=failed', 'job/exit3', '--timeout=60s']);
    expect(w.stdout.trim()).toBe('job.batch/exit3 condition met');
    const job = await getJob('exit3');
    const failed = job.status!.conditions!.find((c) => c.type === 'Failed')!;
    expect(failed.reason).toBe('PodFailurePolicy');
    expect(failed.message).toMatch(/^Container main for pod jobs-\d+\/exit3-[a-z0-9]{5} failed with exit code 3 matching FailJob rule at index 0$/);
    expect(job.status!.failed).toBe(1);
    expect(await podsOf('exit3')).toHaveLength(1);
    const g = await kubectl(['get', 'jobs', '-n', NS, 'exit3', '--no-headers']);
    expect(g.stdout.split(/\s+/).slice(0, 3)).toEqual(['exit3', 'Failed', '0/2']);
  }, 90_000);

  it('backoffLimit 1: a failed pod is replaced after the 10 s back-off, then the Job fails with BackoffLimitExceeded', async () => {
    expect((await kubectl(['apply', '-f', '-'], { stdin: jobManifest('retry', { backoffLimit: 1 }, 1, 100) })).stdout.trim()).toBe('job.batch/retry created');
    const w = await kubectl(['wait', '-n', NS, '--for=condition=failed', 'job/retry', '--timeout=60s']);
    expect(w.stdout.trim()).toBe('job.batch/retry condition met');
    const pods = (await podsOf('retry')).sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
    expect(pods).toHaveLength(2);
    const gap = Date.parse(pods[1]!.metadata.creationTimestamp!) - Date.parse(pods[0]!.metadata.creationTimestamp!);
    expect(gap).toBeGreaterThanOrEqual(9_000);
    const job = await getJob('retry');
    expect(job.status).toMatchObject({ failed: 2, succeeded: 0 });
    expect(job.status!.conditions!.find((c) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
  }, 90_000);

  it('Indexed: pods carry their index (annotation, label, hostname, JOB_COMPLETION_INDEX) and completedIndexes fills', async () => {
    expect((await kubectl(['apply', '-f', '-'], { stdin: jobManifest('idx', { completions: 3, parallelism: 3, completionMode: 'Indexed' }, 0) })).code).toBe(0);
    const w = await kubectl(['wait', '-n', NS, '--for=condition=complete', 'job/idx', '--timeout=60s']);
    expect(w.stdout.trim()).toBe('job.batch/idx condition met');
    expect((await getJob('idx')).status).toMatchObject({ completedIndexes: '0-2', succeeded: 3 });
    const pods = (await podsOf('idx')).sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
    expect(pods.map((p) => p.metadata.annotations!['batch.kubernetes.io/job-completion-index'])).toEqual(['0', '1', '2']);
    expect(pods.map((p) => p.spec.hostname)).toEqual(['idx-0', 'idx-1', 'idx-2']);
    expect(pods[1]!.metadata.name).toMatch(/^idx-1-[a-z0-9]{5}$/);
    expect(pods[1]!.metadata.labels!['batch.kubernetes.io/job-completion-index']).toBe('1');
    expect(pods[1]!.spec.containers[0]!.env).toContainEqual({ name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } });
  }, 90_000);

  it('suspend: a suspended Job runs nothing until resumed', async () => {
    expect((await kubectl(['apply', '-f', '-'], { stdin: jobManifest('later', { suspend: true }, 0) })).code).toBe(0);
    const w = await kubectl(['wait', '-n', NS, '--for=condition=suspended', 'job/later', '--timeout=30s']);
    expect(w.stdout.trim()).toBe('job.batch/later condition met');
    expect(await podsOf('later')).toHaveLength(0);
    expect((await kubectl(['get', 'job', '-n', NS, 'later', '--no-headers'])).stdout.split(/\s+/)[1]).toBe('Suspended');
    const p = await kubectl(['patch', 'job', '-n', NS, 'later', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    expect(p.stdout.trim()).toBe('job.batch/later patched');
    expect((await kubectl(['wait', '-n', NS, '--for=condition=complete', 'job/later', '--timeout=60s'])).stdout.trim()).toBe('job.batch/later condition met');
  }, 90_000);

  it('ttlSecondsAfterFinished: 1 deletes the finished Job and its pods', async () => {
    expect((await kubectl(['apply', '-f', '-'], { stdin: jobManifest('brief', { ttlSecondsAfterFinished: 1 }, 0) })).code).toBe(0);
    await eventually('job brief deleted', async () => (await api('GET', `/apis/batch/v1/namespaces/${NS}/jobs/brief`)).status === 404, 60_000);
    await eventually('its pod gone', async () => (await podsOf('brief')).length === 0, 60_000);
  }, 90_000);

  it('kubectl delete job removes a running Job and its pods (finalizers released)', async () => {
    expect((await kubectl(['apply', '-f', '-'], { stdin: jobManifest('forever', { parallelism: 2, completions: 2 }, 0, 3_600_000) })).code).toBe(0);
    await eventually('two pods running', async () => (await podsOf('forever')).filter((p) => p.status?.phase === 'Running').length === 2, 60_000);
    const d = await kubectl(['delete', 'job', '-n', NS, 'forever', '--timeout=60s']);
    expect(d.stdout.trim()).toBe('job.batch "forever" deleted');
    await eventually('its pods gone', async () => (await podsOf('forever')).length === 0, 60_000);
  }, 90_000);

  it('bad input is refused with kube-apiserver wording', async () => {
    const bad = JSON.parse(jobManifest('bad', { completions: -1 }, 0));
    bad.spec.template.spec.restartPolicy = 'Always';
    const r = await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(bad) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.completions: Invalid value: -1: must be greater than or equal to 0');
    expect(r.stderr).toContain('spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"');
    const cj = JSON.parse(hollowManifest('cronjob.yaml', 0));
    cj.metadata.name = 'badcron';
    cj.spec.schedule = '61 * * * *';
    cj.spec.timeZone = 'Mars/Olympus';
    const c = await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(cj) });
    expect(c.stderr).toContain('spec.schedule: Invalid value: "61 * * * *": ');
    expect(c.stderr).toContain('spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus');
  });
});

describe('[cronjob] the documentation CronJob with kubectl 1.33', () => {
  it('hello (every minute) creates hello-<minutes> with the scheduled-timestamp annotation; kubectl get cronjobs shows it', async () => {
    const job = await eventually(
      'a Job of cronjob hello',
      async () => (await api<{ items: Job[] }>('GET', `/apis/batch/v1/namespaces/${NS}/jobs`)).body.items.find((j) => j.metadata.ownerReferences?.some((r) => r.kind === 'CronJob' && r.name === 'hello')),
      Math.max(5_000, 75_000 - (Date.now() - cronCreatedAt)),
      500,
    );
    const m = /^hello-(\d+)$/.exec(job.metadata.name!);
    expect(m).not.toBeNull();
    const scheduled = Number(m![1]) * 60_000;
    expect(job.metadata.annotations!['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe(new Date(scheduled).toISOString().replace('.000Z', 'Z'));
    expect((await kubectl(['wait', '-n', NS, '--for=condition=complete', `job/${job.metadata.name}`, '--timeout=60s'])).code).toBe(0);
    const cj = await eventually('lastScheduleTime and lastSuccessfulTime', async () => {
      const c = (await api<CronJob>('GET', `/apis/batch/v1/namespaces/${NS}/cronjobs/hello`)).body;
      return c.status?.lastSuccessfulTime ? c : undefined;
    });
    expect(cj.status!.lastScheduleTime).toBe(new Date(scheduled).toISOString().replace('.000Z', 'Z'));
    expect(cj.spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    const g = await kubectl(['get', 'cronjobs', '-n', NS]);
    const [head, row] = g.stdout.trim().split('\n');
    expect(head!.split(/\s{2,}/)).toEqual(['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE']);
    expect(row!.split(/\s{2,}/).slice(0, 4)).toEqual(['hello', '* * * * *', '<none>', 'False']);
    const both = await kubectl(['get', 'jobs,cronjobs', '-n', NS]);
    expect(both.stdout).toContain('cronjob.batch/hello');
    expect(both.stdout).toContain(`job.batch/${job.metadata.name}`);
  }, 150_000);

  it('kubectl create job --from=cronjob/hello makes a manual Job owned by the CronJob', async () => {
    const r = await kubectl(['create', 'job', '-n', NS, 'hello-manual', '--from=cronjob/hello']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('job.batch/hello-manual created');
    const job = await getJob('hello-manual');
    expect(job.metadata.annotations!['cronjob.kubernetes.io/instantiate']).toBe('manual');
    expect(job.metadata.ownerReferences![0]).toMatchObject({ kind: 'CronJob', name: 'hello', controller: true });
    // kubectl sent it in protobuf: the template arrived whole
    const c = job.spec.template.spec.containers[0]!;
    expect(c).toMatchObject({ name: 'hello', image: 'busybox:1.35', imagePullPolicy: 'IfNotPresent', command: ['/bin/sh', '-c', 'date; echo Hello from the Kubernetes cluster'] });
    expect(job.spec.template.spec.restartPolicy).toBe('OnFailure');
    expect(job.spec.template.metadata!.annotations!['hollow.flotilla.io/exit-code']).toBe('0');
    expect((await kubectl(['wait', '-n', NS, '--for=condition=complete', 'job/hello-manual', '--timeout=60s'])).stdout.trim()).toBe('job.batch/hello-manual condition met');
  }, 90_000);
});
