// Init containers, sidecars and activeDeadlineSeconds on a joined node with the
// real runtime (crun, conmon, the busybox test image): what a user sees through
// the API and kubectl — the STATUS column, the pod phase and reason, and the
// app container's log of what the init containers wrote into an emptyDir.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Pod } from '../../api/index.js';
import { Agent } from '../../node-agent/agent.js';
import { ControllerClient } from '../../node-agent/controller-client.js';
import { joinCluster } from '../../node-agent/join/join.js';
import type { NodeCredential } from '../../node-agent/join/credentials.js';
import { CONTROLLER_MAIN, controllerApi, startController, type StartedController } from '../helpers/controller.js';
import { startRuntimeFixture, waitFor, type RuntimeFixture } from '../helpers/node-runtime.js';
import { requireBinaries } from '../helpers/require.js';

const log = silentLogger();
const KUBECTL = '/usr/bin/kubectl';
let ctl: StartedController;
let fx: RuntimeFixture;
let work: string;
let agent: Agent | undefined;
let cred: NodeCredential;
const NODE = 'rt-init-1';

const api = <T>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);
const getPod = async (name: string) => (await api<Pod>(`/api/v1/namespaces/default/pods/${name}`)).body;

async function createPod(name: string, spec: Record<string, unknown>): Promise<void> {
  const r = await api('/api/v1/namespaces/default/pods', {
    method: 'POST',
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: NODE, terminationGracePeriodSeconds: 2, ...spec } },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

/** NAME READY STATUS RESTARTS AGE as kubectl prints them (server-side Table). */
function kubectlRow(name: string): string[] {
  const out = execFileSync(KUBECTL, ['--kubeconfig', ctl.kubeconfig, 'get', 'pod', name, '--no-headers'], { encoding: 'utf8' });
  return out.trim().split(/\s{2,}/);
}

async function appLog(pod: Pod, container: string): Promise<string> {
  let text = '';
  for await (const chunk of fx.runtime.containerLogs(pod, container, {})) text += Buffer.from(chunk).toString();
  return text;
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

beforeAll(async () => {
  requireBinaries('the init containers suite', 'etcd');
  if (!existsSync(CONTROLLER_MAIN)) throw new Error(`the init containers suite needs the compiled controller (${CONTROLLER_MAIN}): run npm run build`);
  if (!existsSync(KUBECTL)) throw new Error(`the init containers suite needs ${KUBECTL}: run hack/deps.sh first`);
  fx = await startRuntimeFixture('the init containers suite');
  work = mkdtempSync(join(tmpdir(), 'flotilla-agent-init-'));
  ctl = await startController();
  cred = await joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: NODE, stateDir: work, log });
  agent = new Agent({ client: new ControllerClient(cred), runtime: fx.runtime, nodeIP: '127.0.0.1', log, heartbeatMs: 500, relistMs: 500 });
  await agent.start();
}, 120_000);

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  await ctl?.stop();
  await fx?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('[agent] init containers, sidecars and activeDeadlineSeconds with the real runtime', () => {
  it('two init containers write into an emptyDir in order, then the app container prints what they wrote', async () => {
    await createPod('init-order', {
      restartPolicy: 'Never',
      volumes: [{ name: 'work', emptyDir: {} }],
      initContainers: [
        { name: 'first', image: fx.image, command: ['sh', '-c', 'sleep 1; echo one > /work/out'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
        { name: 'second', image: fx.image, command: ['sh', '-c', 'test -f /work/out && echo two >> /work/out'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
      ],
      containers: [{ name: 'app', image: fx.image, command: ['cat', '/work/out'], volumeMounts: [{ name: 'work', mountPath: '/work' }] }],
    });
    // While the first init container runs: Pending, Init:0/2, Initialized False.
    const initializing = await waitFor('init-order initializing', async () => {
      const p = await getPod('init-order');
      return p.status?.initContainerStatuses?.[0]?.state?.running ? p : undefined;
    }, 60_000);
    expect(initializing.status?.phase).toBe('Pending');
    expect(initializing.status?.conditions?.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [first second]' });
    expect(initializing.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');

    const done = await waitFor('init-order Succeeded', async () => {
      const p = await getPod('init-order');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    }, 60_000);
    expect(done.status?.initContainerStatuses?.map((c) => [c.name, c.state?.terminated?.exitCode, c.state?.terminated?.reason])).toEqual([
      ['first', 0, 'Completed'],
      ['second', 0, 'Completed'],
    ]);
    expect(done.status?.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('True');
    expect(await appLog(done, 'app')).toBe('one\ntwo\n');
    expect(kubectlRow('init-order').slice(0, 4)).toEqual(['init-order', '0/1', 'Completed', '0']);
  });

  it('a failing init container under restartPolicy Never fails the pod: Init:Error, the app container never starts', async () => {
    await createPod('init-fail', {
      restartPolicy: 'Never',
      initContainers: [{ name: 'setup', image: fx.image, command: ['sh', '-c', 'echo nope; exit 3'] }],
      containers: [{ name: 'app', image: fx.image, command: SLEEP }],
    });
    const failed = await waitFor('init-fail Failed', async () => {
      const p = await getPod('init-fail');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    expect(failed.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(failed.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(kubectlRow('init-fail').slice(0, 4)).toEqual(['init-fail', '0/1', 'Init:Error', '0']);
    const rt = await fx.runtime.podStatus(failed);
    expect(rt.containers.map((c) => c.name)).toEqual(['setup']);
  });

  it('a failing init container under restartPolicy Always is restarted with back-off: Init:CrashLoopBackOff', async () => {
    await createPod('init-loop', {
      initContainers: [{ name: 'setup', image: fx.image, command: ['sh', '-c', 'exit 1'] }],
      containers: [{ name: 'app', image: fx.image, command: SLEEP }],
    });
    await waitFor('init-loop in Init:CrashLoopBackOff', async () => (await getPod('init-loop')).status?.initContainerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff', 60_000);
    const p = await getPod('init-loop');
    expect(p.status?.phase).toBe('Pending');
    expect(p.status?.initContainerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(1);
    const row = kubectlRow('init-loop');
    expect(row.slice(0, 3)).toEqual(['init-loop', '0/1', 'Init:CrashLoopBackOff']);
    expect(row[3]).toMatch(/^[1-9]\d* \(\d+s ago\)$/);
    expect((await fx.runtime.podStatus(p)).containers.map((c) => c.name)).toEqual(['setup']);
  });

  it('a sidecar starts before the app container, runs beside it, counts in READY and is stopped when the app exits (Succeeded)', async () => {
    await createPod('sidecar', {
      restartPolicy: 'Never',
      volumes: [{ name: 'work', emptyDir: {} }],
      initContainers: [
        { name: 'logger', image: fx.image, restartPolicy: 'Always', command: ['sh', '-c', 'trap "exit 0" TERM; echo up > /work/sidecar; while true; do sleep 1; done'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
      ],
      containers: [{ name: 'app', image: fx.image, command: ['sh', '-c', 'cat /work/sidecar; sleep 3'], volumeMounts: [{ name: 'work', mountPath: '/work' }] }],
    });
    const running = await waitFor('sidecar pod Running with both containers', async () => {
      const p = await getPod('sidecar');
      return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running && p.status.initContainerStatuses?.[0]?.state?.running ? p : undefined;
    }, 60_000);
    expect(running.status?.initContainerStatuses?.[0]).toMatchObject({ name: 'logger', ready: true, started: true });
    expect(kubectlRow('sidecar').slice(0, 3)).toEqual(['sidecar', '2/2', 'Running']);

    const done = await waitFor('sidecar pod Succeeded', async () => {
      const p = await getPod('sidecar');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    }, 60_000);
    expect(done.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    // The sidecar was stopped (SIGTERM: its trap exits 0), after the app container finished.
    const side = done.status!.initContainerStatuses![0]!.state!.terminated!;
    const app = done.status!.containerStatuses![0]!.state!.terminated!;
    expect(Date.parse(side.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(app.finishedAt!));
    expect(await appLog(done, 'app')).toBe('up\n');
    expect(kubectlRow('sidecar').slice(0, 3)).toEqual(['sidecar', '0/2', 'Completed']);
  });

  it('activeDeadlineSeconds: the pod is stopped (preStop, then SIGTERM) and Failed with DeadlineExceeded', async () => {
    const dir = join(work, 'deadline');
    await createPod('deadline', {
      activeDeadlineSeconds: 3,
      volumes: [{ name: 'out', hostPath: { path: dir, type: 'DirectoryOrCreate' } }],
      containers: [
        {
          name: 'app',
          image: fx.image,
          command: ['sh', '-c', 'trap "echo term >> /out/log; exit 0" TERM; while true; do sleep 0.2; done'],
          volumeMounts: [{ name: 'out', mountPath: '/out' }],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /out/log'] } } },
        },
      ],
    });
    await waitFor('deadline Running', async () => (await getPod('deadline')).status?.phase === 'Running', 60_000);
    const failed = await waitFor('deadline Failed', async () => {
      const p = await getPod('deadline');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 30_000);
    expect(failed.status).toMatchObject({ reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    expect(failed.status?.containerStatuses?.[0]?.state?.terminated, JSON.stringify(failed.status)).toBeDefined();
    const ran = Date.parse(failed.status!.containerStatuses![0]!.state!.terminated!.finishedAt!) - Date.parse(failed.status!.startTime!);
    expect(ran).toBeGreaterThanOrEqual(3_000);
    expect(ran).toBeLessThan(10_000);
    expect(kubectlRow('deadline').slice(0, 2)).toEqual(['deadline', '0/1']);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('prestop\nterm\n');
    await waitFor('deadline sandbox torn down', async () => (await fx.runtime.podStatus(failed)).sandbox === undefined, 30_000);
  });

  it('an agent restart re-adopts an initialized pod: the completed init container does not run again', async () => {
    const dir = join(work, 'runs');
    await createPod('readopt', {
      volumes: [{ name: 'out', hostPath: { path: dir, type: 'DirectoryOrCreate' } }],
      initContainers: [{ name: 'once', image: fx.image, command: ['sh', '-c', 'echo ran >> /out/log'], volumeMounts: [{ name: 'out', mountPath: '/out' }] }],
      containers: [{ name: 'app', image: fx.image, command: SLEEP }],
    });
    const before = await waitFor('readopt Running', async () => {
      const p = await getPod('readopt');
      return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, 60_000);
    await agent!.stop();
    agent = new Agent({ client: new ControllerClient(cred), runtime: await fx.reopen(), nodeIP: '127.0.0.1', log, heartbeatMs: 500, relistMs: 500 });
    await agent.start();
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await getPod('readopt');
    expect(after.status?.phase).toBe('Running');
    expect(after.status?.initContainerStatuses?.[0]?.containerID).toBe(before.status?.initContainerStatuses?.[0]?.containerID);
    expect(after.status?.containerStatuses?.[0]).toMatchObject({ containerID: before.status?.containerStatuses?.[0]?.containerID, restartCount: 0 });
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('ran\n');
    expect((await api(`/api/v1/namespaces/default/pods/readopt`, { method: 'DELETE' })).status).toBeLessThan(300);
    await waitFor('readopt gone', async () => (await api('/api/v1/namespaces/default/pods/readopt')).status === 404, 60_000);
  });

  it('deleting a pod stops the app container first (SIGTERM, SIGKILL after the grace period), then the sidecar', async () => {
    const dir = join(work, 'order');
    await createPod('stop-order', {
      terminationGracePeriodSeconds: 2,
      volumes: [{ name: 'out', hostPath: { path: dir, type: 'DirectoryOrCreate' } }],
      initContainers: [
        { name: 'side', image: fx.image, restartPolicy: 'Always', command: ['sh', '-c', 'trap "echo side-term >> /out/log; exit 0" TERM; while true; do sleep 1; done'], volumeMounts: [{ name: 'out', mountPath: '/out' }] },
      ],
      // The app container ignores SIGTERM: only the SIGKILL after the grace period ends it.
      containers: [{ name: 'app', image: fx.image, command: ['sh', '-c', 'trap "echo app-term >> /out/log" TERM; while true; do sleep 1; done'], volumeMounts: [{ name: 'out', mountPath: '/out' }] }],
    });
    await waitFor('stop-order Running', async () => (await getPod('stop-order')).status?.containerStatuses?.[0]?.state?.running !== undefined, 60_000);
    const t0 = Date.now();
    expect([200, 202]).toContain((await api('/api/v1/namespaces/default/pods/stop-order', { method: 'DELETE' })).status);
    await waitFor('stop-order gone', async () => (await api('/api/v1/namespaces/default/pods/stop-order')).status === 404, 60_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_000);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('app-term\nside-term\n');
  });

  it('a sidecar and an app container that exit 1 once then run show Last State: Terminated (exit code 1), kept across an agent restart', async () => {
    const dir = join(work, 'once');
    // Each container fails its first run (no marker yet), then runs on.
    const failOnce = (name: string) => ['sh', '-c', `if [ ! -f /out/${name} ]; then touch /out/${name}; echo first run fails; exit 1; fi; trap "exit 0" TERM; while true; do sleep 1; done`];
    await createPod('last-state', {
      volumes: [{ name: 'out', hostPath: { path: dir, type: 'DirectoryOrCreate' } }],
      initContainers: [{ name: 'side', image: fx.image, restartPolicy: 'Always', command: failOnce('side'), volumeMounts: [{ name: 'out', mountPath: '/out' }] }],
      containers: [{ name: 'app', image: fx.image, command: failOnce('app'), volumeMounts: [{ name: 'out', mountPath: '/out' }] }],
    });
    const running = (p: Pod) => [p.status?.initContainerStatuses?.[0], p.status?.containerStatuses?.[0]].every((c) => c?.state?.running && c.restartCount === 1);
    const before = await waitFor('last-state running again after one failure each', async () => {
      const p = await getPod('last-state');
      return running(p) ? p : undefined;
    }, 90_000);
    for (const c of [before.status!.initContainerStatuses![0]!, before.status!.containerStatuses![0]!]) {
      const t = c.lastState?.terminated;
      expect(t, `${c.name}: ${JSON.stringify(c)}`).toMatchObject({ exitCode: 1, reason: 'Error' });
      expect(t?.containerID).toMatch(/^flotilla:\/\//);
      expect(t?.containerID).not.toBe(c.containerID);
      expect(Date.parse(t!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(t!.startedAt!));
      expect(Date.parse(t!.finishedAt!)).toBeLessThanOrEqual(Date.parse(c.state!.running!.startedAt!));
    }
    expect(kubectlRow('last-state').slice(0, 3)).toEqual(['last-state', '2/2', 'Running']);
    expect(kubectlRow('last-state')[3]).toMatch(/^2 \(\d+s ago\)$/);
    const describe = execFileSync(KUBECTL, ['--kubeconfig', ctl.kubeconfig, 'describe', 'pod', 'last-state'], { encoding: 'utf8' });
    expect(describe).toMatch(/Last State:\s+Terminated\n\s+Reason:\s+Error\n\s+Exit Code:\s+1/);

    // A new agent on the same runtime dirs reads the previous instances back from disk.
    await agent!.stop();
    agent = new Agent({ client: new ControllerClient(cred), runtime: await fx.reopen(), nodeIP: '127.0.0.1', log, heartbeatMs: 500, relistMs: 500 });
    await agent.start();
    const pod = await getPod('last-state');
    const rt = await fx.runtime.podStatus(pod);
    expect(rt.containers.map((c) => [c.name, c.lastTermination?.exitCode, `flotilla://${c.lastTermination?.id}`]).sort()).toEqual(
      [
        ['app', 1, before.status!.containerStatuses![0]!.lastState!.terminated!.containerID],
        ['side', 1, before.status!.initContainerStatuses![0]!.lastState!.terminated!.containerID],
      ].sort(),
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const after = await getPod('last-state');
    expect(after.status?.containerStatuses?.[0]?.lastState).toEqual(before.status?.containerStatuses?.[0]?.lastState);
    expect(after.status?.initContainerStatuses?.[0]?.lastState).toEqual(before.status?.initContainerStatuses?.[0]?.lastState);
    expect((await api('/api/v1/namespaces/default/pods/last-state', { method: 'DELETE' })).status).toBeLessThan(300);
    await waitFor('last-state gone', async () => (await api('/api/v1/namespaces/default/pods/last-state')).status === 404, 60_000);
  });

  it('deleting a pod runs the sidecar’s preStop and SIGTERM only after the app container ran its own and exited', async () => {
    const dir = join(work, 'prestop-order');
    const out = [{ name: 'out', mountPath: '/out' }];
    const hook = (line: string) => ({ preStop: { exec: { command: ['sh', '-c', `echo ${line} >> /out/log; sleep 1`] } } });
    await createPod('prestop-order', {
      terminationGracePeriodSeconds: 20,
      volumes: [{ name: 'out', hostPath: { path: dir, type: 'DirectoryOrCreate' } }],
      initContainers: [
        { name: 'side-a', image: fx.image, restartPolicy: 'Always', command: ['sh', '-c', 'trap "echo a-term >> /out/log; exit 0" TERM; while true; do sleep 0.2; done'], volumeMounts: out, lifecycle: hook('a-prestop') },
        { name: 'side-b', image: fx.image, restartPolicy: 'Always', command: ['sh', '-c', 'trap "echo b-term >> /out/log; exit 0" TERM; while true; do sleep 0.2; done'], volumeMounts: out, lifecycle: hook('b-prestop') },
      ],
      // The app takes a second after SIGTERM to finish: the sidecars wait for it.
      containers: [{ name: 'app', image: fx.image, command: ['sh', '-c', 'trap "sleep 1; echo app-term >> /out/log; exit 0" TERM; while true; do sleep 0.2; done'], volumeMounts: out, lifecycle: hook('app-prestop') }],
    });
    await waitFor('prestop-order Running', async () => {
      const p = await getPod('prestop-order');
      return p.status?.containerStatuses?.[0]?.state?.running !== undefined && p.status.initContainerStatuses?.every((c) => c.state?.running) ? p : undefined;
    }, 60_000);
    const t0 = Date.now();
    expect([200, 202]).toContain((await api('/api/v1/namespaces/default/pods/prestop-order', { method: 'DELETE' })).status);
    await waitFor('prestop-order gone', async () => (await api('/api/v1/namespaces/default/pods/prestop-order')).status === 404, 60_000);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('app-prestop\napp-term\nb-prestop\nb-term\na-prestop\na-term\n');
  });

  it('deleting the pods removes them from the node', async () => {
    const names = ['init-order', 'init-fail', 'init-loop', 'sidecar', 'deadline'];
    const uids = await Promise.all(names.map(async (n) => (await getPod(n)).metadata.uid!));
    for (const n of names) expect([200, 202]).toContain((await api(`/api/v1/namespaces/default/pods/${n}`, { method: 'DELETE' })).status);
    for (const n of names) await waitFor(`pod ${n} gone`, async () => (await api(`/api/v1/namespaces/default/pods/${n}`)).status === 404, 60_000);
    expect((await fx.runtime.listPods()).filter((p) => uids.includes(p.uid))).toEqual([]);
  });
});
