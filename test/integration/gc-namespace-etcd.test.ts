// The garbage collector and the namespace controller against a real etcd
// (shared watches, compare-and-swap, the REST semantics of ResourceApi), as the
// leader runs them: cascading deletion, and a namespace with 50 pods and 20
// ConfigMaps emptied even when the controller that started is stopped halfway
// and another one (the next leader) finishes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configMapKind, namespaceKind, podKind, realClock, silentLogger, type KubeObject, type Namespace, type Pod } from '../../api/index.js';
import { ResourceApi } from '../../controller/apiserver/resource-api.js';
import { GarbageCollector } from '../../controller/gc/index.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { NamespaceController } from '../../controller/namespace/index.js';
import { EtcdStore } from '../../controller/storage/etcd-store.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const SUITE = 'garbage collector and namespace controller on etcd';
let etcd: TestEtcd;
let store: EtcdStore;
let api: ResourceApi;

beforeAll(async () => {
  requireRoot(SUITE);
  requireBinaries(SUITE, 'etcd');
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger() });
  api = new ResourceApi({ store, clock: realClock, log: silentLogger() });
});

afterAll(async () => {
  await store?.close();
  await etcd?.stop();
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The leader's controllers over their own store client (as a controller replica
 * has). With `crashAfterDeletes`, the namespace controller's process "dies"
 * (its leadership ends) right after that many deletes.
 */
function leader(crashAfterDeletes?: number): { stop(): Promise<void>; crashed: Promise<void> } {
  const own = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger() });
  const ownApi = new ResourceApi({ store: own, clock: realClock, log: silentLogger() });
  const informers = new InformerFactory({ store: own, log: silentLogger() });
  const ac = new AbortController();
  let deletes = 0;
  let crash!: () => void;
  const crashed = new Promise<void>((r) => (crash = r));
  const nsApi = {
    delete: async (t: Parameters<ResourceApi['delete']>[0], o: Parameters<ResourceApi['delete']>[1]) => {
      if (crashAfterDeletes !== undefined && deletes >= crashAfterDeletes) {
        ac.abort();
        crash();
        throw new Error('the controller died');
      }
      deletes++;
      return ownApi.delete(t, o);
    },
  };
  const loops = [
    new GarbageCollector({ api: ownApi, store: own, informers, log: silentLogger() }).run(ac.signal),
    new NamespaceController({ api: nsApi, store: own, informers, log: silentLogger(), backoff: { baseMs: 50, maxMs: 500 } }).run(ac.signal),
  ];
  return {
    crashed,
    async stop() {
      ac.abort();
      await Promise.all(loops);
      informers.stop();
      await own.close();
    },
  };
}

const createNs = (name: string) => api.create({ res: namespaceKind }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const cm = (ns: string, name: string, owners: KubeObject[] = []) =>
  api.create({ res: configMapKind, namespace: ns }, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: ns, ...(owners.length ? { ownerReferences: owners.map((o) => ({ apiVersion: 'v1', kind: o.kind!, name: o.metadata.name!, uid: o.metadata.uid!, blockOwnerDeletion: true })) } : {}) },
    data: { a: 'b' },
  });
const exists = (resource: string, ns: string, name: string) =>
  store.get({ resource, namespace: ns, name }).then(
    () => true,
    () => false,
  );

describe('[gc] on etcd', () => {
  it('deletes the dependents of a deleted owner, and in the foreground removes the owner only after them', async () => {
    const l = leader();
    try {
      await createNs('gc-a');
      const owner = await cm('gc-a', 'owner');
      await cm('gc-a', 'child-1', [owner]);
      await cm('gc-a', 'child-2', [owner]);
      await api.delete({ res: configMapKind, namespace: 'gc-a', name: 'owner' }, {});
      await waitFor('the children gone', async () => !(await exists('configmaps', 'gc-a', 'child-1')) && !(await exists('configmaps', 'gc-a', 'child-2')));

      const fg = await cm('gc-a', 'fg-owner');
      const dep = await cm('gc-a', 'fg-child', [fg]);
      await cm('gc-a', 'fg-grandchild', [dep]);
      await api.delete({ res: configMapKind, namespace: 'gc-a', name: 'fg-owner' }, { propagationPolicy: 'Foreground' });
      await waitFor('the whole chain gone', async () => !(await exists('configmaps', 'gc-a', 'fg-owner')));
      expect(await exists('configmaps', 'gc-a', 'fg-child')).toBe(false);
      expect(await exists('configmaps', 'gc-a', 'fg-grandchild')).toBe(false);
    } finally {
      await l.stop();
    }
  });
});

describe('[namespace] on etcd', () => {
  it('a namespace with 50 pods and 20 ConfigMaps is emptied and removed, even when the controller that started is stopped halfway and the next leader finishes', async () => {
    await createNs('big');
    for (let i = 0; i < 50; i++) {
      await api.create({ res: podKind, namespace: 'big' }, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `p-${i}`, namespace: 'big' },
        spec: { containers: [{ name: 'c', image: 'busybox' }] },
      } satisfies Pod);
    }
    for (let i = 0; i < 20; i++) await cm('big', `cm-${i}`);
    const count = async () => (await store.list('pods', { namespace: 'big' })).items.length + (await store.list('configmaps', { namespace: 'big' })).items.length;
    // The first leader dies after 25 deletes, halfway through.
    const first = leader(25);
    await api.delete({ res: namespaceKind, name: 'big' }, {});
    expect((await store.get<Namespace>({ resource: 'namespaces', name: 'big' })).status?.phase).toBe('Terminating');
    await first.crashed;
    await first.stop();
    expect(await count()).toBe(45);
    const gone = async () =>
      store.get({ resource: 'namespaces', name: 'big' }).then(
        () => false,
        () => true,
      );
    expect(await gone()).toBe(false);
    // The next leader starts from the informers' lists and finishes.
    const second = leader();
    try {
      await waitFor('the namespace removed', gone);
      expect(await count()).toBe(0);
    } finally {
      await second.stop();
    }
  });
});
