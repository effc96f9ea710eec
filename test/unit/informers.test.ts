// Shared informers over the in-memory Store (same contract as the etcd store):
// what a controller sees of a resource through one list+watch and one cache.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, GoneError, UnavailableError, silentLogger, type KubeObject, type Pod, type WatchEvent } from '../../api/index.js';
import { INDEX_NAMESPACE, INDEX_NODE, INDEX_OWNER, InformerFactory, SharedInformer, storeSource, type InformerHandler } from '../../controller/informers/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import type { Store, WatchOptions } from '../../controller/storage/store.js';

const pod = (name: string, o: { ns?: string; node?: string; owners?: string[]; labels?: Record<string, string> } = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: o.ns ?? 'default',
    ...(o.labels ? { labels: o.labels } : {}),
    ...(o.owners ? { ownerReferences: o.owners.map((uid) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: `cm-${uid}`, uid })) } : {}),
  },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(o.node ? { nodeName: o.node } : {}) },
});

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Lets pending promise callbacks run (list and watch steps over the MemoryStore). */
const settle = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** A store that counts lists and watches, and can fail them on demand. */
class CountingStore {
  lists = 0;
  watches = 0;
  openWatches = 0;
  failLists = 0;
  /** The next watch of this resource waits for `release()` and then throws `error`. */
  stall: { resource: string; error: unknown; released: Promise<void>; release: () => void } | undefined;
  constructor(readonly inner: MemoryStore) {}
  /** Returns the release function. */
  stallNextWatch(resource: string, error: unknown): () => void {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.stall = { resource, error, released, release };
    return release;
  }
  get store(): Store {
    const self = this;
    const s = this.inner;
    return {
      create: (r, o) => s.create(r, o),
      get: (k) => s.get(k),
      list: (r, o) => {
        self.lists++;
        if (self.failLists > 0) {
          self.failLists--;
          return Promise.reject(new UnavailableError('etcd is unavailable'));
        }
        return s.list(r, o);
      },
      update: (r, o) => s.update(r, o),
      guaranteedUpdate: (k, m, o) => s.guaranteedUpdate(k, m, o),
      delete: (k, o) => s.delete(k, o),
      currentRevision: () => s.currentRevision(),
      close: () => s.close(),
      watch<T extends KubeObject>(resource: string, opts?: WatchOptions<T>): AsyncIterable<WatchEvent<T>> {
        self.watches++;
        const stall = self.stall?.resource === resource ? self.stall : undefined;
        if (stall) self.stall = undefined;
        return (async function* () {
          self.openWatches++;
          try {
            if (stall) {
              await stall.released;
              throw stall.error;
            }
            yield* s.watch<T>(resource, opts);
          } finally {
            self.openWatches--;
          }
        })();
      },
    };
  }
}

/** Records what a handler is told, as short strings. */
function recorder<T extends KubeObject>(): { seen: string[]; h: InformerHandler<T> } {
  const seen: string[] = [];
  const n = (o: T) => `${o.metadata.name}@${o.metadata.resourceVersion}`;
  return {
    seen,
    h: {
      onAdd: (o, initial) => seen.push(`add ${n(o)}${initial ? ' (initial)' : ''}`),
      onUpdate: (a, b) => seen.push(`update ${n(a)} -> ${n(b)}`),
      onDelete: (o, unknown) => seen.push(`delete ${n(o)}${unknown ? ' (final state unknown)' : ''}`),
      onSynced: () => seen.push('synced'),
    },
  };
}

const stops: AbortController[] = [];
afterEach(() => {
  for (const a of stops.splice(0)) a.abort();
});
const lifetime = () => {
  const a = new AbortController();
  stops.push(a);
  return a;
};

describe('[informers] a shared informer', () => {
  it('lists, then watches: handlers get the listed objects, then every add, update (with the old object) and delete, after the cache changed', async () => {
    const store = new MemoryStore();
    const a = await store.create<Pod>('pods', pod('a'));
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(store, 'pods'), log: silentLogger() });
    const { seen, h } = recorder<Pod>();
    const cacheAtEvent: (Pod | undefined)[] = [];
    inf.addEventHandler({ ...h, onUpdate: (o, n) => (cacheAtEvent.push(inf.get('default/b')), h.onUpdate!(o, n)) }, { signal: lifetime().signal });
    expect(inf.hasSynced()).toBe(false);
    expect(await inf.waitForSync()).toBe(true);
    const b = await store.create<Pod>('pods', pod('b'));
    const b2 = await store.guaranteedUpdate<Pod>({ resource: 'pods', namespace: 'default', name: 'b' }, (p) => ({ ...p, metadata: { ...p.metadata, labels: { x: '1' } } }));
    await store.delete({ resource: 'pods', namespace: 'default', name: 'a' });
    await until('four events', () => seen.length >= 5);
    const rv = (p: Pod) => p.metadata.resourceVersion;
    expect(seen).toEqual([`add a@${rv(a)} (initial)`, 'synced', `add b@${rv(b)}`, `update b@${rv(b)} -> b@${rv(b2)}`, expect.stringMatching(/^delete a@\d+$/)]);
    expect(cacheAtEvent[0]?.metadata.resourceVersion).toBe(rv(b2));
    expect(inf.list().map((p) => p.metadata.name)).toEqual(['b']);
    expect(inf.lastResourceVersion).toBe(await store.currentRevision());
  });

  it('hands out frozen objects that a consumer cannot change', async () => {
    const store = new MemoryStore();
    await store.create<Pod>('pods', pod('a'));
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(store, 'pods'), log: silentLogger() });
    inf.start(lifetime().signal);
    await inf.waitForSync();
    const p = inf.get('default/a')!;
    expect(Object.isFrozen(p.spec.containers[0])).toBe(true);
    expect(() => {
      (p.metadata as { name: string }).name = 'x';
    }).toThrow(TypeError);
  });

  it('relists after 410 Gone and hands handlers only the differences; an object removed meanwhile is a tombstone with its last cached state', async () => {
    const mem = new MemoryStore();
    const counting = new CountingStore(mem);
    await mem.create<Pod>('pods', pod('kept'));
    const gone = await mem.create<Pod>('pods', pod('gone'));
    const before = await mem.create<Pod>('pods', pod('changed'));
    const releaseGone = counting.stallNextWatch('pods', new GoneError('too old resource version'));
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(counting.store, 'pods'), log: silentLogger() });
    const { seen, h } = recorder<Pod>();
    inf.addEventHandler(h, { signal: lifetime().signal });
    await inf.waitForSync();
    seen.length = 0;
    // Missed by the stalled watch:
    await mem.delete({ resource: 'pods', namespace: 'default', name: 'gone' });
    const changed = await mem.guaranteedUpdate<Pod>({ resource: 'pods', namespace: 'default', name: 'changed' }, (p) => ({ ...p, metadata: { ...p.metadata, labels: { v: '2' } } }));
    const added = await mem.create<Pod>('pods', pod('new'));
    releaseGone();
    await until('the relist', () => seen.includes('synced'));
    // in list order (by key), then what the list no longer has, then synced
    expect(seen).toEqual([
      `update changed@${before.metadata.resourceVersion} -> changed@${changed.metadata.resourceVersion}`,
      `add new@${added.metadata.resourceVersion}`,
      `delete gone@${gone.metadata.resourceVersion} (final state unknown)`,
      'synced',
    ]);
    expect(counting.lists).toBe(2);
    expect(inf.list().map((p) => p.metadata.name).sort()).toEqual(['changed', 'kept', 'new']);
  });

  it('retries a failing list after a back-off that doubles, then syncs', async () => {
    const clock = new FakeClock();
    const counting = new CountingStore(new MemoryStore());
    counting.failLists = 2;
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(counting.store, 'pods'), clock, log: silentLogger(), backoff: { initialMs: 100, maxMs: 1000 } });
    inf.start(lifetime().signal);
    await settle();
    expect(counting.lists).toBe(1);
    clock.advance(99);
    await settle();
    expect(counting.lists).toBe(1);
    clock.advance(1);
    await settle();
    expect(counting.lists).toBe(2);
    clock.advance(199);
    await settle();
    expect(counting.lists).toBe(2);
    expect(inf.hasSynced()).toBe(false);
    clock.advance(1);
    await settle();
    expect(counting.lists).toBe(3);
    expect(inf.hasSynced()).toBe(true);
  });

  it('lists again after a watch that failed with another error, after the back-off', async () => {
    const clock = new FakeClock();
    const mem = new MemoryStore();
    const counting = new CountingStore(mem);
    const fail = counting.stallNextWatch('pods', new UnavailableError('etcd is unavailable'));
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(counting.store, 'pods'), clock, log: silentLogger(), backoff: { initialMs: 100 } });
    inf.start(lifetime().signal);
    await inf.waitForSync();
    await mem.create<Pod>('pods', pod('while-away'));
    fail();
    await settle();
    expect(counting.lists).toBe(1);
    clock.advance(100);
    await until('the relist', () => inf.get('default/while-away') !== undefined);
    expect(counting.lists).toBe(2);
  });

  it('files objects under the standard indexes (namespace, node, owner uid) and moves them when they change; custom indexes too', async () => {
    const store = new MemoryStore();
    await store.create<Pod>('pods', pod('a', { node: 'n1', owners: ['u1', 'u2'] }));
    await store.create<Pod>('pods', pod('b', { node: 'n1', ns: 'other' }));
    await store.create<Pod>('pods', pod('pending', { labels: { app: 'web' } }));
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(store, 'pods'), log: silentLogger() });
    inf.addIndexer('app', (p) => (p.metadata.labels?.app ? [p.metadata.labels.app] : []));
    inf.start(lifetime().signal);
    await inf.waitForSync();
    const names = (ps: Pod[]) => ps.map((p) => p.metadata.name).sort();
    expect(names(inf.byIndex(INDEX_NODE, 'n1'))).toEqual(['a', 'b']);
    expect(names(inf.byIndex(INDEX_NAMESPACE, 'default'))).toEqual(['a', 'pending']);
    expect(names(inf.byIndex(INDEX_OWNER, 'u2'))).toEqual(['a']);
    expect(names(inf.byIndex('app', 'web'))).toEqual(['pending']);
    await store.guaranteedUpdate<Pod>({ resource: 'pods', namespace: 'default', name: 'pending' }, (p) => ({
      ...p,
      metadata: { ...p.metadata, labels: { app: 'db' } },
      spec: { ...p.spec, nodeName: 'n2' },
    }));
    await store.delete({ resource: 'pods', namespace: 'default', name: 'a' });
    await until('the changes', () => inf.get('default/a') === undefined);
    expect(names(inf.byIndex(INDEX_NODE, 'n1'))).toEqual(['b']);
    expect(names(inf.byIndex(INDEX_NODE, 'n2'))).toEqual(['pending']);
    expect(inf.byIndex(INDEX_OWNER, 'u1')).toEqual([]);
    expect(names(inf.byIndex('app', 'db'))).toEqual(['pending']);
    expect(inf.byIndex('app', 'web')).toEqual([]);
    expect(() => inf.byIndex('nope', 'x')).toThrow('no index named "nope"');
    expect(() => inf.addIndexer('app', () => [])).toThrow('already registered');
  });

  it('replays its cache to a handler that registers after it synced, then delivers changes to both', async () => {
    const store = new MemoryStore();
    await store.create<Pod>('pods', pod('a'));
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(store, 'pods'), log: silentLogger() });
    const first = recorder<Pod>();
    inf.addEventHandler(first.h, { signal: lifetime().signal });
    await inf.waitForSync();
    const late = recorder<Pod>();
    inf.addEventHandler(late.h, { signal: lifetime().signal });
    expect(late.seen).toEqual([expect.stringMatching(/^add a@\d+ \(initial\)$/), 'synced']);
    await store.create<Pod>('pods', pod('b'));
    await until('b for both', () => late.seen.length === 3 && first.seen.length === 3);
    expect(late.seen[2]).toMatch(/^add b@/);
  });

  it('keeps delivering to the other handlers when one throws', async () => {
    const store = new MemoryStore();
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(store, 'pods'), log: silentLogger() });
    inf.addEventHandler({ onAdd: () => { throw new Error('bug'); } }, { signal: lifetime().signal });
    const { seen, h } = recorder<Pod>();
    inf.addEventHandler(h, { signal: lifetime().signal });
    await inf.waitForSync();
    await store.create<Pod>('pods', pod('a'));
    await until('a', () => seen.some((s) => s.startsWith('add a')));
  });

  it('resyncs: calls onUpdate(obj, obj) for every cached object at the handler\'s period', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore();
    await store.create<Pod>('pods', pod('a'));
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(store, 'pods'), clock, log: silentLogger() });
    const same: boolean[] = [];
    inf.addEventHandler({ onUpdate: (o, n) => same.push(o === n) }, { signal: lifetime().signal, resyncMs: 30_000 });
    await inf.waitForSync();
    clock.advance(29_999);
    expect(same).toEqual([]);
    clock.advance(1);
    expect(same).toEqual([true]);
    clock.advance(30_000);
    expect(same).toEqual([true, true]);
  });

  it('stops its watch and lets go of its cache when the last holder leaves, and lists afresh for the next', async () => {
    const mem = new MemoryStore();
    const counting = new CountingStore(mem);
    await mem.create<Pod>('pods', pod('a'));
    const inf = new SharedInformer<Pod>({ resource: 'pods', source: storeSource(counting.store, 'pods'), log: silentLogger() });
    const one = new AbortController();
    const two = new AbortController();
    inf.start(one.signal);
    inf.addEventHandler({}, { signal: two.signal });
    await inf.waitForSync();
    await until('the watch', () => counting.openWatches === 1);
    one.abort();
    expect(inf.running).toBe(true);
    expect(inf.size).toBe(1);
    two.abort();
    expect(inf.running).toBe(false);
    expect(inf.hasSynced()).toBe(false);
    expect(inf.size).toBe(0);
    await mem.create<Pod>('pods', pod('b')); // wakes the MemoryStore watch so it sees the abort
    await until('the watch to end', () => counting.openWatches === 0);
    inf.start(lifetime().signal);
    await inf.waitForSync();
    expect(inf.list().map((p) => p.metadata.name).sort()).toEqual(['a', 'b']);
    expect(counting.lists).toBe(2);
  });
});

describe('[informers] the informer factory', () => {
  it('gives every consumer of a resource the same informer: one list and one watch for the scheduler and the pod feed alike', async () => {
    const counting = new CountingStore(new MemoryStore());
    const f = new InformerFactory({ store: counting.store, log: silentLogger() });
    const a = f.informerFor<Pod>('pods');
    const b = f.informerFor<Pod>('pods');
    expect(a).toBe(b);
    expect(f.informerFor('pods', { namespace: 'kube-system' })).not.toBe(a);
    a.addEventHandler({}, { signal: lifetime().signal });
    b.addEventHandler({}, { signal: lifetime().signal });
    await a.waitForSync();
    await until('the watch', () => counting.watches === 1);
    expect(counting.lists).toBe(1);
  });

  it('serves one namespace when asked, and not the rest of the resource', async () => {
    const store = new MemoryStore();
    await store.create<Pod>('pods', pod('in', { ns: 'kube-node-lease' }));
    await store.create<Pod>('pods', pod('out'));
    const f = new InformerFactory({ store, log: silentLogger() });
    const inf = f.informerFor<Pod>('pods', { namespace: 'kube-node-lease' });
    inf.start(lifetime().signal);
    await inf.waitForSync();
    await store.create<Pod>('pods', pod('in2', { ns: 'kube-node-lease' }));
    await store.create<Pod>('pods', pod('out2'));
    await until('in2', () => inf.size === 2);
    await settle();
    expect(inf.list().map((p) => p.metadata.name).sort()).toEqual(['in', 'in2']);
  });
});
