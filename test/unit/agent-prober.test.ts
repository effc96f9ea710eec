// The prober's timing and thresholds on a fake clock: initial delay, period,
// failure/success thresholds, the startup probe gating the others, results
// reset for a new container instance, and nothing left running after the pod goes.
import { describe, expect, it } from 'vitest';
import { FakeClock, type Container, type Pod, type Probe } from '../../api/index.js';
import { ProbeManager, type ProbeKind } from '../../node-agent/probes/index.js';
import type { PodRuntimeStatus } from '../../node-agent/sync/types.js';

const T0 = Date.UTC(2026, 0, 1);

function podWith(c: Partial<Container>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: { terminationGracePeriodSeconds: 30, containers: [{ name: 'c', image: 'busybox', ...c }] },
  } as Pod;
}

function running(id = 'c1', startedAt = T0): PodRuntimeStatus {
  return {
    uid: 'u1',
    sandbox: { id: 's1', state: 'ready', ip: '10.0.0.2', createdAt: T0 },
    containers: [{ name: 'c', id, sandboxId: 's1', state: 'running', startedAt, restartCount: 0, image: 'busybox', specHash: 'h' }],
  };
}

/** A prober whose probes answer from `answers` (per probe kind, by the probe's exec command). */
function harness() {
  const clock = new FakeClock(T0);
  const answers = new Map<string, boolean>();
  const calls: { kind: string; at: number }[] = [];
  const changed: number[] = [];
  const failed: string[] = [];
  const kills: { kind: ProbeKind; grace: number; id: string; at: number }[] = [];
  const mgr = new ProbeManager({
    clock,
    run: async (_pod, _c, probe: Probe) => {
      const kind = probe.exec!.command![0]!;
      calls.push({ kind, at: clock.now() - T0 });
      const ok = answers.get(kind) ?? false;
      return { ok, message: ok ? '' : `${kind} said no` };
    },
    callbacks: {
      changed: () => changed.push(clock.now() - T0),
      failed: (_p, _c, kind, message) => failed.push(`${kind}: ${message}`),
      kill: (_p, _c, id, kind, grace) => kills.push({ kind, grace, id, at: clock.now() - T0 }),
    },
  });
  /** Moves time on by MS in 100 ms steps, letting probe promises settle in between. */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
  };
  return { clock, answers, calls, changed, failed, kills, mgr, advance };
}

const exec = (name: string, extra: Partial<Probe> = {}): Probe => ({ exec: { command: [name] }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3, ...extra });

describe('[agent] prober', () => {
  it('readiness: not ready until the first success after initialDelaySeconds, then not ready after failureThreshold failures', async () => {
    const h = harness();
    const pod = podWith({ readinessProbe: exec('ready', { initialDelaySeconds: 5, periodSeconds: 2, failureThreshold: 2 }) });
    h.answers.set('ready', true);
    h.mgr.update(pod, running(), '10.0.0.2');
    const look = () => h.mgr.lookup('u1');
    expect(look().ready('c', 'c1')).toBe(false);
    expect(look().started('c', 'c1')).toBe(true);
    await h.advance(4_900);
    expect(h.calls).toEqual([]);
    await h.advance(200);
    expect(h.calls.map((c) => c.at)).toEqual([5_000]);
    expect(look().ready('c', 'c1')).toBe(true);
    expect(h.changed).toEqual([5_000]);
    h.answers.set('ready', false);
    await h.advance(2_000); // one failure: still ready
    expect(look().ready('c', 'c1')).toBe(true);
    await h.advance(2_000); // second failure: threshold reached
    expect(look().ready('c', 'c1')).toBe(false);
    expect(h.changed).toEqual([5_000, 9_000]);
    expect(h.failed).toEqual(['readiness: ready said no', 'readiness: ready said no']);
    expect(h.kills).toEqual([]);
  });

  it('readiness with successThreshold 2 needs two successes in a row', async () => {
    const h = harness();
    h.answers.set('ready', true);
    h.mgr.update(podWith({ readinessProbe: exec('ready', { periodSeconds: 1, successThreshold: 2 }) }), running(), '10.0.0.2');
    await h.advance(100);
    expect(h.mgr.lookup('u1').ready('c', 'c1')).toBe(false);
    await h.advance(1_000);
    expect(h.mgr.lookup('u1').ready('c', 'c1')).toBe(true);
  });

  it('liveness: failureThreshold consecutive failures ask for a kill with the probe grace period, once', async () => {
    const h = harness();
    h.answers.set('live', true);
    h.mgr.update(podWith({ livenessProbe: exec('live', { periodSeconds: 10, failureThreshold: 3, terminationGracePeriodSeconds: 4 }) }), running(), '10.0.0.2');
    expect(h.mgr.lookup('u1').ready('c', 'c1')).toBe(true); // no readiness probe: ready once running
    await h.advance(15_000);
    h.answers.set('live', false);
    await h.advance(60_000);
    expect(h.kills).toEqual([{ kind: 'liveness', grace: 4, id: 'c1', at: 40_000 }]);
    expect(h.calls.map((c) => c.at)).toEqual([0, 10_000, 20_000, 30_000, 40_000]); // on hold after the kill
  });

  it('a success between failures resets the count', async () => {
    const h = harness();
    h.mgr.update(podWith({ livenessProbe: exec('live', { periodSeconds: 1, failureThreshold: 2 }) }), running(), '10.0.0.2');
    await h.advance(100); // fail 1
    h.answers.set('live', true);
    await h.advance(1_000); // ok
    h.answers.set('live', false);
    await h.advance(1_000); // fail 1
    expect(h.kills).toEqual([]);
    await h.advance(1_000); // fail 2
    expect(h.kills.map((k) => k.at)).toEqual([3_000]);
  });

  it('a startup probe gates liveness and readiness; until it passes the container is neither started nor ready', async () => {
    const h = harness();
    const pod = podWith({
      startupProbe: exec('startup', { periodSeconds: 1, failureThreshold: 30 }),
      livenessProbe: exec('live', { periodSeconds: 1 }),
      readinessProbe: exec('ready', { periodSeconds: 1 }),
    });
    h.answers.set('live', false);
    h.answers.set('ready', true);
    h.mgr.update(pod, running(), '10.0.0.2');
    await h.advance(5_000);
    expect(h.mgr.lookup('u1').started('c', 'c1')).toBe(false);
    expect(h.mgr.lookup('u1').ready('c', 'c1')).toBe(false);
    expect(new Set(h.calls.map((c) => c.kind))).toEqual(new Set(['startup']));
    expect(h.kills).toEqual([]);
    h.answers.set('startup', true);
    await h.advance(1_000);
    expect(h.mgr.lookup('u1').started('c', 'c1')).toBe(true);
    await h.advance(1_000);
    expect(h.mgr.lookup('u1').ready('c', 'c1')).toBe(true);
    // Now liveness runs (and fails three times: a kill); startup runs no more.
    await h.advance(3_000);
    expect(h.kills.map((k) => k.kind)).toEqual(['liveness']);
    expect(h.calls.filter((c) => c.kind === 'startup').length).toBe(7); // 0 s … 5 s failing, 6 s passing
  });

  it('a startup probe that never passes asks for a kill after failureThreshold × period', async () => {
    const h = harness();
    h.mgr.update(podWith({ startupProbe: exec('startup', { periodSeconds: 2, failureThreshold: 3 }) }), running(), '10.0.0.2');
    await h.advance(10_000);
    expect(h.kills).toEqual([{ kind: 'startup', grace: 30, id: 'c1', at: 4_000 }]);
  });

  it('a new container instance starts from scratch; a stopped one and a removed pod are probed no more', async () => {
    const h = harness();
    h.answers.set('ready', true);
    const pod = podWith({ readinessProbe: exec('ready', { periodSeconds: 1 }) });
    h.mgr.update(pod, running('c1'), '10.0.0.2');
    await h.advance(500);
    expect(h.mgr.lookup('u1').ready('c', 'c1')).toBe(true);
    h.mgr.update(pod, running('c2', T0 + 500), '10.0.0.2');
    expect(h.mgr.lookup('u1').ready('c', 'c2')).toBe(false);
    expect(h.mgr.lookup('u1').ready('c', 'c1')).toBeUndefined();
    await h.advance(500);
    expect(h.mgr.lookup('u1').ready('c', 'c2')).toBe(true);
    const exited = running('c2');
    exited.containers[0]!.state = 'exited';
    h.mgr.update(pod, exited, '10.0.0.2');
    const n = h.calls.length;
    await h.advance(5_000);
    expect(h.calls.length).toBe(n);
    h.mgr.update(pod, running('c3'), '10.0.0.2');
    h.mgr.removePod('u1');
    await h.advance(5_000);
    expect(h.calls.length).toBe(n);
    expect(h.clock.pendingTimers()).toBe(0);
  });
});

describe('[agent] probes and hooks on a hollow node', () => {
  it('pass without being run: nothing runs there to probe', async () => {
    const { HollowRuntime } = await import('../../node-agent/hollow-runtime.js');
    const { LifecycleRunner } = await import('../../node-agent/probes/index.js');
    const { silentLogger } = await import('../../api/index.js');
    const events: string[] = [];
    const lr = new LifecycleRunner({ runtime: new HollowRuntime(), nodeIP: '10.0.0.1', clock: new FakeClock(T0), log: silentLogger(), event: async (_p, _t, r) => void events.push(r) });
    const pod = podWith({ lifecycle: { postStart: { exec: { command: ['false'] } }, preStop: { exec: { command: ['false'] } } } });
    expect(await lr.runProbe(pod, pod.spec.containers[0]!, exec('false'), '10.0.0.2')).toEqual({ ok: true, message: '' });
    expect(await lr.postStart(pod, pod.spec.containers[0]!, '10.0.0.2', 30)).toBe(true);
    expect(await lr.preStop(pod, [{ name: 'c', id: 'c1' }], '10.0.0.2', 30)).toBe(30);
    expect(events).toEqual([]);
  });
});
