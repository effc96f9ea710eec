// Jobs whose pods are real containers: a real controller (compiled, managed
// etcd, the leader's job controller, the scheduler), one agent joined with a
// bootstrap token on the real NodeRuntime (crun, conmon, namespaces, cgroups,
// busybox from a real local registry), driven by kubectl 1.33. Exit codes come
// from busybox `sh -c 'exit N'`, not from any test convention.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Job, type Pod } from '../../api/index.js';
import { Agent } from '../../node-agent/agent.js';
import { ControllerClient } from '../../node-agent/controller-client.js';
import { joinCluster } from '../../node-agent/join/join.js';
import { CONTROLLER_MAIN, controllerApi, startController, type StartedController } from '../helpers/controller.js';
import { startRuntimeFixture, waitFor, type RuntimeFixture } from '../helpers/node-runtime.js';
import { requireBinaries } from '../helpers/require.js';

const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const log = silentLogger();
let ctl: StartedController;
let fx: RuntimeFixture;
let work: string;
let agent: Agent | undefined;

const api = <T>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);
const getJob = async (name: string) => (await api<Job>(`/apis/batch/v1/namespaces/default/jobs/${name}`)).body;
const podsOf = async (job: string) => (await api<{ items: Pod[] }>(`/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${job}`)}`)).body.items;

function kubectl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, KUBECONFIG: ctl.kubeconfig }, timeout: 150_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

function job(name: string, spec: Record<string, unknown>, script: string, restartPolicy: 'Never' | 'OnFailure' = 'Never'): string {
  return JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: { ...spec, template: { spec: { restartPolicy, terminationGracePeriodSeconds: 2, containers: [{ name: 'main', image: fx.image, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script] }] } } },
  });
}

beforeAll(async () => {
  requireBinaries('the job real-container suite', 'etcd');
  if (!existsSync(CONTROLLER_MAIN)) throw new Error(`the job real-container suite needs the compiled controller (${CONTROLLER_MAIN}): run npm run build`);
  if (!existsSync(KUBECTL)) throw new Error(`the job real-container suite needs ${KUBECTL}`);
  fx = await startRuntimeFixture('the job real-container suite');
  work = mkdtempSync(join(tmpdir(), 'flotilla-job-rt-'));
  ctl = await startController();
  const cred = await joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: `jobrt-${fx.prefix}`, stateDir: work, log });
  agent = new Agent({ client: new ControllerClient(cred), runtime: fx.runtime, nodeIP: '127.0.0.1', log, heartbeatMs: 500, relistMs: 500 });
  await agent.start();
}, 120_000);

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  await ctl?.stop();
  await fx?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('[job] real containers', () => {
  it('completions 3, parallelism 2 of `sleep 1; exit 0`: at most two run at once, three succeed, kubectl wait returns', async () => {
    const podFailurePolicy = { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [3] } }] };
    const r = await kubectl(['apply', '-f', '-'], job('ok', { completions: 3, parallelism: 2, podFailurePolicy }, 'sleep 1; exit 0'));
    expect(r.stderr).toBe('');
    let maxRunning = 0;
    const sampler = setInterval(() => {
      podsOf('ok')
        .then((ps) => (maxRunning = Math.max(maxRunning, ps.filter((p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending').length)))
        .catch(() => undefined);
    }, 200);
    try {
      const w = await kubectl(['wait', '--for=condition=complete', 'job/ok', '--timeout=120s']);
      expect(w.stderr).toBe('');
      expect(w.stdout.trim()).toBe('job.batch/ok condition met');
    } finally {
      clearInterval(sampler);
    }
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(maxRunning).toBeGreaterThanOrEqual(1);
    const pods = await podsOf('ok');
    expect(pods).toHaveLength(3);
    expect(pods.map((p) => p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode)).toEqual([0, 0, 0]);
    expect((await getJob('ok')).status).toMatchObject({ succeeded: 3, failed: 0 });
    const g = await kubectl(['get', 'job', 'ok', '--no-headers']);
    expect(g.stdout.split(/\s+/).slice(0, 3)).toEqual(['ok', 'Complete', '3/3']);
  }, 150_000);

  it('`exit 3` matching a FailJob rule fails the Job at once with reason PodFailurePolicy', async () => {
    const podFailurePolicy = { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [3] } }] };
    await kubectl(['apply', '-f', '-'], job('three', { completions: 3, parallelism: 2, backoffLimit: 6, podFailurePolicy }, 'exit 3'));
    const w = await kubectl(['wait', '--for=condition=failed', 'job/three', '--timeout=120s']);
    expect(w.stdout.trim()).toBe('job.batch/three condition met');
    const j = await getJob('three');
    const failed = j.status!.conditions!.find((c) => c.type === 'Failed')!;
    expect(failed.reason).toBe('PodFailurePolicy');
    expect(failed.message).toMatch(/^Container main for pod default\/three-[a-z0-9]{5} failed with exit code 3 matching FailJob rule at index 0$/);
    await waitFor('no pod of job three runs', async () => (await podsOf('three')).every((p) => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded'), 60_000);
  }, 150_000);

  it('restartPolicy OnFailure with `exit 1` and backoffLimit 1: the container restarts in place, then the Job fails with BackoffLimitExceeded and its pod goes', async () => {
    await kubectl(['apply', '-f', '-'], job('restarts', { backoffLimit: 1 }, 'exit 1', 'OnFailure'));
    const w = await kubectl(['wait', '--for=condition=failed', 'job/restarts', '--timeout=120s']);
    expect(w.stdout.trim()).toBe('job.batch/restarts condition met');
    const j = await getJob('restarts');
    expect(j.status!.conditions!.find((c) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    // one pod only, restarted in place and never replaced: failed 1 is not past backoffLimit 1, so
    // only its container's restart can have failed the Job; it was then stopped and counted as failed
    expect(j.status).toMatchObject({ active: 0, failed: 1, succeeded: 0 });
    const g = await kubectl(['get', 'job', 'restarts', '--no-headers']);
    expect(g.stdout.split(/\s+/).slice(0, 3)).toEqual(['restarts', 'Failed', '0/1']);
    await waitFor('the pod of job restarts is gone', async () => (await podsOf('restarts')).length === 0, 60_000);
  }, 150_000);

  it('Indexed: each container sees JOB_COMPLETION_INDEX through the downward API and its hostname <job>-<index>', async () => {
    await kubectl(['apply', '-f', '-'], job('idx', { completions: 2, parallelism: 2, completionMode: 'Indexed', backoffLimit: 0 }, 'test "$(hostname)" = "idx-$JOB_COMPLETION_INDEX" && test -n "$JOB_COMPLETION_INDEX"'));
    const w = await kubectl(['wait', '--for=condition=complete', 'job/idx', '--timeout=120s']);
    expect(w.stdout.trim()).toBe('job.batch/idx condition met');
    expect((await getJob('idx')).status).toMatchObject({ completedIndexes: '0-1', succeeded: 2, failed: 0 });
  }, 150_000);
});
