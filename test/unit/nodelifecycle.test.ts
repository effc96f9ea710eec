import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger, type Node, type Pod } from '../../api/index.js';
import { NODE_LEASE_NAMESPACE } from '../../controller/agentapi/node-service.js';
import { NodeLifecycleController } from '../../controller/nodelifecycle/controller.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import type { Store } from '../../controller/storage/store.js';
import { TAINT_NOT_READY, TAINT_UNREACHABLE, decideNodeLifecycle } from '../../controller/nodelifecycle/decide.js';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const cfg = { gracePeriodMs: 40_000, podEvictionTimeoutMs: 300_000 };

function node(ready: 'True' | 'False' | 'Unknown' | undefined, transition = T0, taints: Node['spec'] = {}): Node {
  return {
    metadata: { name: 'n1', creationTimestamp: iso(T0 - 1000) },
    spec: taints,
    status: ready ? { conditions: [{ type: 'Ready', status: ready, lastTransitionTime: iso(transition) }] } : {},
  };
}

const taintKeys = (n: Node | undefined) => (n?.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();

describe('[nodelifecycle] deciding node health', () => {
  it('leaves a node that heartbeats alone', () => {
    const d = decideNodeLifecycle(node('True'), T0 + 30_000, T0 + 35_000, cfg);
    expect(d).toEqual({ evictPods: false });
  });

  it('marks a node silent for longer than the grace period Ready=Unknown and taints it unreachable', () => {
    const d = decideNodeLifecycle(node('True'), T0, T0 + 41_000, cfg);
    expect(d.transition).toBe('NodeNotReady');
    const ready = d.updatedNode?.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown', lastTransitionTime: iso(T0 + 41_000) });
    expect(taintKeys(d.updatedNode)).toEqual([`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`]);
    expect(d.evictPods).toBe(false);
  });

  it('evicts pods only after the node stayed not ready for the eviction timeout', () => {
    const lost = node('Unknown', T0, { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: TAINT_UNREACHABLE, effect: 'NoExecute' }] });
    expect(decideNodeLifecycle(lost, T0 - 50_000, T0 + 299_000, cfg)).toEqual({ evictPods: false });
    expect(decideNodeLifecycle(lost, T0 - 50_000, T0 + 300_000, cfg).evictPods).toBe(true);
  });

  it('removes the taints when the node reports Ready again', () => {
    const back = node('True', T0 + 400_000, { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    const d = decideNodeLifecycle(back, T0 + 400_000, T0 + 401_000, cfg);
    expect(d.transition).toBe('NodeReady');
    expect(taintKeys(d.updatedNode)).toEqual(['dedicated:NoSchedule']);
    expect(d.evictPods).toBe(false);
  });

  it('taints a node whose agent reports NotReady as not-ready', () => {
    const d = decideNodeLifecycle(node('False'), T0, T0 + 1_000, cfg);
    expect(taintKeys(d.updatedNode)).toEqual([`${TAINT_NOT_READY}:NoExecute`, `${TAINT_NOT_READY}:NoSchedule`]);
  });

  it('keeps a new node without a Ready condition unschedulable until it reports', () => {
    const d = decideNodeLifecycle(node(undefined), undefined, T0, cfg);
    expect(taintKeys(d.updatedNode)).toEqual([`${TAINT_NOT_READY}:NoSchedule`]);
  });
});

const lease = (name: string, renewMs: number) => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name, namespace: NODE_LEASE_NAMESPACE },
  spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date(renewMs).toISOString() },
});

const podOn = (name: string, nodeName: string, extra: Partial<Pod['metadata']> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', ...extra },
  spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
  status: { phase: 'Running' },
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Counts the store's lists: the controller must not poll. */
function counting(store: MemoryStore): { store: Store; lists: () => number } {
  let lists = 0;
  return {
    lists: () => lists,
    store: {
      create: (r, o) => store.create(r, o),
      get: (k) => store.get(k),
      list: (r, o) => (lists++, store.list(r, o)),
      update: (r, o) => store.update(r, o),
      guaranteedUpdate: (k, m, o) => store.guaranteedUpdate(k, m, o),
      delete: (k, o) => store.delete(k, o),
      currentRevision: () => store.currentRevision(),
      close: () => store.close(),
      watch: (r, o) => store.watch(r, o),
    },
  };
}

const runs: { ac: AbortController; done: Promise<void> }[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) {
    r.ac.abort();
    await r.done;
  }
});

function start(c: NodeLifecycleController): void {
  const ac = new AbortController();
  runs.push({ ac, done: c.run(ac.signal) });
}

const readyOf = async (store: MemoryStore, name = 'n1') =>
  (await store.get<Node>({ resource: 'nodes', name })).status?.conditions?.find((c) => c.type === 'Ready')?.status;

describe('[nodelifecycle] the controller', () => {
  it('marks a node NotReady and taints it when its heartbeat runs out — at that moment, not on a periodic pass over all nodes', async () => {
    const clock = new FakeClock(T0);
    const mem = new MemoryStore(() => clock.now());
    await mem.create('nodes', { ...node('True'), metadata: { name: 'n1' } });
    await mem.create('leases', lease('n1', T0));
    const { store, lists } = counting(mem);
    const events: string[] = [];
    start(new NodeLifecycleController({ store, log: silentLogger(), clock, config: cfg, recordEvent: async (e) => void events.push(e.reason) }));
    await until('the first reconcile', async () => clock.pendingTimers() > 0 && lists() >= 3);
    const listsAtStart = lists();
    clock.advance(39_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(await readyOf(mem)).toBe('True');
    clock.advance(1_100);
    expect(await until('Ready=Unknown', async () => (await readyOf(mem)) === 'Unknown')).toBe(true);
    const n = await mem.get<Node>({ resource: 'nodes', name: 'n1' });
    expect(taintKeys(n)).toEqual([`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`]);
    expect(events).toEqual(['NodeNotReady']);
    expect(lists()).toBe(listsAtStart);
  });

  it('moves the deadline when the lease is renewed: a heartbeating node stays Ready', async () => {
    const clock = new FakeClock(T0);
    const mem = new MemoryStore(() => clock.now());
    await mem.create('nodes', { ...node('True'), metadata: { name: 'n1' } });
    await mem.create('leases', lease('n1', T0));
    start(new NodeLifecycleController({ store: mem, log: silentLogger(), clock, config: cfg }));
    await until('the first reconcile', async () => clock.pendingTimers() > 0);
    const renew = async (at: number) =>
      mem.guaranteedUpdate<ReturnType<typeof lease>>({ resource: 'leases', namespace: NODE_LEASE_NAMESPACE, name: 'n1' }, (l) => ({
        ...l,
        spec: { ...l.spec, renewTime: new Date(at).toISOString() },
      }));
    clock.advance(30_000);
    await renew(clock.now());
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(11_000); // past the first deadline: the node had a heartbeat since
    await new Promise((r) => setTimeout(r, 20));
    expect(await readyOf(mem)).toBe('True');
    clock.advance(30_000); // past the renewed deadline, no heartbeat since
    expect(await until('Ready=Unknown', async () => (await readyOf(mem)) === 'Unknown')).toBe(true);
  });

  it('marks the pods of a node that stays NotReady for the eviction timeout Failed with reason NodeLost; other nodes\' pods stay', async () => {
    const clock = new FakeClock(T0);
    const mem = new MemoryStore(() => clock.now());
    await mem.create('nodes', { ...node('True'), metadata: { name: 'n1' } });
    await mem.create('nodes', { ...node('True'), metadata: { name: 'n2' } });
    await mem.create('leases', lease('n1', T0));
    await mem.create('leases', lease('n2', T0 + 10_000_000));
    await mem.create('pods', podOn('lost', 'n1'));
    await mem.create('pods', podOn('fine', 'n2'));
    start(new NodeLifecycleController({ store: mem, log: silentLogger(), clock, config: cfg }));
    await until('the first reconciles', async () => clock.pendingTimers() >= 1); // one timer for every node's deadline
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(41_000);
    await until('n1 Unknown', async () => (await readyOf(mem)) === 'Unknown');
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(299_000);
    await new Promise((r) => setTimeout(r, 20));
    const phase = async (name: string) => (await mem.get<Pod>({ resource: 'pods', namespace: 'default', name })).status;
    expect((await phase('lost'))?.phase).toBe('Running');
    clock.advance(1_100);
    const st = await until('lost Failed', async () => ((await phase('lost'))?.phase === 'Failed' ? phase('lost') : undefined));
    expect(st).toMatchObject({ phase: 'Failed', reason: 'NodeLost', message: 'Node n1 which was running pod lost is unresponsive' });
    expect((await phase('fine'))?.phase).toBe('Running');
  });
});

describe('[nodelifecycle] a deleted node', () => {
  it('takes its pods with it (no agent will confirm their deletion), then its lease and subnet; other pods stay', async () => {
    const store = new MemoryStore(() => T0);
    await store.create('nodes', { ...node('True'), metadata: { name: 'kept' } });
    await store.create('leases', lease('kept', T0));
    await store.create('leases', lease('gone', T0));
    await store.create('pods', podOn('on-gone', 'gone'));
    await store.create('pods', podOn('terminating-on-gone', 'gone', { deletionTimestamp: iso(T0), deletionGracePeriodSeconds: 30 }));
    await store.create('pods', podOn('on-kept', 'kept'));
    const released: string[] = [];
    start(new NodeLifecycleController({ store, log: silentLogger(), clock: new FakeClock(T0), onNodeGone: async (n) => void released.push(n) }));
    await until('the subnet released', async () => released.length > 0);
    expect((await store.list<Pod>('pods')).items.map((p) => p.metadata.name)).toEqual(['on-kept']);
    expect((await store.list('leases', { namespace: NODE_LEASE_NAMESPACE })).items.map((l) => l.metadata.name)).toEqual(['kept']);
    expect(released).toEqual(['gone']);
  });

  it('cleans up after a node deleted while it runs', async () => {
    const store = new MemoryStore(() => T0);
    await store.create('nodes', { ...node('True'), metadata: { name: 'n1' } });
    await store.create('leases', lease('n1', T0));
    await store.create('pods', podOn('p', 'n1'));
    const released: string[] = [];
    start(new NodeLifecycleController({ store, log: silentLogger(), clock: new FakeClock(T0), onNodeGone: async (n) => void released.push(n) }));
    await new Promise((r) => setTimeout(r, 20));
    expect(released).toEqual([]);
    await store.delete({ resource: 'nodes', name: 'n1' });
    await until('the subnet released', async () => released.length > 0);
    expect((await store.list<Pod>('pods')).items).toEqual([]);
    expect((await store.list('leases', { namespace: NODE_LEASE_NAMESPACE })).items).toEqual([]);
  });
});
