// The scheduler loop over an in-memory Store (same contract as the etcd store),
// as a user sees it: pods get a node, events explain what happened.
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, FakeClock, GoneError, UnavailableError, type KubeObject, type WatchEvent, silentLogger, type Event, type Node, type Pod } from '../../api/index.js';
import { StoreEventRecorder } from '../../controller/events/index.js';
import { Scheduler, applyBinding } from '../../controller/scheduler/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import type { Store, WatchOptions } from '../../controller/index.js';
import { MetricsRegistry } from '../../api/metrics.js';
import { makeNode, makePod, seededRandom } from './scheduler-fixtures.js';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const running: { abort: AbortController; done: Promise<void> }[] = [];

function start(store: Store, opts: Partial<ConstructorParameters<typeof Scheduler>[0]> = {}): Scheduler {
  const s = new Scheduler({
    store,
    log: silentLogger(),
    random: seededRandom(42),
    queue: { initialBackoffMs: 20, maxBackoffMs: 100, flushIntervalMs: 10 },
    ...opts,
  });
  const abort = new AbortController();
  running.push({ abort, done: s.run(abort.signal) });
  return s;
}

afterEach(async () => {
  for (const r of running.splice(0)) {
    r.abort.abort();
    await r.done;
  }
});

const getPod = (store: MemoryStore, name: string) => store.get<Pod>({ resource: 'pods', namespace: 'default', name });
const eventsFor = async (store: MemoryStore, name: string) =>
  (await store.list<Event>('events', { namespace: 'default' })).items.filter((e) => e.involvedObject.name === name);

describe('the scheduler loop', () => {
  it('binds pending pods to Ready nodes, spread out, and records Scheduled events', async () => {
    const store = new MemoryStore();
    for (const n of ['n1', 'n2', 'n3']) await store.create<Node>('nodes', makeNode(n));
    for (let i = 0; i < 6; i++) await store.create<Pod>('pods', makePod(`web-${i}`, { labels: { app: 'web' }, cpu: '100m', memory: '64Mi' }));
    const metrics = new MetricsRegistry();
    start(store, { metrics });

    const pods = await waitFor('all pods bound', async () => {
      const { items } = await store.list<Pod>('pods');
      return items.every((p) => p.spec.nodeName) && items;
    });
    const perNode = new Map<string, number>();
    for (const p of pods) perNode.set(p.spec.nodeName!, (perNode.get(p.spec.nodeName!) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([2, 2, 2]);

    const web0 = await getPod(store, 'web-0');
    expect(web0.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
    const ev = await waitFor('Scheduled event', async () => (await eventsFor(store, 'web-0'))[0]);
    expect(ev).toMatchObject({
      type: 'Normal',
      reason: 'Scheduled',
      message: `Successfully assigned default/web-0 to ${web0.spec.nodeName}`,
      count: 1,
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: web0.metadata.uid },
      source: { component: 'default-scheduler' },
    });
    const text = metrics.render();
    expect(text).toContain('scheduler_schedule_attempts_total{result="scheduled"} 6');
    expect(text).toContain('scheduler_pod_scheduling_duration_seconds_count 6');
    expect(text).toContain('scheduler_pending_pods 0');
    expect(text).toContain('scheduler_cache_nodes 3');
  });

  it('keeps a pod with an unsatisfiable nodeSelector pending with a counted FailedScheduling event, then places it when a matching node joins', async () => {
    const store = new MemoryStore();
    await store.create<Node>('nodes', makeNode('n1', { memory: '1Gi' }));
    await store.create<Node>('nodes', makeNode('n2', { memory: '1Gi' }));
    await store.create<Node>('nodes', makeNode('n3', { memory: '8Gi' }));
    await store.create<Pod>('pods', makePod('picky', { nodeSelector: { disk: 'ssd' } }));
    await store.create<Pod>('pods', makePod('hungry', { memory: '4Gi', nodeSelector: { 'kubernetes.io/hostname': 'n1' } }));
    await store.create<Pod>('pods', makePod('greedy', { memory: '16Gi' }));
    start(store);

    const failed = await waitFor('FailedScheduling for picky', async () => (await eventsFor(store, 'picky')).find((e) => e.reason === 'FailedScheduling'));
    expect(failed).toMatchObject({ type: 'Warning', message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector." });
    const greedy = await waitFor('FailedScheduling for greedy', async () => (await eventsFor(store, 'greedy'))[0]);
    expect(greedy.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
    const hungry = await waitFor('FailedScheduling for hungry', async () => (await eventsFor(store, 'hungry'))[0]);
    expect(hungry.message).toBe("0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector.");

    const cond = await waitFor('PodScheduled=False', async () =>
      (await getPod(store, 'picky')).status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False'),
    );
    expect(cond).toMatchObject({ reason: 'Unschedulable', message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector." });
    expect((await getPod(store, 'picky')).spec.nodeName).toBeUndefined();

    await store.create<Node>('nodes', makeNode('fast', { labels: { disk: 'ssd' } }));
    const bound = await waitFor('picky bound', async () => (await getPod(store, 'picky')).spec.nodeName);
    expect(bound).toBe('fast');
    const scheduled = await waitFor('Scheduled for picky', async () => (await eventsFor(store, 'picky')).find((e) => e.reason === 'Scheduled'));
    expect(scheduled.message).toBe('Successfully assigned default/picky to fast');
    expect((await getPod(store, 'greedy')).spec.nodeName).toBeUndefined();
  });

  it('schedules a waiting pod once a pod holding the resources is deleted', async () => {
    const store = new MemoryStore();
    await store.create<Node>('nodes', makeNode('n1', { cpu: '1' }));
    await store.create<Pod>('pods', makePod('holder', { cpu: '1', nodeName: 'n1' }));
    await store.create<Pod>('pods', makePod('waiter', { cpu: '1' }));
    start(store);
    const ev = await waitFor('FailedScheduling', async () => (await eventsFor(store, 'waiter'))[0]);
    expect(ev.message).toBe('0/1 nodes are available: 1 Insufficient cpu.');
    await store.delete({ resource: 'pods', namespace: 'default', name: 'holder' });
    expect(await waitFor('waiter bound', async () => (await getPod(store, 'waiter')).spec.nodeName)).toBe('n1');
  });

  it('leaves pods of other schedulers, finished pods and pods being deleted alone', async () => {
    const store = new MemoryStore();
    await store.create<Node>('nodes', makeNode('n1'));
    await store.create<Pod>('pods', makePod('theirs', { schedulerName: 'other-scheduler' }));
    const done = makePod('done');
    done.status = { phase: 'Succeeded' };
    await store.create<Pod>('pods', done);
    const leaving = makePod('leaving');
    leaving.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    await store.create<Pod>('pods', leaving);
    await store.create<Pod>('pods', makePod('mine'));
    const s = start(store);
    await waitFor('mine bound', async () => (await getPod(store, 'mine')).spec.nodeName);
    expect(s.stats.scheduled).toBe(1);
    for (const n of ['theirs', 'done', 'leaving']) expect((await getPod(store, n)).spec.nodeName).toBeUndefined();
  });

  it('does not bind a pod that someone else bound first', async () => {
    const store = new MemoryStore();
    await store.create<Node>('nodes', makeNode('n1'));
    await store.create<Node>('nodes', makeNode('n2'));
    await store.create<Pod>('pods', makePod('raced'));
    const s = start(store, {
      binder: {
        async bind(b) {
          // Another scheduler wins the race just before our write.
          await store.guaranteedUpdate<Pod>({ resource: 'pods', namespace: b.namespace, name: b.name }, (p) => ({ ...p, spec: { ...p.spec, nodeName: 'n2' } }));
          await store.guaranteedUpdate<Pod>({ resource: 'pods', namespace: b.namespace, name: b.name }, (p) => applyBinding(p, b, Date.now()));
        },
      },
    });
    await waitFor('raced bound', async () => (await getPod(store, 'raced')).spec.nodeName);
    await new Promise((r) => setTimeout(r, 50));
    expect((await getPod(store, 'raced')).spec.nodeName).toBe('n2');
    expect(s.stats.scheduled).toBe(0);
    expect(s.cache.nodeInfo('n2')!.podCount).toBe(1);
    expect(s.cache.nodeInfo('n1')!.podCount).toBe(0);
  });

  it('relists when its watch history is gone and catches up with what it missed', async () => {
    const store = new MemoryStore();
    let releaseGone!: () => void;
    const gone = new Promise<void>((r) => (releaseGone = r));
    let podWatches = 0;
    // The first pods watch stalls, then reports 410 Gone, as after an etcd compaction.
    const flaky: Store = {
      create: (r, o) => store.create(r, o),
      get: (k) => store.get(k),
      list: (r, o) => store.list(r, o),
      update: (r, o) => store.update(r, o),
      guaranteedUpdate: (k, m) => store.guaranteedUpdate(k, m),
      delete: (k, o) => store.delete(k, o),
      currentRevision: () => store.currentRevision(),
      close: () => store.close(),
      watch<T extends KubeObject>(resource: string, opts?: WatchOptions<T>): AsyncIterable<WatchEvent<T>> {
        if (resource === 'pods' && podWatches++ === 0) {
          return (async function* () {
            await gone;
            throw new GoneError('too old resource version');
          })();
        }
        return store.watch<T>(resource, opts);
      },
    };
    await store.create<Node>('nodes', makeNode('n1', { cpu: '1' }));
    await store.create<Pod>('pods', makePod('holder', { cpu: '1', nodeName: 'n1' }));
    await store.create<Pod>('pods', makePod('waiter', { cpu: '1' }));
    start(flaky);
    await waitFor('FailedScheduling', async () => (await eventsFor(store, 'waiter'))[0]);
    // Missed by the stalled watch: the holder goes away.
    await store.delete({ resource: 'pods', namespace: 'default', name: 'holder' });
    await new Promise((r) => setTimeout(r, 50));
    expect((await getPod(store, 'waiter')).spec.nodeName).toBeUndefined();
    releaseGone();
    expect(await waitFor('waiter bound', async () => (await getPod(store, 'waiter')).spec.nodeName)).toBe('n1');
    expect(podWatches).toBe(2);
  });

  it('waits for the store when its first list fails, then schedules', async () => {
    const store = new MemoryStore();
    let lists = 0;
    const flaky: Store = {
      create: (r, o) => store.create(r, o),
      get: (k) => store.get(k),
      list: (r, o) => (lists++ === 0 ? Promise.reject(new UnavailableError('etcd is unavailable')) : store.list(r, o)),
      update: (r, o) => store.update(r, o),
      guaranteedUpdate: (k, m) => store.guaranteedUpdate(k, m),
      delete: (k, o) => store.delete(k, o),
      currentRevision: () => store.currentRevision(),
      close: () => store.close(),
      watch: (r, o) => store.watch(r, o),
    };
    await store.create<Node>('nodes', makeNode('n1'));
    await store.create<Pod>('pods', makePod('patient'));
    start(flaky, { watchRetryMs: 10 });
    expect(await waitFor('patient bound', async () => (await getPod(store, 'patient')).spec.nodeName)).toBe('n1');
    expect(lists).toBeGreaterThanOrEqual(3);
  });
});

describe('binding', () => {
  it('refuses a pod that is already bound, being deleted, or replaced', () => {
    const bound = makePod('web', { nodeName: 'n1' });
    expect(() => applyBinding(bound, { namespace: 'default', name: 'web', nodeName: 'n2' }, 0)).toThrow(
      new ConflictError('pod web is already assigned to node "n1"'),
    );
    const leaving = makePod('web');
    leaving.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    expect(() => applyBinding(leaving, { namespace: 'default', name: 'web', nodeName: 'n2' }, 0)).toThrow(/being deleted/);
    expect(() => applyBinding(makePod('web'), { namespace: 'default', name: 'web', uid: 'other', nodeName: 'n2' }, 0)).toThrow(ConflictError);
  });

  it('sets the node and PodScheduled=True', () => {
    const p = applyBinding(makePod('web'), { namespace: 'default', name: 'web', nodeName: 'n2' }, Date.UTC(2026, 0, 1));
    expect(p.spec.nodeName).toBe('n2');
    expect(p.status?.conditions).toEqual([{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-01-01T00:00:00Z' }]);
  });
});

describe('the event recorder', () => {
  it('aggregates repeats into one Event with a count and the last timestamp', async () => {
    const store = new MemoryStore();
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const rec = new StoreEventRecorder({ store, component: 'default-scheduler', clock, log: silentLogger() });
    const pod = makePod('web');
    rec.event(pod, 'Warning', 'FailedScheduling', '0/1 nodes are available: 1 Insufficient cpu.');
    await rec.flush();
    clock.advance(30_000);
    rec.event(pod, 'Warning', 'FailedScheduling', '0/1 nodes are available: 1 Insufficient cpu.');
    rec.event(pod, 'Warning', 'FailedScheduling', '0/1 nodes are available: 1 Insufficient cpu.');
    rec.event(pod, 'Warning', 'FailedScheduling', '0/2 nodes are available: 2 Insufficient cpu.');
    await rec.flush();
    const { items } = await store.list<Event>('events', { namespace: 'default' });
    expect(items).toHaveLength(2);
    const first = items.find((e) => e.message?.startsWith('0/1'))!;
    expect(first).toMatchObject({ count: 3, firstTimestamp: '2026-01-01T00:00:00Z', lastTimestamp: '2026-01-01T00:00:30Z', reason: 'FailedScheduling' });
    expect(first.metadata.name).toMatch(/^web\.[0-9a-f]+$/);
    expect(items.find((e) => e.message?.startsWith('0/2'))!.count).toBe(1);
  });

  it('counts a burst of the same event exactly, folding repeats into a few writes', async () => {
    const store = new MemoryStore();
    const rec = new StoreEventRecorder({ store, component: 'default-scheduler', log: silentLogger() });
    const pod = makePod('web');
    for (let i = 0; i < 50; i++) rec.event(pod, 'Warning', 'FailedScheduling', 'no nodes available to schedule pods');
    rec.event(makePod('db'), 'Warning', 'FailedScheduling', 'no nodes available to schedule pods');
    await rec.flush();
    const { items } = await store.list<Event>('events', { namespace: 'default' });
    expect(items.map((e) => [e.involvedObject.name, e.count]).sort()).toEqual([
      ['db', 1],
      ['web', 50],
    ]);
    expect(store.writes).toBe(3); // web: create + one update for 49 repeats; db: create
  });

  it('puts events about cluster-scoped objects in the default namespace', async () => {
    const store = new MemoryStore();
    const rec = new StoreEventRecorder({ store, component: 'node-controller', log: silentLogger() });
    rec.event(makeNode('n1'), 'Normal', 'NodeReady', 'Node n1 status is now: NodeReady');
    await rec.flush();
    const { items } = await store.list<Event>('events', { namespace: 'default' });
    expect(items[0]).toMatchObject({ involvedObject: { kind: 'Node', name: 'n1' }, reason: 'NodeReady' });
  });
});
