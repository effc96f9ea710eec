// Init containers, sidecars and activeDeadlineSeconds: the agent's plan and the
// status it reports (pure), the STATUS/READY/RESTARTS columns kubectl prints for
// them, and the validation of a container's restartPolicy.
import { describe, expect, it } from 'vitest';
import { assertValid, FakeClock, InvalidError, podReady, podRestarts, podStatusReason, type Container, type ContainerStatus, type Pod } from '../../api/index.js';
import { computePodActions, containerSpecHash, type ContainerToKill } from '../../node-agent/sync/plan.js';
import { computePodStatus } from '../../node-agent/sync/status.js';
import { stopInOrder, terminationStages } from '../../node-agent/sync/termination.js';
import type { PodRuntimeStatus, RuntimeContainer } from '../../node-agent/sync/types.js';

const NOW = 1_000_000_000;
const ready = { id: 'sb1', state: 'ready' as const, ip: '10.244.1.5', createdAt: 0 };

function pod(initContainers: Container[], over: Partial<Pod['spec']> = {}, status?: Pod['status']): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', uid: 'u1' },
    spec: { initContainers, containers: [{ name: 'app', image: 'busybox:1' }], restartPolicy: 'Always', ...over },
    ...(status ? { status } : {}),
  };
}

const init = (name: string): Container => ({ name, image: 'busybox:1' });
const sidecar = (name: string): Container => ({ name, image: 'busybox:1', restartPolicy: 'Always' });

function ctr(p: Pod, name: string, state: RuntimeContainer['state'], extra: Partial<RuntimeContainer> = {}): RuntimeContainer {
  const spec = [...p.spec.containers, ...(p.spec.initContainers ?? [])].find((c) => c.name === name)!;
  return { name, id: `${name}-id`, sandboxId: 'sb1', state, restartCount: 0, image: spec.image, specHash: containerSpecHash(spec), startedAt: NOW - 5_000, ...extra };
}
const ok = { exitCode: 0, reason: 'Completed', finishedAt: NOW - 1_000 };
const bad = (code = 1) => ({ exitCode: code, reason: 'Error', finishedAt: NOW - 1_000 });

function rt(containers: RuntimeContainer[], sandbox: PodRuntimeStatus['sandbox'] | null = ready): PodRuntimeStatus {
  return { uid: 'u1', ...(sandbox ? { sandbox } : {}), containers };
}

const status = (p: Pod, r: PodRuntimeStatus, now = NOW) => computePodStatus({ pod: p, runtime: r, waiting: new Map(), now });
const starts = (p: Pod, r: PodRuntimeStatus, now = NOW) => computePodActions(p, r, now).containersToStart.map((s) => s.name);

describe('[agent] init containers: the plan', () => {
  const two = pod([init('first'), init('second')]);

  it('a new pod gets its sandbox and only its first init container', () => {
    const a = computePodActions(two, rt([], null), NOW);
    expect(a.createSandbox).toBe(true);
    expect(a.containersToStart).toEqual([{ name: 'first', restartCount: 0 }]);
  });

  it('runs init containers one after another, each to success, before the app container', () => {
    expect(starts(two, rt([]))).toEqual(['first']);
    expect(starts(two, rt([ctr(two, 'first', 'running')]))).toEqual([]);
    expect(starts(two, rt([ctr(two, 'first', 'exited', ok)]))).toEqual(['second']);
    expect(starts(two, rt([ctr(two, 'first', 'exited', ok), ctr(two, 'second', 'running')]))).toEqual([]);
    expect(starts(two, rt([ctr(two, 'first', 'exited', ok), ctr(two, 'second', 'exited', ok)]))).toEqual(['app']);
  });

  it('re-adopts: completed init containers are not run again while the app container runs', () => {
    const r = rt([ctr(two, 'first', 'exited', ok), ctr(two, 'second', 'exited', ok), ctr(two, 'app', 'running')]);
    expect(computePodActions(two, r, NOW)).toEqual({ killPod: false, createSandbox: false, containersToKill: [], containersToStart: [], backingOff: [] });
  });

  it('restartPolicy Never: a failed init container starts nothing more (the pod fails)', () => {
    const p = pod([init('first'), init('second')], { restartPolicy: 'Never' });
    const a = computePodActions(p, rt([ctr(p, 'first', 'exited', bad())]), NOW);
    expect(a.containersToStart).toEqual([]);
    expect(a.backingOff).toEqual([]);
  });

  it.each(['Always', 'OnFailure'] as const)('restartPolicy %s: a failed init container restarts with the crash-loop back-off, nothing after it starts', (policy) => {
    const p = pod([init('first'), init('second')], { restartPolicy: policy });
    // The first failure restarts at once; the next ones wait 10 s, 20 s…
    expect(computePodActions(p, rt([ctr(p, 'first', 'exited', bad())]), NOW).containersToStart).toEqual([{ name: 'first', restartCount: 1 }]);
    const a = computePodActions(p, rt([ctr(p, 'first', 'exited', { ...bad(), restartCount: 2 })]), NOW);
    expect(a.containersToStart).toEqual([]);
    expect(a.backingOff).toEqual([{ name: 'first', until: NOW - 1_000 + 20_000, delayMs: 20_000 }]);
  });

  it('a new sandbox runs the init containers again from the first', () => {
    const r = rt([ctr(two, 'first', 'exited', ok), ctr(two, 'second', 'exited', ok), ctr(two, 'app', 'running')], { ...ready, id: 'sb2', state: 'notready' });
    const a = computePodActions(two, r, NOW);
    expect(a.createSandbox).toBe(true);
    expect(a.containersToStart).toEqual([{ name: 'first', restartCount: 1 }]);
  });
});

describe('[agent] sidecars: the plan', () => {
  const p = pod([sidecar('proxy'), init('setup')], { restartPolicy: 'Never' });

  it('a sidecar is done for the next init container once it runs, and keeps running', () => {
    expect(starts(p, rt([]))).toEqual(['proxy']);
    expect(starts(p, rt([ctr(p, 'proxy', 'running')]))).toEqual(['setup']);
    expect(starts(p, rt([ctr(p, 'proxy', 'running'), ctr(p, 'setup', 'exited', ok)]))).toEqual(['app']);
  });

  it('a sidecar that exits is restarted with back-off while the app container runs, whatever the pod restartPolicy', () => {
    const r = rt([ctr(p, 'proxy', 'exited', { ...bad(), restartCount: 1, finishedAt: NOW - 20_000 }), ctr(p, 'setup', 'exited', ok), ctr(p, 'app', 'running')]);
    expect(computePodActions(p, r, NOW).containersToStart).toEqual([{ name: 'proxy', restartCount: 2 }]);
    const soon = rt([ctr(p, 'proxy', 'exited', { ...bad(), restartCount: 1 }), ctr(p, 'setup', 'exited', ok), ctr(p, 'app', 'running')]);
    expect(computePodActions(p, soon, NOW).backingOff.map((b) => b.name)).toEqual(['proxy']);
  });

  it('once the app containers are done, the sidecars are stopped, last started first, and nothing restarts', () => {
    const q = pod([sidecar('a'), sidecar('b')], { restartPolicy: 'Never' });
    const a = computePodActions(q, rt([ctr(q, 'a', 'running'), ctr(q, 'b', 'running'), ctr(q, 'app', 'exited', bad(2))]), NOW);
    expect(a.containersToKill.map((k) => k.name)).toEqual(['b', 'a']);
    expect(a.containersToStart).toEqual([]);
  });

  it('a deleted pod stops its app containers before its sidecars (reverse order)', () => {
    const q = pod([sidecar('a'), sidecar('b')]);
    q.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    const a = computePodActions(q, rt([ctr(q, 'a', 'running'), ctr(q, 'b', 'running'), ctr(q, 'app', 'running')]), NOW);
    expect(a.killPod).toBe(true);
    expect(a.containersToKill.map((k) => k.name)).toEqual(['app', 'b', 'a']);
  });
});

describe('[agent] deleting a pod with sidecars: the stop order', () => {
  const q = pod([sidecar('a'), init('setup'), sidecar('b')], { containers: [{ name: 'app', image: 'busybox:1' }, { name: 'web', image: 'busybox:1' }] });
  const kill = (name: string): ContainerToKill => ({ id: `${name}-id`, name, reason: 'PodDeleted' });
  const all = ['app', 'web', 'b', 'a'].map(kill);

  /** Runs stopInOrder on a fake clock; each container takes STOPMS[name] to exit after SIGTERM. Returns the log of steps, in order, with the time. */
  async function run(graceSeconds: number, stopMs: Record<string, number>, fail: string[] = []) {
    const clock = new FakeClock(0);
    const log: string[] = [];
    const at = () => `${clock.now() / 1000}s`;
    const exited = new Set<string>();
    await stopInOrder(q, all, graceSeconds, {
      clock,
      killing: async (c) => void log.push(`${at()} Killing ${c.name}`),
      preStop: async (cs, g) => {
        log.push(`${at()} preStop ${cs.map((c) => c.name).join(',')} within ${g}s`);
        clock.advance(1_000); // each hook takes a second
        return Math.max(2, g - 1);
      },
      stop: async (c, g) => {
        // A sidecar is only ever signalled once every app container has exited.
        if (c.name === 'a' || c.name === 'b') expect([...exited].filter((n) => n === 'app' || n === 'web').sort()).toEqual(['app', 'web']);
        log.push(`${at()} SIGTERM ${c.name}, SIGKILL after ${g}s`);
        await Promise.resolve();
        clock.advance(Math.min(stopMs[c.name] ?? 0, g * 1000));
        exited.add(c.name);
        if (fail.includes(c.name)) throw new Error('crun kill: boom');
      },
      failed: (c, e) => log.push(`${at()} failed ${c.name}: ${(e as Error).message}`),
    });
    return log;
  }

  it('groups the app containers first, then each sidecar, last declared first', () => {
    expect(terminationStages(q, all).map((st) => st.map((c) => c.name))).toEqual([['app', 'web'], ['b'], ['a']]);
    expect(terminationStages(q, [kill('a'), kill('setup')]).map((st) => st.map((c) => c.name))).toEqual([['setup'], ['a']]);
  });

  it('app containers get preStop and SIGTERM together; each sidecar only after all of them exited, in reverse order, within what is left of the grace period', async () => {
    const log = await run(30, { app: 3_000, web: 10_000, b: 1_000 });
    expect(log).toEqual([
      '0s Killing app',
      '0s Killing web',
      '0s preStop app,web within 30s',
      '1s SIGTERM app, SIGKILL after 29s',
      '1s SIGTERM web, SIGKILL after 29s',
      // web took 10 s to exit (both stops overlap: 1 s + 3 s + 10 s on one fake clock).
      '14s Killing b',
      '14s preStop b within 16s',
      '15s SIGTERM b, SIGKILL after 15s',
      '16s Killing a',
      '16s preStop a within 14s',
      '17s SIGTERM a, SIGKILL after 13s',
    ]);
  });

  it('sidecars still get a short window to stop once the grace period is spent; a forced delete kills at once', async () => {
    const spent = await run(5, { app: 10_000 });
    // app ignores SIGTERM and is killed when the grace period ends: no time is left for the sidecars' preStop.
    expect(spent.slice(5)).toEqual(['5s Killing b', '5s SIGTERM b, SIGKILL after 2s', '5s Killing a', '5s SIGTERM a, SIGKILL after 2s']);
    const forced = await run(0, {});
    expect(forced.filter((l) => l.includes('preStop'))).toEqual([]);
    expect(forced.filter((l) => l.includes('SIGTERM'))).toEqual(['0s SIGTERM app, SIGKILL after 0s', '0s SIGTERM web, SIGKILL after 0s', '0s SIGTERM b, SIGKILL after 0s', '0s SIGTERM a, SIGKILL after 0s']);
  });

  it('a stop that fails is reported and the sidecars are stopped all the same', async () => {
    const log = await run(30, {}, ['web']);
    expect(log.filter((l) => l.includes('failed') || l.includes('SIGTERM'))).toEqual([
      '1s SIGTERM app, SIGKILL after 29s',
      '1s SIGTERM web, SIGKILL after 29s',
      '1s failed web: crun kill: boom',
      '2s SIGTERM b, SIGKILL after 28s',
      '3s SIGTERM a, SIGKILL after 27s',
    ]);
  });
});

describe('[agent] init containers: the status', () => {
  const two = pod([init('first'), init('second')]);

  it('while the first runs: Pending, Initialized False (ContainersNotInitialized), PodInitializing for what has not started', () => {
    const s = status(two, rt([ctr(two, 'first', 'running')]));
    expect(s.phase).toBe('Pending');
    expect(s.conditions?.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [first second]' });
    expect(s.initContainerStatuses?.map((c) => [c.name, Object.keys(c.state ?? {})[0], c.state?.waiting?.reason])).toEqual([
      ['first', 'running', undefined],
      ['second', 'waiting', 'PodInitializing'],
    ]);
    expect(s.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(podStatusReason({ ...two, status: s })).toBe('Init:0/2');
  });

  it('after the first completed: Init:1/2; after both: Initialized True, then Running', () => {
    const s1 = status(two, rt([ctr(two, 'first', 'exited', ok), ctr(two, 'second', 'running')]));
    expect(s1.conditions?.find((c) => c.type === 'Initialized')?.message).toBe('containers with incomplete status: [second]');
    expect(podStatusReason({ ...two, status: s1 })).toBe('Init:1/2');
    const s2 = status(two, rt([ctr(two, 'first', 'exited', ok), ctr(two, 'second', 'exited', ok)]));
    expect(s2.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('True');
    expect(podStatusReason({ ...two, status: s2 })).toBe('PodInitializing');
    const s3 = status(two, rt([ctr(two, 'first', 'exited', ok), ctr(two, 'second', 'exited', ok), ctr(two, 'app', 'running')]));
    expect(s3.phase).toBe('Running');
    expect(s3.initContainerStatuses?.map((c) => c.state?.terminated?.reason)).toEqual(['Completed', 'Completed']);
    expect(podStatusReason({ ...two, status: s3 })).toBe('Running');
    expect(podReady({ ...two, status: s3 })).toBe('1/1');
  });

  it('restartPolicy Never and a failed init container: Failed, Init:Error', () => {
    const p = pod([init('first'), init('second')], { restartPolicy: 'Never' });
    const s = status(p, rt([ctr(p, 'first', 'exited', bad(3))]));
    expect(s.phase).toBe('Failed');
    expect(s.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(podStatusReason({ ...p, status: s })).toBe('Init:Error');
  });

  it('restartPolicy Always and a failed init container: Pending, Init:CrashLoopBackOff, its restarts counted', () => {
    const s = status(two, rt([ctr(two, 'first', 'exited', { ...bad(), restartCount: 2 })]));
    expect(s.phase).toBe('Pending');
    expect(s.initContainerStatuses?.[0]).toMatchObject({ restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1 } } });
    expect(podStatusReason({ ...two, status: s })).toBe('Init:CrashLoopBackOff');
    expect(podRestarts({ ...two, status: s }, NOW)).toBe('2 (1s ago)');
  });

  it('an init container and a sidecar that were restarted show the previous run as Last State', () => {
    const q = pod([init('setup'), sidecar('proxy')]);
    const prevSetup = { id: 'setup-old', exitCode: 2, reason: 'Error', startedAt: NOW - 90_000, finishedAt: NOW - 80_000 };
    const prevProxy = { id: 'proxy-old', exitCode: 137, reason: 'OOMKilled', finishedAt: NOW - 40_000 };
    const s = status(
      q,
      rt([
        ctr(q, 'setup', 'exited', { ...ok, restartCount: 1, lastTermination: prevSetup }),
        ctr(q, 'proxy', 'running', { restartCount: 1, lastTermination: prevProxy }),
        ctr(q, 'app', 'running'),
      ]),
    );
    expect(s.initContainerStatuses?.map((c) => [c.name, c.lastState?.terminated?.exitCode, c.lastState?.terminated?.reason, c.lastState?.terminated?.containerID])).toEqual([
      ['setup', 2, 'Error', 'flotilla://setup-old'],
      ['proxy', 137, 'OOMKilled', 'flotilla://proxy-old'],
    ]);
    expect(s.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(s.containerStatuses?.[0]?.lastState).toBeUndefined();
  });

  it('a sidecar counts in READY and for the Ready condition; the pod completes from its app containers only', () => {
    const p = pod([sidecar('proxy')], { restartPolicy: 'Never' });
    const running = status(p, rt([ctr(p, 'proxy', 'running'), ctr(p, 'app', 'running')]));
    expect(running.phase).toBe('Running');
    expect(running.initContainerStatuses?.[0]).toMatchObject({ name: 'proxy', ready: true, started: true });
    expect(podReady({ ...p, status: running })).toBe('2/2');
    expect(running.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    // The app exited, the sidecar still being stopped: Running; once stopped: Succeeded (the sidecar's 143 does not count).
    expect(status(p, rt([ctr(p, 'proxy', 'running'), ctr(p, 'app', 'exited', ok)])).phase).toBe('Running');
    const done = status(p, rt([ctr(p, 'proxy', 'exited', { exitCode: 143, reason: 'Error', finishedAt: NOW }), ctr(p, 'app', 'exited', ok)]));
    expect(done.phase).toBe('Succeeded');
    expect(done.initContainerStatuses?.[0]?.state?.terminated?.exitCode).toBe(143);
    expect(podStatusReason({ ...p, status: done })).toBe('Completed');
  });
});

describe('[agent] activeDeadlineSeconds', () => {
  const started = (ads: number) => pod([], { activeDeadlineSeconds: ads, initContainers: undefined }, { phase: 'Running', startTime: new Date(NOW - 10_000).toISOString() });

  it('before the deadline nothing happens; after it every container is stopped and nothing restarts', () => {
    const before = started(60);
    expect(computePodActions(before, rt([ctr(before, 'app', 'running')]), NOW).containersToKill).toEqual([]);
    const after = started(5);
    const a = computePodActions(after, rt([ctr(after, 'app', 'running')]), NOW);
    expect(a.killPod).toBe(true);
    expect(a.containersToKill.map((k) => k.name)).toEqual(['app']);
    expect(a.containersToStart).toEqual([]);
  });

  it('the status says Failed, DeadlineExceeded, with the kubelet’s message, and the container terminated', () => {
    const p = started(5);
    const s = status(p, rt([ctr(p, 'app', 'exited', { exitCode: 137, reason: 'Error', finishedAt: NOW })]));
    expect(s).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    expect(s.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(137);
  });
});

function cs(name: string, state: ContainerStatus['state'], extra: Partial<ContainerStatus> = {}): ContainerStatus {
  return { name, ready: false, restartCount: 0, image: 'busybox', state, ...extra };
}

describe('pod STATUS, READY and RESTARTS with init containers, as kubectl prints them', () => {
  const p = (inits: Container[], st: Pod['status']): Pod => ({ ...pod(inits), status: st });
  const initialized = (v: 'True' | 'False') => [{ type: 'Initialized', status: v }];

  it.each<[string, Pod, string, string]>([
    ['nothing started yet', p([init('a'), init('b')], { phase: 'Pending', initContainerStatuses: [cs('a', { waiting: { reason: 'PodInitializing' } }), cs('b', { waiting: { reason: 'PodInitializing' } })] }), 'Init:0/2', '0/1'],
    ['the second running', p([init('a'), init('b')], { phase: 'Pending', initContainerStatuses: [cs('a', { terminated: { exitCode: 0, reason: 'Completed' } }), cs('b', { running: {} })] }), 'Init:1/2', '0/1'],
    ['a failed one', p([init('a')], { phase: 'Failed', initContainerStatuses: [cs('a', { terminated: { exitCode: 1, reason: 'Error' } })] }), 'Init:Error', '0/1'],
    ['one without a reason', p([init('a')], { phase: 'Failed', initContainerStatuses: [cs('a', { terminated: { exitCode: 7 } })] }), 'Init:ExitCode:7', '0/1'],
    ['one killed by a signal', p([init('a')], { phase: 'Failed', initContainerStatuses: [cs('a', { terminated: { exitCode: 137, signal: 9 } })] }), 'Init:Signal:9', '0/1'],
    ['one crash-looping', p([init('a')], { phase: 'Pending', initContainerStatuses: [cs('a', { waiting: { reason: 'CrashLoopBackOff' } }, { restartCount: 3 })] }), 'Init:CrashLoopBackOff', '0/1'],
    ['all done, the app not started', p([init('a')], { phase: 'Pending', conditions: initialized('True'), initContainerStatuses: [cs('a', { terminated: { exitCode: 0, reason: 'Completed' } })], containerStatuses: [cs('app', { waiting: { reason: 'PodInitializing' } })] }), 'PodInitializing', '0/1'],
    ['a started sidecar, a regular one running', p([sidecar('s'), init('b')], { phase: 'Pending', initContainerStatuses: [cs('s', { running: {} }, { started: true, ready: true }), cs('b', { running: {} })] }), 'Init:1/2', '1/2'],
    ['a sidecar beside the running app', p([sidecar('s')], { phase: 'Running', conditions: [...initialized('True'), { type: 'Ready', status: 'True' }], initContainerStatuses: [cs('s', { running: {} }, { started: true, ready: true })], containerStatuses: [cs('app', { running: {} }, { ready: true })] }), 'Running', '2/2'],
  ])('%s', (_n, pd, reason, readyCol) => {
    expect(podStatusReason(pd)).toBe(reason);
    expect(podReady(pd)).toBe(readyCol);
  });

  it('RESTARTS counts init restarts while initializing, then the sidecars’ and the app containers’ only', () => {
    const finished = new Date(NOW - 30_000).toISOString();
    const initializing = p([init('a')], { phase: 'Pending', initContainerStatuses: [cs('a', { waiting: { reason: 'CrashLoopBackOff' } }, { restartCount: 4, lastState: { terminated: { exitCode: 1, finishedAt: finished } } })] });
    expect(podRestarts(initializing, NOW)).toBe('4 (30s ago)');
    const runningPod = p([init('a'), sidecar('s')], {
      phase: 'Running',
      conditions: initialized('True'),
      initContainerStatuses: [cs('a', { terminated: { exitCode: 0, reason: 'Completed' } }, { restartCount: 4 }), cs('s', { running: {} }, { started: true, ready: true, restartCount: 1 })],
      containerStatuses: [cs('app', { running: {} }, { ready: true, restartCount: 2 })],
    });
    expect(podRestarts(runningPod, NOW)).toBe('3');
  });

  it('a terminal pod being deleted keeps its STATUS; a running one is Terminating', () => {
    const done = { ...p([], { phase: 'Succeeded', containerStatuses: [cs('app', { terminated: { exitCode: 0, reason: 'Completed' } })] }), metadata: { name: 'web', namespace: 'default', deletionTimestamp: '2026-01-01T00:00:00Z' } };
    expect(podStatusReason(done)).toBe('Completed');
    const running = { ...p([], { phase: 'Running' }), metadata: { name: 'web', namespace: 'default', deletionTimestamp: '2026-01-01T00:00:00Z' } };
    expect(podStatusReason(running)).toBe('Terminating');
  });
});

describe('[api] init containers, sidecars and activeDeadlineSeconds are accepted; a container restartPolicy is validated as kube-apiserver does', () => {
  function errorOf(mutate: (spec: Record<string, any>) => void): string {
    const p: Record<string, any> = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } };
    mutate(p.spec);
    try {
      assertValid(p);
      return '';
    } catch (e) {
      if (e instanceof InvalidError) return e.message;
      throw e;
    }
  }

  it.each<[string, (s: Record<string, any>) => void, string]>([
    ['init containers', (s) => (s.initContainers = [{ name: 'setup', image: 'busybox' }]), ''],
    ['a sidecar', (s) => (s.initContainers = [{ name: 'proxy', image: 'busybox', restartPolicy: 'Always' }]), ''],
    ['activeDeadlineSeconds', (s) => (s.activeDeadlineSeconds = 30), ''],
    ['an init container restartPolicy other than Always', (s) => (s.initContainers = [{ name: 'setup', image: 'busybox', restartPolicy: 'Never' }]), 'Pod "web" is invalid: spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"'],
    ['a restartPolicy on an app container', (s) => (s.containers[0].restartPolicy = 'Always'), 'Pod "web" is invalid: spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers'],
  ])('%s', (_n, mutate, expected) => {
    expect(errorOf(mutate)).toBe(expected);
  });
});

describe('[hollow runtime] init containers', () => {
  it('a regular init container completes at once, a sidecar runs on, so a hollow pod initializes and runs', async () => {
    const { HollowRuntime } = await import('../../node-agent/hollow-runtime.js');
    const hollow = new HollowRuntime();
    const p = pod([init('setup'), sidecar('proxy')]);
    let r = await hollow.podStatus(p);
    let sandbox = r.sandbox;
    // Drive the plan as the agent does, one sync at a time, until nothing is left to start.
    for (let i = 0; i < 5; i++) {
      const a = computePodActions(p, r, NOW);
      if (a.createSandbox) sandbox = await hollow.createSandbox(p);
      if (a.containersToStart.length === 0) break;
      for (const s of a.containersToStart) await hollow.startContainer(p, sandbox!, [...p.spec.containers, ...p.spec.initContainers!].find((c) => c.name === s.name)!, s.restartCount);
      r = await hollow.podStatus(p);
    }
    const s = status(p, r);
    expect(s.phase).toBe('Running');
    expect(s.initContainerStatuses?.map((c) => [c.name, Object.keys(c.state ?? {})[0]])).toEqual([
      ['setup', 'terminated'],
      ['proxy', 'running'],
    ]);
    expect(podReady({ ...p, status: s })).toBe('2/2');
  });

  it('a restarted hollow container reports how its previous instance ended', async () => {
    const { HollowRuntime } = await import('../../node-agent/hollow-runtime.js');
    const hollow = new HollowRuntime();
    const p = pod([sidecar('proxy')]);
    const sandbox = await hollow.createSandbox(p);
    await hollow.startContainer(p, sandbox, p.spec.initContainers![0]!, 0);
    const first = (await hollow.podStatus(p)).containers[0]!;
    await hollow.stopContainer(p, first.id);
    await hollow.startContainer(p, sandbox, p.spec.initContainers![0]!, 1);
    const again = (await hollow.podStatus(p)).containers[0]!;
    expect(again).toMatchObject({ state: 'running', restartCount: 1, lastTermination: { id: first.id, exitCode: 0, reason: 'Completed' } });
  });
});
