// The garbage collector over the in-memory Store and the real REST semantics
// (ResourceApi): ownerReferences, Background, Foreground and Orphan deletion
// as a Kubernetes user sees them.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FakeClock,
  configMapKind,
  podKind,
  silentLogger,
  type Event,
  type KubeObject,
  type Namespace,
  type OwnerReference,
  type Pod,
  type WatchEvent,
} from '../../api/index.js';
import { ResourceApi } from '../../controller/apiserver/resource-api.js';
import { StoreEventRecorder } from '../../controller/events/index.js';
import { GarbageCollector } from '../../controller/gc/index.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import type { Store, WatchOptions } from '../../controller/storage/store.js';

type Ref = OwnerReference & { blockOwnerDeletion?: boolean };

async function until<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const pause = (ms = 40) => new Promise((r) => setTimeout(r, ms));

interface World {
  store: MemoryStore;
  api: ResourceApi;
  recorder: StoreEventRecorder;
}

function world(): World {
  const clock = new FakeClock();
  const store = new MemoryStore(() => clock.now());
  return {
    store,
    api: new ResourceApi({ store, clock, log: silentLogger() }),
    recorder: new StoreEventRecorder({ store, component: 'garbage-collector-controller', clock, log: silentLogger() }),
  };
}

const runs: { ac: AbortController; done: Promise<void> }[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) {
    r.ac.abort();
    await r.done;
  }
});

/** Starts a collector; `informersStore` is what its informers read (default: the same store). */
function startGc(w: World, informersStore: Store = w.store): GarbageCollector {
  const gc = new GarbageCollector({
    api: w.api,
    store: w.store,
    informers: new InformerFactory({ store: informersStore, log: silentLogger() }),
    recorder: w.recorder,
    log: silentLogger(),
  });
  const ac = new AbortController();
  runs.push({ ac, done: gc.run(ac.signal) });
  return gc;
}

const refTo = (o: KubeObject, extra: Partial<Ref> = {}): Ref => ({
  apiVersion: o.apiVersion ?? 'v1',
  kind: o.kind ?? '',
  name: o.metadata.name ?? '',
  uid: o.metadata.uid ?? '',
  ...extra,
});

async function configMap(w: World, name: string, owners: Ref[] = [], ns = 'default'): Promise<KubeObject> {
  return w.api.create({ res: configMapKind, namespace: ns }, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: ns, ...(owners.length ? { ownerReferences: owners } : {}) },
    data: { k: name },
  });
}

async function pod(w: World, name: string, owners: Ref[], nodeName?: string): Promise<Pod> {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ownerReferences: owners },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}) },
  };
  if (!nodeName) return (await w.api.create({ res: podKind, namespace: 'default' }, p)) as Pod;
  // Its node exists (a pod on a vanished node would be deleted at once, not gracefully).
  await w.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName } }).catch(() => undefined);
  return w.store.create<Pod>('pods', { ...p, status: { phase: 'Running' } }); // as if scheduled and started
}

async function nsReady(w: World, ...names: string[]): Promise<void> {
  for (const name of names) await w.store.create<Namespace>('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name }, status: { phase: 'Active' } });
}

/** `ns` null: a cluster-scoped object. */
const get = (w: World, resource: string, name: string, ns: string | null = 'default') =>
  w.store.get<KubeObject>(ns ? { resource, namespace: ns, name } : { resource, name }).then(
    (o) => o,
    () => undefined,
  );
const gone = (w: World, resource: string, name: string, ns?: string | null) => until(`${resource}/${name} gone`, async () => (await get(w, resource, name, ns)) === undefined);
const events = async (w: World, ns = 'default') => {
  await w.recorder.flush();
  return (await w.store.list<Event>('events', { namespace: ns })).items;
};

describe('[gc] background deletion', () => {
  it('deletes the dependents of an owner that was deleted, pods gracefully', async () => {
    const w = world();
    await nsReady(w, 'default');
    const owner = await configMap(w, 'owner');
    await configMap(w, 'child', [refTo(owner)]);
    await pod(w, 'pending', [refTo(owner)]);
    const running = await pod(w, 'running', [refTo(owner)], 'n1');
    startGc(w);
    await pause();
    expect(await get(w, 'configmaps', 'child')).toBeDefined(); // its owner is there
    await w.api.delete({ res: configMapKind, namespace: 'default', name: 'owner' }, {});
    await gone(w, 'configmaps', 'child');
    await gone(w, 'pods', 'pending');
    const marked = await until('the bound pod marked', async () => {
      const p = (await get(w, 'pods', 'running')) as Pod | undefined;
      return p?.metadata.deletionTimestamp ? p : undefined;
    });
    expect(marked.metadata.uid).toBe(running.metadata.uid); // its agent stops it and confirms
  });

  it('collects a dependent whose owner went while no collector ran (it starts from the lists)', async () => {
    const w = world();
    await nsReady(w, 'default');
    const owner = await configMap(w, 'owner');
    await configMap(w, 'orphaned', [refTo(owner)]);
    await w.store.delete({ resource: 'configmaps', namespace: 'default', name: 'owner' });
    startGc(w);
    await gone(w, 'configmaps', 'orphaned');
  });

  it('keeps a dependent that still has an owner and removes only the reference that dangles', async () => {
    const w = world();
    await nsReady(w, 'default');
    const a = await configMap(w, 'a');
    const b = await configMap(w, 'b');
    await configMap(w, 'shared', [refTo(a), refTo(b, { controller: true })]);
    startGc(w);
    await w.api.delete({ res: configMapKind, namespace: 'default', name: 'a' }, {});
    const shared = await until('the dangling reference removed', async () => {
      const o = await get(w, 'configmaps', 'shared');
      return o?.metadata.ownerReferences?.length === 1 ? o : undefined;
    });
    expect(shared.metadata.ownerReferences).toEqual([refTo(b, { controller: true })]);
    await pause();
    expect(await get(w, 'configmaps', 'shared')).toBeDefined();
  });

  it('never deletes on the cache\'s word alone: an owner the informers miss but etcd has keeps its dependent', async () => {
    const w = world();
    await nsReady(w, 'default');
    const owner = await configMap(w, 'hidden-owner');
    await configMap(w, 'child', [refTo(owner)]);
    // The collector's informers do not see the owner (a lagging cache); the live read does.
    const hiding: Store = {
      ...w.store,
      create: (r, o) => w.store.create(r, o),
      get: (k) => w.store.get(k),
      update: (r, o) => w.store.update(r, o),
      guaranteedUpdate: (k, m, o) => w.store.guaranteedUpdate(k, m, o),
      delete: (k, o) => w.store.delete(k, o),
      currentRevision: () => w.store.currentRevision(),
      close: () => w.store.close(),
      list: async <T extends KubeObject>(r: string, o?: Parameters<Store['list']>[1]) => {
        const l = await w.store.list<T>(r, o as never);
        return { ...l, items: l.items.filter((x) => x.metadata.name !== 'hidden-owner') };
      },
      watch: <T extends KubeObject>(r: string, o?: WatchOptions<T>): AsyncIterable<WatchEvent<T>> => w.store.watch<T>(r, o),
    };
    startGc(w, hiding);
    await pause(80);
    expect(await get(w, 'configmaps', 'child')).toBeDefined();
  });

  it('keeps a dependent whose owner is of a kind this server does not serve', async () => {
    const w = world();
    await nsReady(w, 'default');
    await configMap(w, 'child', [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: randomUUID() }]);
    startGc(w);
    await pause(80);
    expect(await get(w, 'configmaps', 'child')).toBeDefined();
  });
});

describe('[gc] owners and namespaces', () => {
  it('looks for a namespaced owner in its dependent\'s namespace: one of that uid elsewhere does not count (Warning OwnerRefInvalidNamespace), and the dependent goes', async () => {
    const w = world();
    await nsReady(w, 'default', 'other');
    const elsewhere = await configMap(w, 'owner', [], 'other');
    await configMap(w, 'cross', [refTo(elsewhere)], 'default');
    startGc(w);
    await gone(w, 'configmaps', 'cross');
    const ev = await until('the warning', async () => (await events(w)).find((e) => e.reason === 'OwnerRefInvalidNamespace'));
    expect(ev).toMatchObject({ type: 'Warning', involvedObject: { kind: 'ConfigMap', namespace: 'default', name: 'cross' } });
    expect(ev.message).toContain(`uid: ${elsewhere.metadata.uid}`);
    expect(await get(w, 'configmaps', 'owner', 'other')).toBeDefined();
  });

  it('never collects a cluster-scoped dependent that names a namespaced owner (unresolvable, as Kubernetes 1.20+), and records OwnerRefInvalidNamespace on it', async () => {
    const w = world();
    await nsReady(w, 'default');
    const cm = await configMap(w, 'cm');
    await w.store.create<Namespace>('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'owned', ownerReferences: [refTo(cm)] },
      status: { phase: 'Active' },
    });
    await w.store.delete({ resource: 'configmaps', namespace: 'default', name: 'cm' });
    startGc(w);
    const ev = await until('the warning', async () => (await events(w)).find((e) => e.reason === 'OwnerRefInvalidNamespace'));
    expect(ev).toMatchObject({ type: 'Warning', involvedObject: { kind: 'Namespace', name: 'owned' } });
    await pause();
    const owned = await get(w, 'namespaces', 'owned', null);
    expect(owned?.metadata.deletionTimestamp).toBeUndefined(); // not even marked for deletion
  });
});

describe('[gc] foreground deletion', () => {
  it('deletes the dependents first and removes the foregroundDeletion finalizer once no blocking dependent is left', async () => {
    const w = world();
    await nsReady(w, 'default');
    const owner = await configMap(w, 'owner');
    await configMap(w, 'loose', [refTo(owner)]);
    const blocking = await pod(w, 'blocking', [refTo(owner, { blockOwnerDeletion: true })], 'n1');
    startGc(w);
    await w.api.delete({ res: configMapKind, namespace: 'default', name: 'owner' }, { propagationPolicy: 'Foreground' });
    await gone(w, 'configmaps', 'loose');
    await until('the blocking pod marked', async () => (await get(w, 'pods', 'blocking'))?.metadata.deletionTimestamp);
    await pause();
    const waiting = await get(w, 'configmaps', 'owner');
    expect(waiting?.metadata.finalizers).toEqual(['foregroundDeletion']);
    expect(waiting?.metadata.deletionTimestamp).toBeDefined();
    // The pod's agent confirms: the owner goes.
    await w.store.delete({ resource: 'pods', namespace: 'default', name: 'blocking' });
    await gone(w, 'configmaps', 'owner');
    expect(blocking.metadata.uid).toBeDefined();
  });

  it('deletes in the foreground a dependent that has dependents of its own', async () => {
    const w = world();
    await nsReady(w, 'default');
    const top = await configMap(w, 'top');
    const middle = await configMap(w, 'middle', [refTo(top, { blockOwnerDeletion: true })]);
    await pod(w, 'leaf', [refTo(middle, { blockOwnerDeletion: true })], 'n1');
    startGc(w);
    await w.api.delete({ res: configMapKind, namespace: 'default', name: 'top' }, { propagationPolicy: 'Foreground' });
    const m = await until('middle in foreground deletion', async () => {
      const o = await get(w, 'configmaps', 'middle');
      return o?.metadata.deletionTimestamp ? o : undefined;
    });
    expect(m.metadata.finalizers).toEqual(['foregroundDeletion']);
    await until('the leaf marked', async () => (await get(w, 'pods', 'leaf'))?.metadata.deletionTimestamp);
    await pause();
    expect(await get(w, 'configmaps', 'top')).toBeDefined();
    await w.store.delete({ resource: 'pods', namespace: 'default', name: 'leaf' });
    await gone(w, 'configmaps', 'middle');
    await gone(w, 'configmaps', 'top');
  });
});

describe('[gc] orphan deletion', () => {
  it('removes the owner from its dependents\' references (keeping the others), then the orphan finalizer; the dependents stay', async () => {
    const w = world();
    await nsReady(w, 'default');
    const owner = await configMap(w, 'owner');
    const other = await configMap(w, 'other');
    await configMap(w, 'kept', [refTo(owner, { controller: true, blockOwnerDeletion: true })]);
    await pod(w, 'kept-pod', [refTo(owner), refTo(other)]);
    startGc(w);
    await w.api.delete({ res: configMapKind, namespace: 'default', name: 'owner' }, { propagationPolicy: 'Orphan' });
    await gone(w, 'configmaps', 'owner');
    await pause();
    expect((await get(w, 'configmaps', 'kept'))?.metadata.ownerReferences).toBeUndefined();
    expect((await get(w, 'pods', 'kept-pod'))?.metadata.ownerReferences).toEqual([refTo(other)]);
  });
});
