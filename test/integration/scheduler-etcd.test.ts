// The scheduler against a real etcd: pods created in the store get bound,
// spread over Ready nodes; what cannot be placed stays Pending with the
// counted FailedScheduling message a Kubernetes user knows.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Event, type Node, type Pod } from '../../api/index.js';
import { EtcdStore, Scheduler } from '../../controller/index.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';
import { makeNode, makePod, seededRandom } from '../unit/scheduler-fixtures.js';

const SUITE = 'scheduler integration';
let etcd: TestEtcd;
let store: EtcdStore;
let nsSeq = 0;
const running: { abort: AbortController; done: Promise<void>; store: EtcdStore }[] = [];

beforeAll(async () => {
  requireRoot(SUITE);
  requireBinaries(SUITE, 'etcd');
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger() });
});

afterAll(async () => {
  await store?.close();
  await etcd?.stop();
});

afterEach(async () => {
  for (const r of running.splice(0)) {
    r.abort.abort();
    await r.done;
    await r.store.close();
  }
  // Every test starts from an empty cluster.
  for (const resource of ['pods', 'nodes', 'events']) {
    const { items } = await store.list(resource);
    for (const o of items) {
      const ns = o.metadata.namespace;
      await store.delete(ns ? { resource, namespace: ns, name: o.metadata.name! } : { resource, name: o.metadata.name! });
    }
  }
});

function startScheduler(seed = 1): Scheduler {
  // Each scheduler gets its own client, as a controller replica would.
  const own = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger() });
  const s = new Scheduler({
    store: own,
    log: silentLogger(),
    random: seededRandom(seed),
    queue: { initialBackoffMs: 50, maxBackoffMs: 500, flushIntervalMs: 20 },
  });
  const abort = new AbortController();
  running.push({ abort, done: s.run(abort.signal), store: own });
  return s;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ns = () => `sched-${++nsSeq}`;
const getPod = (namespace: string, name: string) => store.get<Pod>({ resource: 'pods', namespace, name });
const eventsAbout = async (namespace: string, name: string) =>
  (await store.list<Event>('events', { namespace })).items.filter((e) => e.involvedObject.name === name);

describe('[scheduler] with etcd', () => {
  it('binds pods with the same labels spread across the Ready nodes and records Scheduled events', async () => {
    const namespace = ns();
    for (const n of ['node-1', 'node-2', 'node-3']) await store.create<Node>('nodes', makeNode(n, { cpu: '4', memory: '8Gi' }));
    await store.create<Node>('nodes', makeNode('node-down', { ready: 'False' }));
    for (let i = 0; i < 9; i++) await store.create<Pod>('pods', makePod(`web-${i}`, { namespace, labels: { app: 'web' }, cpu: '250m', memory: '256Mi' }));
    startScheduler();

    const pods = await waitFor('9 pods bound', async () => {
      const { items } = await store.list<Pod>('pods', { namespace });
      return items.length === 9 && items.every((p) => p.spec.nodeName) && items;
    });
    const perNode: Record<string, number> = {};
    for (const p of pods) perNode[p.spec.nodeName!] = (perNode[p.spec.nodeName!] ?? 0) + 1;
    expect(perNode).toEqual({ 'node-1': 3, 'node-2': 3, 'node-3': 3 });

    const web = pods.find((p) => p.metadata.name === 'web-0')!;
    const ev = await waitFor('Scheduled event for web-0', async () => (await eventsAbout(namespace, 'web-0')).find((e) => e.reason === 'Scheduled'));
    expect(ev).toMatchObject({ type: 'Normal', message: `Successfully assigned ${namespace}/web-0 to ${web.spec.nodeName}`, count: 1 });
    expect(web.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
  });

  it('keeps a pod with an unsatisfiable nodeSelector Pending with the counted FailedScheduling message, then schedules it on a matching node that joins', async () => {
    const namespace = ns();
    await store.create<Node>('nodes', makeNode('node-1', { memory: '1Gi' }));
    await store.create<Node>('nodes', makeNode('node-2', { memory: '1Gi' }));
    await store.create<Node>('nodes', makeNode('node-3', { memory: '4Gi', labels: { disk: 'hdd' } }));
    await store.create<Pod>('pods', makePod('db', { namespace, nodeSelector: { disk: 'ssd' } }));
    startScheduler();

    const failed = await waitFor('FailedScheduling', async () => (await eventsAbout(namespace, 'db')).find((e) => e.reason === 'FailedScheduling'));
    expect(failed).toMatchObject({ type: 'Warning', message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.", source: { component: 'default-scheduler' } });
    const pending = await waitFor('PodScheduled=False', async () => {
      const p = await getPod(namespace, 'db');
      return p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') && p;
    });
    expect(pending.spec.nodeName).toBeUndefined();
    expect(pending.status?.conditions?.find((c) => c.type === 'PodScheduled')).toMatchObject({
      reason: 'Unschedulable',
      message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
    });

    await store.create<Node>('nodes', makeNode('node-ssd', { labels: { disk: 'ssd' } }));
    expect(await waitFor('db bound', async () => (await getPod(namespace, 'db')).spec.nodeName)).toBe('node-ssd');
    const scheduled = await waitFor('Scheduled', async () => (await eventsAbout(namespace, 'db')).find((e) => e.reason === 'Scheduled'));
    expect(scheduled.message).toBe(`Successfully assigned ${namespace}/db to node-ssd`);
  });

  it('explains a pod requesting more memory than any node has with Insufficient memory, counted with the other reasons', async () => {
    const namespace = ns();
    await store.create<Node>('nodes', makeNode('node-1', { memory: '2Gi' }));
    await store.create<Node>('nodes', makeNode('node-2', { memory: '2Gi' }));
    await store.create<Node>('nodes', makeNode('node-3', { memory: '64Gi', labels: { disk: 'hdd' } }));
    await store.create<Pod>('pods', makePod('hog', { namespace, memory: '16Gi', nodeSelector: { 'kubernetes.io/hostname': 'node-1' } }));
    await store.create<Pod>('pods', makePod('whale', { namespace, memory: '128Gi' }));
    startScheduler();

    const hog = await waitFor('FailedScheduling for hog', async () => (await eventsAbout(namespace, 'hog')).find((e) => e.reason === 'FailedScheduling'));
    expect(hog.message).toBe("0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector.");
    const whale = await waitFor('FailedScheduling for whale', async () => (await eventsAbout(namespace, 'whale')).find((e) => e.reason === 'FailedScheduling'));
    expect(whale.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
    expect((await getPod(namespace, 'whale')).spec.nodeName).toBeUndefined();
  });

  // Only the leader schedules; this checks the compare-and-swap that protects a
  // pod should two schedulers overlap (e.g. during a leader hand-over). Node
  // capacity is only guarded within one scheduler's cache, as in Kubernetes.
  it('binds every pod exactly once when two schedulers race (compare-and-swap)', async () => {
    const namespace = ns();
    for (let i = 1; i <= 4; i++) await store.create<Node>('nodes', makeNode(`node-${i}`, { cpu: '8', memory: '8Gi' }));
    const a = startScheduler(1);
    const b = startScheduler(2);
    for (let i = 0; i < 40; i++) await store.create<Pod>('pods', makePod(`job-${i}`, { namespace, cpu: '100m' }));
    const pods = await waitFor('40 pods bound', async () => {
      const { items } = await store.list<Pod>('pods', { namespace });
      return items.length === 40 && items.every((p) => p.spec.nodeName) && items;
    });
    // Each pod has exactly one Scheduled event, from whichever scheduler won.
    await waitFor('all Scheduled events', async () => {
      const { items } = await store.list<Event>('events', { namespace });
      return items.filter((e) => e.reason === 'Scheduled').length >= 40;
    });
    const { items: events } = await store.list<Event>('events', { namespace });
    const scheduled = events.filter((e) => e.reason === 'Scheduled');
    expect(scheduled.length).toBe(40);
    expect(new Set(scheduled.map((e) => e.involvedObject.name)).size).toBe(40);
    expect(a.stats.scheduled + b.stats.scheduled).toBe(40);
    expect(pods.every((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True'))).toBe(true);
  });

  it('schedules 1000 pods onto 100 nodes with every node within its max pods (throughput printed, not asserted)', async () => {
    const namespace = ns();
    for (let i = 0; i < 100; i++) await store.create<Node>('nodes', makeNode(`node-${i}`, { cpu: '8', memory: '32Gi', pods: '110' }));
    const s = startScheduler(3);
    await waitFor('nodes in the cache', async () => s.cache.nodeCount === 100);
    const t0 = Date.now();
    const creates: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) {
      creates.push(store.create<Pod>('pods', makePod(`p-${i}`, { namespace, labels: { app: `a${i % 20}` }, cpu: '50m', memory: '64Mi' })));
      if (creates.length >= 64) await Promise.all(creates.splice(0));
    }
    await Promise.all(creates);
    await waitFor('1000 pods bound', async () => s.stats.scheduled >= 1000, 60_000);
    const ms = Date.now() - t0;
    const { items } = await store.list<Pod>('pods', { namespace });
    expect(items.filter((p) => p.spec.nodeName)).toHaveLength(1000);
    const perNode: Record<string, number> = {};
    for (const p of items) perNode[p.spec.nodeName!] = (perNode[p.spec.nodeName!] ?? 0) + 1;
    expect(Math.max(...Object.values(perNode))).toBeLessThanOrEqual(110);
    console.info(`scheduler with etcd: 1000 pods created and bound on 100 nodes in ${ms} ms (${Math.round((1000 / ms) * 1000)} pods/s incl. creation)`);
  });
});
