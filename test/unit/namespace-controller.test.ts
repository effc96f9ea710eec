// The namespace controller over the in-memory Store and the real REST
// semantics (ResourceApi): what a user sees after `kubectl delete namespace`.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, configMapKind, namespaceKind, podKind, silentLogger, type KubeObject, type Namespace, type Pod } from '../../api/index.js';
import { MetricsRegistry } from '../../api/metrics.js';
import { NamespaceCache } from '../../controller/apiserver/namespace-cache.js';
import { ResourceApi } from '../../controller/apiserver/resource-api.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { NamespaceController } from '../../controller/namespace/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const pause = (ms = 30) => new Promise((r) => setTimeout(r, ms));

interface World {
  store: MemoryStore;
  api: ResourceApi;
  clock: FakeClock;
  metrics: MetricsRegistry;
}

function world(): World {
  const clock = new FakeClock();
  const store = new MemoryStore(() => clock.now());
  return { store, clock, metrics: new MetricsRegistry(), api: new ResourceApi({ store, clock, log: silentLogger() }) };
}

const runs: { ac: AbortController; done: Promise<void> }[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) {
    r.ac.abort();
    await r.done;
  }
});

function startController(w: World): void {
  const c = new NamespaceController({
    api: w.api,
    store: w.store,
    informers: new InformerFactory({ store: w.store, clock: w.clock, log: silentLogger() }),
    clock: w.clock,
    metrics: w.metrics,
    log: silentLogger(),
  });
  const ac = new AbortController();
  runs.push({ ac, done: c.run(ac.signal) });
}

async function namespace(w: World, name: string, finalizers = ['kubernetes']): Promise<void> {
  await w.store.create<Namespace>('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name }, spec: { finalizers }, status: { phase: 'Active' } });
}

const podIn = (ns: string, name: string, nodeName?: string): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}) },
});
const configMapIn = (ns: string, name: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, ...extra }, data: { k: 'v' } }) as KubeObject;

const names = async (w: World, resource: string, ns: string) => (await w.store.list(resource, { namespace: ns })).items.map((o) => o.metadata.name).sort();
const nsExists = async (w: World, name: string) =>
  w.store.get<Namespace>({ resource: 'namespaces', name }).then(
    (n) => n,
    () => undefined,
  );

describe('[namespace] the namespace controller', () => {
  it('empties a namespace a DELETE marked Terminating — a bound pod gracefully, until its node confirms — and then removes it', async () => {
    const w = world();
    await namespace(w, 'team');
    await namespace(w, 'other');
    await w.api.create({ res: configMapKind, namespace: 'team' }, configMapIn('team', 'settings'));
    await w.api.create({ res: podKind, namespace: 'team' }, podIn('team', 'pending'));
    await w.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    const bound = await w.store.create<Pod>('pods', { ...podIn('team', 'running', 'n1'), status: { phase: 'Running' } });
    await w.api.create({ res: configMapKind, namespace: 'other' }, configMapIn('other', 'keep'));
    startController(w);
    await w.api.delete({ res: namespaceKind, name: 'team' }, {});
    expect((await nsExists(w, 'team'))?.status?.phase).toBe('Terminating');

    await until('the configmap and the pending pod gone', async () => (await names(w, 'configmaps', 'team')).length === 0 && (await names(w, 'pods', 'team')).length === 1);
    const running = await w.store.get<Pod>({ resource: 'pods', namespace: 'team', name: 'running' });
    expect(running.metadata.deletionTimestamp).toBeDefined(); // graceful: its agent stops it
    expect(running.metadata.deletionGracePeriodSeconds).toBe(30);
    await pause();
    expect(await nsExists(w, 'team')).toBeDefined();

    // The node's agent confirms: the pod goes, and the namespace right after (no waiting for a back-off:
    // the fake clock does not move).
    await w.store.delete({ resource: 'pods', namespace: 'team', name: 'running' }, { resourceVersion: running.metadata.resourceVersion });
    await until('the namespace gone', async () => (await nsExists(w, 'team')) === undefined);
    expect(bound.metadata.uid).toBeDefined();
    expect(await names(w, 'configmaps', 'other')).toEqual(['keep']);
    expect(await nsExists(w, 'other')).toBeDefined();
  });

  it('finishes a namespace left Terminating before it started (a replica died, the leader changed)', async () => {
    const w = world();
    await namespace(w, 'left');
    for (let i = 0; i < 5; i++) await w.api.create({ res: configMapKind, namespace: 'left' }, configMapIn('left', `cm-${i}`));
    await w.api.create({ res: podKind, namespace: 'left' }, podIn('left', 'p'));
    await w.api.delete({ res: namespaceKind, name: 'left' }, {});
    startController(w);
    await until('the namespace gone', async () => (await nsExists(w, 'left')) === undefined);
    expect(await names(w, 'configmaps', 'left')).toEqual([]);
    expect(await names(w, 'pods', 'left')).toEqual([]);
  });

  it('comes back with a back-off while something is left in the namespace', async () => {
    const w = world();
    await namespace(w, 'slow');
    // Held by someone else's finalizer: deleted, but not gone.
    await w.api.create({ res: configMapKind, namespace: 'slow' }, configMapIn('slow', 'held', { finalizers: ['example.com/hold'] }));
    startController(w);
    await w.api.delete({ res: namespaceKind, name: 'slow' }, {});
    const requeues = () => Number(/controller_reconcile_total\{controller="namespace",result="requeue"\} (\d+)/.exec(w.metrics.render())?.[1] ?? 0);
    await until('a first pass', async () => requeues() === 1);
    const held = await w.store.get({ resource: 'configmaps', namespace: 'slow', name: 'held' });
    expect(held.metadata.deletionTimestamp).toBeDefined();
    await pause();
    expect(requeues()).toBe(1);
    w.clock.advance(250);
    await until('a second pass after 250 ms', async () => requeues() === 2);
    w.clock.advance(499);
    await pause();
    expect(requeues()).toBe(2);
    w.clock.advance(1);
    await until('a third pass 500 ms later', async () => requeues() === 3);
    // The finalizer's owner lets go: the object goes, and with it the namespace.
    await w.api.patch({ res: configMapKind, namespace: 'slow', name: 'held' }, 'merge', { metadata: { finalizers: null } });
    await until('the namespace gone', async () => (await nsExists(w, 'slow')) === undefined);
  });

  it('removes only its own finalizer when others remain in spec.finalizers, and leaves the namespace to them', async () => {
    const w = world();
    await namespace(w, 'shared', ['kubernetes', 'example.com/audit']);
    startController(w);
    await w.api.delete({ res: namespaceKind, name: 'shared' }, {});
    const ns = await until('our finalizer removed', async () => {
      const n = await nsExists(w, 'shared');
      return n && !n.spec?.finalizers?.includes('kubernetes') ? n : undefined;
    });
    expect(ns.spec?.finalizers).toEqual(['example.com/audit']);
    expect(ns.status?.phase).toBe('Terminating');
  });

  it('leaves active namespaces alone', async () => {
    const w = world();
    await namespace(w, 'busy');
    await w.api.create({ res: configMapKind, namespace: 'busy' }, configMapIn('busy', 'cm'));
    startController(w);
    await pause(50);
    expect(await names(w, 'configmaps', 'busy')).toEqual(['cm']);
  });
});

describe('[apiserver] the namespace cache', () => {
  it('answers from the namespaces informer once it has synced, and nothing before (the caller then reads the store)', async () => {
    const store = new MemoryStore();
    await store.create<Namespace>('namespaces', { metadata: { name: 'a' } });
    const informers = new InformerFactory({ store, log: silentLogger() });
    const cache = new NamespaceCache(store, new FakeClock(), silentLogger(), informers);
    expect(cache.get('a')).toBeUndefined();
    cache.start();
    try {
      await until('synced', async () => cache.get('a') !== undefined);
      await store.create<Namespace>('namespaces', { metadata: { name: 'b' } });
      await until('b', async () => cache.get('b') !== undefined);
      expect(informers.informerFor('namespaces').size).toBe(2); // the same informer the namespace controller reads
    } finally {
      cache.stop();
    }
  });
});
