// Pod lifecycle on the real node runtime: restarts planned by computePodActions,
// OOM kills, an agent restart that re-adopts what runs, and a pod removal that
// leaves nothing behind (the leak audit).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock, type Pod } from '../../api/index.js';
import type { OciSpec } from '../../node-agent/runtime/index.js';
import { LABELS } from '../../node-agent/sandbox/labels.js';
import type { NodeRuntime } from '../../node-agent/node-runtime.js';
import { mountsUnder } from '../../node-agent/sandbox/sandbox-manager.js';
import { computePodActions } from '../../node-agent/sync/plan.js';
import { computePodStatus } from '../../node-agent/sync/status.js';
import { alive, processesMentioning, startRuntimeFixture, waitFor, type RuntimeFixture } from '../helpers/node-runtime.js';

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

/** One pass of the agent's executor: plan with computePodActions at NOW, then carry the plan out. */
async function syncOnce(rt: NodeRuntime, pod: Pod, now: number) {
  const status = await rt.podStatus(pod);
  const plan = computePodActions(pod, status, now);
  if (plan.killPod) await rt.killPod(pod, 0);
  else for (const k of plan.containersToKill) await rt.stopContainer(pod, k.id, 0);
  let sandbox = status.sandbox;
  if (plan.createSandbox) sandbox = await rt.createSandbox(pod);
  for (const s of plan.containersToStart) {
    await rt.startContainer(pod, sandbox!, pod.spec.containers.find((c) => c.name === s.name)!, s.restartCount);
  }
  return plan;
}

/** The pod as the agent holds it once it is being deleted: killPod then removes everything. */
function deleting(pod: Pod): Pod {
  return { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date().toISOString() } };
}

async function exitedStatus(rt: NodeRuntime, pod: Pod, name: string) {
  return waitFor(`${name} to exit`, async () => {
    const c = (await rt.podStatus(pod)).containers.find((x) => x.name === name);
    return c?.state === 'exited' ? c : undefined;
  });
}

async function logsOf(rt: NodeRuntime, pod: Pod, container: string, previous = false): Promise<string> {
  let s = '';
  for await (const b of rt.containerLogs(pod, container, { previous })) s += Buffer.from(b).toString('utf8');
  return s;
}

describe('[node runtime] pod lifecycle', () => {
  let fx: RuntimeFixture;

  beforeAll(async () => {
    fx = await startRuntimeFixture('the node runtime lifecycle suite');
  });

  afterAll(async () => {
    await fx?.cleanup();
  });

  it('a crashing container is restarted with a growing restart count, the previous instance kept for its logs', async () => {
    const pod = fx.pod('crash', [{ name: 'c', command: ['sh', '-c', 'echo "run at $(cat /proc/uptime)"; exit 3'] }]);
    const ids: string[] = [];
    let sandboxId: string | undefined;
    for (let i = 0; i < 3; i++) {
      // Planned far in the future, so the crash-loop back-off has always run out.
      const plan = await syncOnce(fx.runtime, pod, Date.now() + 3_600_000);
      expect(plan.containersToStart).toEqual([{ name: 'c', restartCount: i }]);
      expect(plan.createSandbox).toBe(i === 0);
      const c = await exitedStatus(fx.runtime, pod, 'c');
      expect(c).toMatchObject({ restartCount: i, exitCode: 3, reason: 'Error' });
      sandboxId ??= c.sandboxId;
      expect(c.sandboxId).toBe(sandboxId);
      ids.push(c.id);
    }
    expect(new Set(ids).size).toBe(3);
    // Now, at the real time, the planner backs off and the status says so.
    const status = await fx.runtime.podStatus(pod);
    const plan = computePodActions(pod, status, Date.now());
    expect(plan.containersToStart).toEqual([]);
    expect(plan.backingOff.map((b) => b.name)).toEqual(['c']);
    const ps = computePodStatus({ pod, runtime: status, waiting: new Map(), now: Date.now() });
    expect(ps.containerStatuses![0]).toMatchObject({
      restartCount: 2,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
      lastState: { terminated: { exitCode: 3, reason: 'Error' } },
    });
    // The latest and the previous instance have their own logs; older ones are gone.
    const latest = await logsOf(fx.runtime, pod, 'c');
    const previous = await logsOf(fx.runtime, pod, 'c', true);
    expect(latest).toMatch(/^run at /);
    expect(previous).toMatch(/^run at /);
    expect(previous).not.toBe(latest);
    expect(fx.runtime.containerRuntime.containers.metadata(ids[0]!)).toBeUndefined();
    expect(fx.runtime.containerRuntime.containers.metadata(ids[1]!)).toBeDefined();
    await fx.runtime.killPod(deleting(pod), 0);
  });

  it('a container over its memory limit is reported OOMKilled with exit code 137', async () => {
    const pod = fx.pod(
      'oom',
      [{ name: 'hog', command: ['sh', '-c', 'x=$(head -c 50000000 /dev/zero | tr "\\0" a); echo ${#x}'], resources: { limits: { memory: '8Mi' } } }],
      { restartPolicy: 'Never' },
    );
    await syncOnce(fx.runtime, pod, Date.now());
    const c = await exitedStatus(fx.runtime, pod, 'hog');
    expect(c).toMatchObject({ state: 'exited', reason: 'OOMKilled', exitCode: 137 });
    // Never restarted, and the pod is Failed.
    const status = await fx.runtime.podStatus(pod);
    expect(computePodActions(pod, status, Date.now() + 3_600_000).containersToStart).toEqual([]);
    expect(computePodStatus({ pod, runtime: status, waiting: new Map(), now: Date.now() }).phase).toBe('Failed');
    await fx.runtime.killPod(deleting(pod), 0);
  });

  it('stopping a container keeps its exit status until it is replaced', async () => {
    const pod = fx.pod('stop', [{ name: 'c', command: SLEEP }]);
    await syncOnce(fx.runtime, pod, Date.now());
    const running = (await fx.runtime.podStatus(pod)).containers[0]!;
    expect(running.state).toBe('running');
    await fx.runtime.stopContainer(pod, running.id, 5);
    const c = (await fx.runtime.podStatus(pod)).containers[0]!;
    expect(c).toMatchObject({ id: running.id, state: 'exited', exitCode: 0, reason: 'Completed' });
    await fx.runtime.killPod(deleting(pod), 0);
  });

  it('a new runtime on the same dirs re-adopts the running pod: same ids, still running, nothing to do', async () => {
    const pod = fx.pod('adopt', [
      { name: 'a', command: SLEEP },
      { name: 'b', command: SLEEP },
    ]);
    await syncOnce(fx.runtime, pod, Date.now());
    const before = await fx.runtime.podStatus(pod);
    expect(before.containers.every((c) => c.state === 'running')).toBe(true);

    const restarted = await fx.reopen();
    const listed = (await restarted.listPods()).find((p) => p.uid === pod.metadata.uid);
    expect(listed).toBeDefined();
    expect(listed!.sandbox).toEqual(before.sandbox);
    expect(listed!.containers.map((c) => [c.name, c.id, c.state, c.restartCount]).sort()).toEqual(
      before.containers.map((c) => [c.name, c.id, 'running', 0]).sort(),
    );
    const plan = computePodActions(pod, listed!, Date.now());
    expect(plan).toMatchObject({ killPod: false, createSandbox: false, containersToKill: [], containersToStart: [] });
    let out = '';
    const code = await restarted.exec(pod, 'b', { command: ['echo', 'still here'], onStdout: (b) => (out += Buffer.from(b).toString()), onStderr: () => undefined });
    expect([code, out]).toEqual([0, 'still here\n']);
    await restarted.killPod(deleting(pod), 0);
  });

  it('a container left created but never started (agent stopped mid-start) is reported failed after a minute and replaced', async () => {
    const pod = fx.pod('stuck', [{ name: 'c', command: SLEEP }]);
    await syncOnce(fx.runtime, pod, Date.now());
    const cm = fx.runtime.containerRuntime.containers;
    const first = (await fx.runtime.podStatus(pod)).containers[0]!;
    // What a crash between `create` and `start` leaves: a created instance, the latest by its restart count.
    const spec = JSON.parse(readFileSync(join(cm.bundleDir(first.id), 'config.json'), 'utf8')) as OciSpec;
    const id = randomBytes(32).toString('hex');
    spec.linux.cgroupsPath = fx.runtime.containerRuntime.cgroups.containerPath(pod.metadata.uid!, id);
    const labels = { ...cm.metadata(first.id)!.labels, [LABELS.restartCount]: '1' };
    await cm.create({ id, spec, logPath: join(fx.tmp, `stuck-${id.slice(0, 8)}.log`), labels });
    expect((await fx.runtime.podStatus(pod)).containers[0]).toMatchObject({ id, state: 'created' });

    const later = await fx.reopen({ clock: { ...realClock, now: () => Date.now() + 120_000 } });
    const c = (await later.podStatus(pod)).containers[0]!;
    expect(c).toMatchObject({ id, state: 'exited', exitCode: 128, reason: 'Error' });
    expect(c.message).toMatch(/never started/);
    const plan = computePodActions(pod, await later.podStatus(pod), Date.now() + 3_600_000);
    expect(plan.containersToStart).toEqual([{ name: 'c', restartCount: 2 }]);
    await later.killPod(deleting(pod), 0);
    expect(cm.metadata(id)).toBeUndefined();
  });

  it('a sandbox whose pause died is replaced: the old one is torn down and the containers restart in the new one', async () => {
    const pod = fx.pod('phoenix', [{ name: 'c', command: SLEEP, resources: { limits: { cpu: '250m' } } }]);
    await syncOnce(fx.runtime, pod, Date.now());
    const before = await fx.runtime.podStatus(pod);
    const cg = fx.runtime.containerRuntime.cgroups;
    expect(cg.read('cpu', cg.containerPath(pod.metadata.uid!, before.containers[0]!.id), 'cpu.cfs_quota_us')).toBe('25000');
    const oldSandbox = before.sandbox!;
    const pausePid = (await fx.runtime.containerRuntime.containers.status(oldSandbox.id)).pid!;
    process.kill(pausePid, 'SIGKILL');
    await waitFor('the sandbox to be reported not ready', async () => (await fx.runtime.podStatus(pod)).sandbox?.state === 'notready');

    const plan = await syncOnce(fx.runtime, pod, Date.now());
    expect(plan).toMatchObject({ killPod: true, createSandbox: true, containersToStart: [{ name: 'c', restartCount: 1 }] });
    const after = await fx.runtime.podStatus(pod);
    expect(after.sandbox).toMatchObject({ state: 'ready' });
    expect(after.sandbox!.id).not.toBe(oldSandbox.id);
    expect(after.containers).toMatchObject([{ name: 'c', state: 'running', restartCount: 1, sandboxId: after.sandbox!.id }]);
    expect(existsSync(fx.runtime.layout.netnsPin(oldSandbox.id))).toBe(false);
    expect(fx.runtime.sandboxes.records(pod.metadata.uid!).map((r) => r.id)).toEqual([after.sandbox!.id]);
    await fx.runtime.killPod(deleting(pod), 0);
  });

  it('a finished pod is stopped but keeps its container statuses and logs until it is deleted', async () => {
    const pod = fx.pod('finished', [{ name: 'ok', command: ['sh', '-c', 'echo all done; exit 0'] }, { name: 'bad', command: ['sh', '-c', 'exit 4'] }], {
      restartPolicy: 'Never',
      volumes: [{ name: 'scratch', emptyDir: {} }],
    });
    await syncOnce(fx.runtime, pod, Date.now());
    await exitedStatus(fx.runtime, pod, 'ok');
    await exitedStatus(fx.runtime, pod, 'bad');
    const uid = pod.metadata.uid!;
    const st = await fx.runtime.podStatus(pod);
    const sandboxId = st.sandbox!.id;
    // The agent's executor for a terminal pod: killPod with the pod as it is (not being deleted).
    const terminal = { ...pod, status: { phase: 'Failed' as const } };
    const plan = computePodActions(terminal, st, Date.now());
    expect(plan.killPod).toBe(true);
    await fx.runtime.killPod(terminal, 0);

    const after = await fx.runtime.podStatus(pod);
    expect(after.sandbox).toBeUndefined();
    expect(after.containers.map((c) => [c.name, c.state, c.exitCode, c.reason]).sort()).toEqual([
      ['bad', 'exited', 4, 'Error'],
      ['ok', 'exited', 0, 'Completed'],
    ]);
    expect(computePodStatus({ pod: terminal, runtime: after, waiting: new Map(), now: Date.now() }).phase).toBe('Failed');
    expect(computePodActions(terminal, after, Date.now())).toMatchObject({ killPod: false, createSandbox: false, containersToStart: [] });
    expect(await logsOf(fx.runtime, pod, 'ok')).toBe('all done\n');
    // Nothing of it runs or is mounted any more: no netns pin, no cgroup, no rootfs mount, no process.
    expect(existsSync(fx.runtime.layout.netnsPin(sandboxId))).toBe(false);
    expect(fx.runtime.containerRuntime.cgroups.existing(fx.runtime.containerRuntime.cgroups.podPath(uid))).toEqual([]);
    expect(mountsUnder([join(fx.stateDir, 'images', 'rootfs'), fx.runtime.layout.podStateDir(uid), fx.runtime.layout.podRunDir(uid)])).toEqual([]);
    for (const id of [sandboxId, ...after.containers.map((c) => c.id)]) expect(processesMentioning(id)).toEqual([]);

    // Deleted: everything goes.
    await fx.runtime.killPod(deleting(pod), 0);
    expect(await fx.runtime.podStatus(pod)).toEqual({ uid, containers: [] });
    expect(existsSync(fx.runtime.layout.podStateDir(uid))).toBe(false);
  });

  it('removing a pod leaves no namespace pin, mount, cgroup, rootfs, file or process of it behind', async () => {
    const pod = fx.pod(
      'leak',
      [
        { name: 'a', command: SLEEP, resources: { limits: { cpu: '200m', memory: '64Mi' } }, volumeMounts: [{ name: 'mem', mountPath: '/mem' }, { name: 'disk', mountPath: '/disk' }] },
        { name: 'stubborn', command: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'], resources: { limits: { cpu: '100m', memory: '32Mi' } } },
      ],
      { volumes: [{ name: 'mem', emptyDir: { medium: 'Memory' } }, { name: 'disk', emptyDir: {} }] },
    );
    await syncOnce(fx.runtime, pod, Date.now());
    const uid = pod.metadata.uid!;
    const rt = fx.runtime;
    const status = await rt.podStatus(pod);
    const sandboxId = status.sandbox!.id;
    const ids = [sandboxId, ...status.containers.map((c) => c.id)];
    const pids = await Promise.all(ids.map(async (id) => (await rt.containerRuntime.containers.status(id)).pid!));
    const conmons = ids.flatMap((id) => processesMentioning(id));
    const pin = rt.layout.netnsPin(sandboxId);
    const cgroups = rt.containerRuntime.cgroups;
    const podCgroup = cgroups.podPath(uid);
    const rootfsDirs = status.containers.map((c) => join(fx.stateDir, 'images', 'rootfs', c.id));
    // Everything is there before.
    expect(pids.every(alive)).toBe(true);
    expect(conmons.length).toBeGreaterThanOrEqual(ids.length);
    expect(existsSync(pin)).toBe(true);
    expect(cgroups.existing(podCgroup).length).toBeGreaterThan(0);
    expect(cgroups.read('memory', podCgroup, 'memory.limit_in_bytes')).toBe(String(96 * 1024 * 1024));
    expect(mountsUnder(rootfsDirs.map((d) => join(d, 'rootfs'))).length).toBe(2);
    expect(mountsUnder([rt.layout.volumeDir(uid, 'mem')]).length).toBe(1);

    const t0 = Date.now();
    await rt.killPod(deleting(pod), 1);
    // The stubborn container had its grace period before SIGKILL.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);

    expect(pids.filter(alive)).toEqual([]);
    expect(conmons.filter(alive)).toEqual([]);
    expect(ids.flatMap((id) => processesMentioning(id))).toEqual([]);
    expect(existsSync(pin)).toBe(false);
    expect(mountsUnder([pin])).toEqual([]);
    expect(cgroups.existing(podCgroup)).toEqual([]);
    expect(mountsUnder([join(fx.stateDir, 'images', 'rootfs'), rt.layout.podStateDir(uid), rt.layout.podRunDir(uid)])).toEqual([]);
    for (const d of [...rootfsDirs, rt.layout.podStateDir(uid), rt.layout.podRunDir(uid)]) expect(existsSync(d)).toBe(false);
    for (const id of ids) expect(rt.containerRuntime.containers.metadata(id)).toBeUndefined();
    expect((await rt.listPods()).find((p) => p.uid === uid)).toBeUndefined();
    // With no pod left, the agent holds no mount at all under its dirs (no netns directory mount either).
    expect(await rt.listPods()).toEqual([]);
    expect(mountsUnder([fx.runDir, fx.stateDir])).toEqual([]);
  });
});
