// The etcd store's shared watches (one etcd watch per resource for all the
// watchers of a process) and batched Event creates, against a real etcd.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger, type KubeObject, type WatchEvent } from '../../api/index.js';
import { MetricsRegistry } from '../../api/metrics.js';
import { EtcdStore } from '../../controller/index.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { take } from '../helpers/watch.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

interface Pod extends KubeObject {
  spec: { image: string };
}

const pod = (name: string, ns: string, image = 'busybox'): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: name } },
  spec: { image },
});

const ns = () => `ns-${randomBytes(4).toString('hex')}`;

const names = (evs: WatchEvent<Pod>[]) => evs.map((e) => `${e.type} ${e.object.metadata.name}`);

let etcd: TestEtcd;
const stores: EtcdStore[] = [];

function newStore(extra: Partial<ConstructorParameters<typeof EtcdStore>[0]> = {}): EtcdStore {
  const s = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger(), ...extra });
  stores.push(s);
  return s;
}

describe('etcd store: shared watches and batched events', () => {
  beforeAll(async () => {
    requireRoot('store-shared-watch');
    requireBinaries('store-shared-watch', 'etcd');
    etcd = await startEtcd();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    await etcd?.stop();
  });

  it('watchers of one resource share one etcd watch; each still sees only its namespace and filter', async () => {
    const metrics = new MetricsRegistry();
    const store = newStore({ metrics });
    const openStream = vi.spyOn(store.client.watchClient, 'watch');
    const a = ns();
    const b = ns();
    const rv = await store.currentRevision();
    const ac = new AbortController();
    const all = store.watch<Pod>('pods', { resourceVersion: rv, signal: ac.signal })[Symbol.asyncIterator]();
    const inA = store.watch<Pod>('pods', { namespace: a, resourceVersion: rv, signal: ac.signal })[Symbol.asyncIterator]();
    const nginxInB = store.watch<Pod>('pods', { namespace: b, resourceVersion: rv, filter: (p) => p.spec.image === 'nginx', signal: ac.signal })[
      Symbol.asyncIterator
    ]();
    const pAll = take(all, 4);
    const pA = take(inA, 2);
    const pB = take(nginxInB, 2);
    const x = await store.create('pods', pod('x', a));
    await store.create('pods', pod('y', b, 'nginx'));
    await store.update('pods', { ...x, spec: { image: 'v2' } });
    // Leaves the filter: DELETED for the filtered watcher, MODIFIED for the others.
    const y = await store.get<Pod>({ resource: 'pods', namespace: b, name: 'y' });
    await store.update('pods', { ...y, spec: { image: 'busybox' } });
    expect(names(await pAll)).toEqual(['ADDED x', 'ADDED y', 'MODIFIED x', 'MODIFIED y']);
    expect(names(await pA)).toEqual(['ADDED x', 'MODIFIED x']);
    expect(names(await pB)).toEqual(['ADDED y', 'DELETED y']);
    ac.abort();
    expect(openStream).toHaveBeenCalledTimes(1);
    // Each etcd event was received once, not once per watcher.
    expect(metrics.render()).toContain('flotilla_etcd_watch_events_total{resource="pods"} 4');
  });

  it('objects delivered by a shared watch are read-only; one watcher cannot change what another sees', async () => {
    const store = newStore();
    const n = ns();
    const rv = await store.currentRevision();
    const ac = new AbortController();
    const first = store.watch<Pod>('pods', { namespace: n, resourceVersion: rv, signal: ac.signal })[Symbol.asyncIterator]();
    const second = store.watch<Pod>('pods', { namespace: n, resourceVersion: rv, signal: ac.signal })[Symbol.asyncIterator]();
    const p1 = take(first, 1);
    const p2 = take(second, 1);
    await store.create('pods', pod('ro', n));
    const [e1] = await p1;
    expect(() => {
      e1!.object.spec.image = 'changed';
    }).toThrow(TypeError);
    expect((await p2)[0]!.object.spec.image).toBe('busybox');
    ac.abort();
  });

  it('a watcher from a revision older than the shared buffer gets its own etcd watch and misses nothing', async () => {
    const store = newStore({ watchBufferSize: 2 });
    const openStream = vi.spyOn(store.client.watchClient, 'watch');
    const n = ns();
    const ac = new AbortController();
    const early = await store.currentRevision();
    // A watcher keeps the shared watch running while five pods are created.
    const keep = store.watch<Pod>('pods', { namespace: n, resourceVersion: early, signal: ac.signal })[Symbol.asyncIterator]();
    const kept = take(keep, 5);
    for (let i = 0; i < 5; i++) await store.create('pods', pod(`p${i}`, n));
    expect(names(await kept)).toEqual(['ADDED p0', 'ADDED p1', 'ADDED p2', 'ADDED p3', 'ADDED p4']);
    expect(openStream).toHaveBeenCalledTimes(1);
    // The buffer holds the last two events only: a watch from `early` cannot be served from it.
    const late = store.watch<Pod>('pods', { namespace: n, resourceVersion: early, signal: ac.signal })[Symbol.asyncIterator]();
    expect(names(await take(late, 5))).toEqual(['ADDED p0', 'ADDED p1', 'ADDED p2', 'ADDED p3', 'ADDED p4']);
    expect(openStream).toHaveBeenCalledTimes(2);
    // One from within the buffer is served by the shared watch.
    const p3 = await store.get<Pod>({ resource: 'pods', namespace: n, name: 'p3' });
    const recent = store.watch<Pod>('pods', { namespace: n, resourceVersion: p3.metadata.resourceVersion, signal: ac.signal })[Symbol.asyncIterator]();
    expect(names(await take(recent, 1))).toEqual(['ADDED p4']);
    expect(openStream).toHaveBeenCalledTimes(2);
    ac.abort();
  });

  it('a watcher that falls too far behind is ended with 410 Gone; the others go on', async () => {
    const store = newStore({ watchMaxLag: 3 });
    const n = ns();
    const rv = await store.currentRevision();
    const ac = new AbortController();
    const slow = store.watch<Pod>('pods', { namespace: n, resourceVersion: rv, signal: ac.signal })[Symbol.asyncIterator]();
    const fast = store.watch<Pod>('pods', { namespace: n, resourceVersion: rv, signal: ac.signal })[Symbol.asyncIterator]();
    const slowFirst = slow.next();
    const fastAll = take(fast, 6);
    for (let i = 0; i < 6; i++) await store.create('pods', pod(`s${i}`, n));
    expect(names(await fastAll)).toHaveLength(6);
    expect((await slowFirst).value?.object.metadata.name).toBe('s0');
    const err = await take(slow, 10).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Gone', message: 'the watch of pods fell more than 3 events behind; list and watch again' });
    ac.abort();
  });

  it('when its last watcher leaves the shared watch is closed, and a new watcher opens another', async () => {
    const store = newStore();
    const openStream = vi.spyOn(store.client.watchClient, 'watch');
    const n = ns();
    // A watcher from now sees a pod created after it started, then leaves.
    const watchOneCreate = async (name: string) => {
      const ac = new AbortController();
      const w = store.watch<Pod>('pods', { namespace: n, signal: ac.signal })[Symbol.asyncIterator]();
      const got = take(w, 1);
      await new Promise((r) => setTimeout(r, 200));
      await store.create('pods', pod(name, n));
      expect(names(await got)).toEqual([`ADDED ${name}`]);
      ac.abort();
      expect(await w.next()).toMatchObject({ done: true });
    };
    await watchOneCreate('one');
    await watchOneCreate('two');
    expect(openStream).toHaveBeenCalledTimes(2);
  });

  it('Event creates made together share one transaction; a name that exists fails alone', async () => {
    const metrics = new MetricsRegistry();
    const store = newStore({ metrics });
    const n = ns();
    const ev = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Event', metadata: { name, namespace: n } });
    await store.create('events', ev('taken'));
    const txn = vi.spyOn(store.client.kv, 'txn');
    const results = await Promise.allSettled([...Array.from({ length: 20 }, (_, i) => store.create('events', ev(`e${i}`))), store.create('events', ev('taken'))]);
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<KubeObject>).value);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as { code: string });
    expect(ok).toHaveLength(20);
    expect(failed).toEqual([expect.objectContaining({ code: 'AlreadyExists' })]);
    // One transaction that failed on "taken", then one with the 20 others: far fewer than 21.
    expect(txn.mock.calls.length).toBeLessThanOrEqual(3);
    expect(new Set(ok.map((o) => o.metadata.resourceVersion)).size).toBe(1);
    const listed = await store.list('events', { namespace: n });
    expect(listed.items.map((o) => o.metadata.name).sort()).toEqual(['taken', ...Array.from({ length: 20 }, (_, i) => `e${i}`)].sort());
    // Pods are never batched: each create is its own revision.
    const pods = await Promise.all([0, 1, 2].map((i) => store.create('pods', pod(`own${i}`, n))));
    expect(new Set(pods.map((p) => p.metadata.resourceVersion)).size).toBe(3);
  });
});
