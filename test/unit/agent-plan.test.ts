import { describe, expect, it } from 'vitest';
import { FakeClock, podRestarts, type Pod, type Probe } from '../../api/index.js';
import { ProbeManager } from '../../node-agent/probes/index.js';
import { computePodActions, containerSpecHash, restartBackoffMs } from '../../node-agent/sync/plan.js';
import { computePodStatus } from '../../node-agent/sync/status.js';
import type { PodRuntimeStatus, RuntimeContainer } from '../../node-agent/sync/types.js';

const NOW = 1_000_000;

function pod(over: Partial<Pod['spec']> = {}, meta: Partial<Pod['metadata']> = {}, status?: Pod['status']): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', uid: 'u1', ...meta },
    spec: { containers: [{ name: 'app', image: 'busybox:1' }, { name: 'side', image: 'busybox:1' }], restartPolicy: 'Always', ...over },
    ...(status ? { status } : {}),
  };
}

function ctr(name: string, state: RuntimeContainer['state'], extra: Partial<RuntimeContainer> = {}, p: Pod = pod()): RuntimeContainer {
  const spec = p.spec.containers.find((c) => c.name === name)!;
  return { name, id: `${name}-id`, sandboxId: 'sb1', state, restartCount: 0, image: spec.image, specHash: containerSpecHash(spec), ...extra };
}

const ready = { id: 'sb1', state: 'ready' as const, ip: '10.244.1.5', createdAt: 0 };

function rt(containers: RuntimeContainer[], sandbox: PodRuntimeStatus['sandbox'] | null = ready): PodRuntimeStatus {
  return { uid: 'u1', ...(sandbox ? { sandbox } : {}), containers };
}

describe('[agent] computePodActions', () => {
  it('creates the sandbox and starts every container of a new pod', () => {
    const a = computePodActions(pod(), rt([], null), NOW);
    expect(a).toMatchObject({ createSandbox: true, killPod: false });
    expect(a.containersToStart).toEqual([
      { name: 'app', restartCount: 0 },
      { name: 'side', restartCount: 0 },
    ]);
  });

  it('does nothing when everything runs as specified', () => {
    const a = computePodActions(pod(), rt([ctr('app', 'running'), ctr('side', 'running')]), NOW);
    expect(a).toEqual({ killPod: false, createSandbox: false, containersToKill: [], containersToStart: [], backingOff: [] });
  });

  it('starts a missing container in the existing sandbox', () => {
    const a = computePodActions(pod(), rt([ctr('app', 'running')]), NOW);
    expect(a.createSandbox).toBe(false);
    expect(a.containersToStart).toEqual([{ name: 'side', restartCount: 0 }]);
  });

  it.each([
    ['Always', 0, true],
    ['Always', 1, true],
    ['OnFailure', 0, false],
    ['OnFailure', 2, true],
    ['Never', 1, false],
  ] as const)('restartPolicy %s with exit code %i restarts: %s', (policy, exitCode, restarts) => {
    const p = pod({ restartPolicy: policy });
    const a = computePodActions(p, rt([ctr('app', 'exited', { exitCode, finishedAt: NOW - 1 }, p), ctr('side', 'running', {}, p)]), NOW);
    expect(a.containersToStart.map((c) => c.name)).toEqual(restarts ? ['app'] : []);
  });

  it('backs off crash-looping containers: 0, 10 s, 20 s … capped at 5 min', () => {
    expect([0, 1, 2, 3, 5, 6, 10].map(restartBackoffMs)).toEqual([0, 10_000, 20_000, 40_000, 160_000, 300_000, 300_000]);
    const looping = ctr('app', 'exited', { exitCode: 1, restartCount: 2, finishedAt: NOW - 5_000 });
    const a = computePodActions(pod(), rt([looping, ctr('side', 'running')]), NOW);
    expect(a.containersToStart).toEqual([]);
    expect(a.backingOff).toEqual([{ name: 'app', until: NOW + 15_000, delayMs: 20_000 }]);
    const later = computePodActions(pod(), rt([looping, ctr('side', 'running')]), NOW + 15_000);
    expect(later.containersToStart).toEqual([{ name: 'app', restartCount: 3 }]);
  });

  it('replaces a running container whose image changed', () => {
    const p = pod();
    const old = ctr('app', 'running', { specHash: 'stale' });
    const a = computePodActions(p, rt([old, ctr('side', 'running')]), NOW);
    expect(a.containersToKill).toEqual([{ id: 'app-id', name: 'app', reason: 'SpecChanged' }]);
    expect(a.containersToStart).toEqual([{ name: 'app', restartCount: 1 }]);
  });

  it('kills everything of a pod being deleted and starts nothing', () => {
    const p = pod({}, { deletionTimestamp: '2026-01-01T00:00:00Z' });
    const a = computePodActions(p, rt([ctr('app', 'running'), ctr('side', 'exited', { exitCode: 0 })]), NOW);
    expect(a.killPod).toBe(true);
    expect(a.containersToKill).toEqual([{ id: 'app-id', name: 'app', reason: 'PodDeleted' }]);
    expect(a.containersToStart).toEqual([]);
  });

  it('recreates a dead sandbox and restarts containers in it, but not finished ones', () => {
    const p = pod({ restartPolicy: 'OnFailure' });
    const a = computePodActions(
      p,
      rt([ctr('app', 'running', {}, p), ctr('side', 'exited', { exitCode: 0 }, p)], { ...ready, state: 'notready' }),
      NOW,
    );
    expect(a.createSandbox).toBe(true);
    expect(a.killPod).toBe(true);
    expect(a.containersToKill.map((c) => c.reason)).toEqual(['SandboxChanged']);
    expect(a.containersToStart).toEqual([{ name: 'app', restartCount: 1 }]);
  });

  it('does not recreate the sandbox of a pod that completed', () => {
    const p = pod({ restartPolicy: 'Never' });
    const done = rt([ctr('app', 'exited', { exitCode: 0 }, p), ctr('side', 'exited', { exitCode: 3 }, p)], { ...ready, state: 'notready' });
    expect(computePodActions(p, done, NOW)).toMatchObject({ createSandbox: false, containersToStart: [] });
  });

  it('never runs a terminal pod again, even when the runtime lost its containers; what still runs is stopped with the sandbox', () => {
    for (const phase of ['Succeeded', 'Failed'] as const) {
      const p = pod({ restartPolicy: 'Never' }, {}, { phase });
      expect(computePodActions(p, rt([], null), NOW)).toMatchObject({ createSandbox: false, killPod: false, containersToStart: [], containersToKill: [] });
      const a = computePodActions(p, rt([ctr('app', 'exited', { exitCode: 0 }, p), ctr('side', 'running', {}, p)]), NOW);
      expect(a).toMatchObject({ createSandbox: false, killPod: true, containersToStart: [] });
      expect(a.containersToKill).toEqual([{ id: 'side-id', name: 'side', reason: 'PodTerminal' }]);
    }
  });

  it('stops a pod the controller marked lost', () => {
    const p = pod({}, {}, { phase: 'Failed', reason: 'NodeLost' });
    const a = computePodActions(p, rt([ctr('app', 'running'), ctr('side', 'running')]), NOW);
    expect(a.killPod).toBe(true);
    expect(a.containersToStart).toEqual([]);
  });
});

describe('[agent] pod status', () => {
  const status = (p: Pod, r: PodRuntimeStatus, waiting = new Map()) =>
    computePodStatus({ pod: p, runtime: r, waiting, hostIP: '10.200.0.11', now: NOW });

  it('is Pending with ContainerCreating before containers exist', () => {
    const s = status(pod(), rt([], null));
    expect(s.phase).toBe('Pending');
    expect(s.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
    expect(s.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
  });

  it('is Running with the sandbox IP, host IP and Ready conditions when all containers run', () => {
    const s = status(pod(), rt([ctr('app', 'running', { startedAt: NOW - 1000 }), ctr('side', 'running')]));
    expect(s).toMatchObject({ phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }], hostIP: '10.200.0.11' });
    expect(s.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
      'Initialized=True',
      'Ready=True',
      'ContainersReady=True',
      'PodScheduled=True',
    ]);
    expect(s.containerStatuses?.[0]).toMatchObject({ ready: true, started: true, state: { running: {} } });
  });

  it('uses the host IP as pod IP for hostNetwork pods', () => {
    const s = status(pod({ hostNetwork: true }), rt([ctr('app', 'running'), ctr('side', 'running')], { ...ready, ip: undefined }));
    expect(s.podIP).toBe('10.200.0.11');
  });

  it('shows CrashLoopBackOff with the last termination while backing off', () => {
    const s = status(pod(), rt([ctr('app', 'exited', { exitCode: 2, restartCount: 1, finishedAt: NOW - 1000 }), ctr('side', 'running')]));
    expect(s.phase).toBe('Running');
    const app = s.containerStatuses?.[0];
    expect(app?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(app?.state?.waiting?.message).toContain('back-off 10s restarting failed container=app');
    expect(app?.lastState?.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    expect(app?.restartCount).toBe(1);
  });

  it('is Succeeded when every container completed and the policy keeps them stopped', () => {
    const p = pod({ restartPolicy: 'OnFailure' });
    const s = status(p, rt([ctr('app', 'exited', { exitCode: 0 }, p), ctr('side', 'exited', { exitCode: 0 }, p)]));
    expect(s.phase).toBe('Succeeded');
    expect(s.containerStatuses?.[0]?.state?.terminated?.reason).toBe('Completed');
  });

  it('is Failed with OOMKilled 137 when a container was killed for memory under Never', () => {
    const p = pod({ restartPolicy: 'Never' });
    const s = status(p, rt([ctr('app', 'exited', { exitCode: 137, reason: 'OOMKilled' }, p), ctr('side', 'exited', { exitCode: 0 }, p)]));
    expect(s.phase).toBe('Failed');
    expect(s.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
  });

  it('reports why a container waits (image pull errors) with the message', () => {
    const waiting = new Map([['app', { reason: 'ErrImagePull', message: 'manifest unknown: busybox:nope' }]]);
    const s = status(pod(), rt([ctr('side', 'running')]), waiting);
    expect(s.containerStatuses?.[0]?.state?.waiting).toEqual({ reason: 'ErrImagePull', message: 'manifest unknown: busybox:nope' });
    expect(s.phase).toBe('Pending');
  });
});

describe('[agent] lastState: how the previous instance of a container ended', () => {
  const status = (p: Pod, r: PodRuntimeStatus) => computePodStatus({ pod: p, runtime: r, waiting: new Map(), now: NOW });
  const crashed = { id: 'app-old', exitCode: 1, reason: 'Error', startedAt: NOW - 60_000, finishedAt: NOW - 30_000 };

  it('a restarted container that runs again shows Last State: Terminated of the instance before', () => {
    const s = status(pod(), rt([ctr('app', 'running', { restartCount: 1, startedAt: NOW - 20_000, lastTermination: crashed }), ctr('side', 'running')]));
    const app = s.containerStatuses?.[0];
    expect(app?.state?.running?.startedAt).toBe(new Date(NOW - 20_000).toISOString().replace('.000Z', 'Z'));
    expect(app?.lastState).toEqual({
      terminated: {
        exitCode: 1,
        reason: 'Error',
        startedAt: new Date(NOW - 60_000).toISOString().replace('.000Z', 'Z'),
        finishedAt: new Date(NOW - 30_000).toISOString().replace('.000Z', 'Z'),
        containerID: 'flotilla://app-old',
      },
    });
    expect(app?.containerID).toBe('flotilla://app-id');
    // kubectl's RESTARTS column tells when, from the last termination.
    expect(podRestarts({ ...pod(), status: s }, NOW)).toBe('1 (30s ago)');
  });

  it('keeps the runtime’s reason and message (OOMKilled) and defaults the reason from the exit code', () => {
    const oom = { id: 'o', exitCode: 137, reason: 'OOMKilled', message: 'the container was killed because its cgroup ran out of memory', finishedAt: NOW - 1_000 };
    const s = status(pod(), rt([ctr('app', 'running', { restartCount: 1, lastTermination: oom }), ctr('side', 'running', { restartCount: 1, lastTermination: { id: 's', exitCode: 0 } })]));
    expect(s.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled', message: oom.message });
    expect(s.containerStatuses?.[1]?.lastState?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed', containerID: 'flotilla://s' });
  });

  it('a first instance has no last state; a container finished for good shows the one before it', () => {
    const p = pod({ restartPolicy: 'OnFailure' });
    const s = status(p, rt([ctr('app', 'running', {}, p), ctr('side', 'exited', { exitCode: 0, restartCount: 1, finishedAt: NOW - 1, lastTermination: crashed }, p)]));
    expect(s.containerStatuses?.[0]?.lastState).toBeUndefined();
    expect(s.containerStatuses?.[1]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed', containerID: 'flotilla://side-id' });
    expect(s.containerStatuses?.[1]?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error', containerID: 'flotilla://app-old' });
  });

  it('while it waits to run again, the instance that just ended is the last state', () => {
    const s = status(pod(), rt([ctr('app', 'exited', { exitCode: 3, restartCount: 2, finishedAt: NOW - 1_000, lastTermination: crashed }), ctr('side', 'running')]));
    expect(s.containerStatuses?.[0]?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(s.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 3, containerID: 'flotilla://app-id' });
  });
});

describe('[agent] a container killed for a failed liveness or startup probe', () => {
  const one = (policy: 'Always' | 'OnFailure' | 'Never') => pod({ restartPolicy: policy, containers: [{ name: 'app', image: 'busybox:1' }] });
  const status = (p: Pod, r: PodRuntimeStatus) => computePodStatus({ pod: p, runtime: r, waiting: new Map(), now: NOW });
  const killed = (p: Pod, exitCode: number, kind: 'liveness' | 'startup' = 'liveness') =>
    rt([ctr('app', 'exited', { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt: NOW - 1, killedByProbe: kind }, p)]);

  it.each([
    ['OnFailure', 0, 'liveness', true],
    ['OnFailure', 0, 'startup', true],
    ['OnFailure', 143, 'liveness', true],
    ['Always', 0, 'liveness', true],
    ['Never', 0, 'liveness', false],
    ['Never', 137, 'startup', false],
  ] as const)('restartPolicy %s, exit code %i after the %s kill: restarted %s', (policy, code, kind, restarts) => {
    const p = one(policy);
    expect(computePodActions(p, killed(p, code, kind), NOW).containersToStart).toEqual(restarts ? [{ name: 'app', restartCount: 1 }] : []);
  });

  it('OnFailure and exit 0: the pod stays Running, the container about to restart, not Succeeded', () => {
    const p = one('OnFailure');
    const s = status(p, killed(p, 0));
    expect(s.phase).toBe('Running');
    expect(s.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
    expect(s.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('Never: nothing restarts and the pod reaches its final phase from the exit code', () => {
    const p = one('Never');
    expect(status(p, killed(p, 137)).phase).toBe('Failed');
    expect(status(p, killed(p, 0)).phase).toBe('Succeeded');
    expect(status(p, killed(p, 137)).containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 137, reason: 'Error' });
  });

  it('the prober remembers which instance it had killed until that instance is replaced', async () => {
    const T0 = Date.UTC(2026, 0, 1);
    const clock = new FakeClock(T0);
    const probe: Probe = { exec: { command: ['check'] }, periodSeconds: 1, failureThreshold: 2, timeoutSeconds: 1 };
    const p = pod({ restartPolicy: 'OnFailure', containers: [{ name: 'app', image: 'busybox:1', livenessProbe: probe }] });
    const kills: string[] = [];
    const mgr = new ProbeManager({
      clock,
      run: async () => ({ ok: false, message: 'unhealthy' }),
      callbacks: { changed: () => undefined, failed: () => undefined, kill: (_p, _c, id, kind) => kills.push(`${kind} ${id}`) },
    });
    const instance = (id: string, state: RuntimeContainer['state'], extra: Partial<RuntimeContainer> = {}) => rt([{ ...ctr('app', state, { id, startedAt: T0, ...extra }, p) }]);
    mgr.update(p, instance('c1', 'running'), '10.244.1.5');
    for (let t = 0; t < 30; t++) {
      clock.advance(100);
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    expect(kills).toEqual(['liveness c1']);
    // The killed instance answered SIGTERM with exit 0: marked, so OnFailure restarts it.
    const exited = mgr.markKilled(instance('c1', 'exited', { exitCode: 0, finishedAt: clock.now() }));
    expect(exited.containers[0]?.killedByProbe).toBe('liveness');
    expect(computePodActions(p, exited, clock.now()).containersToStart).toEqual([{ name: 'app', restartCount: 1 }]);
    // Once a new instance replaced it, the old kill is forgotten (an unrelated later exit 0 is a completion).
    mgr.update(p, instance('c2', 'running', { restartCount: 1 }), '10.244.1.5');
    expect(mgr.markKilled(instance('c1', 'exited', { exitCode: 0 })).containers[0]?.killedByProbe).toBeUndefined();
    mgr.stop();
  });
});
