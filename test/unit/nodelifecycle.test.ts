import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger, type Node, type Pod } from '../../api/index.js';
import { NODE_LEASE_NAMESPACE } from '../../controller/agentapi/node-service.js';
import { NodeLifecycleController } from '../../controller/nodelifecycle/controller.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import type { Store } from '../../controller/storage/store.js';
import { TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, decideNodeLifecycle, decidePodEviction } from '../../controller/nodelifecycle/decide.js';
import { controllerAdmission, defaultTolerationSeconds } from '../../controller/apiserver/admission.js';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const cfg = { gracePeriodMs: 40_000 };

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
    expect(d).toEqual({});
  });

  it('marks a node silent for longer than the grace period Ready=Unknown and taints it unreachable', () => {
    const d = decideNodeLifecycle(node('True'), T0, T0 + 41_000, cfg);
    expect(d.transition).toBe('NodeNotReady');
    const ready = d.updatedNode?.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown', lastTransitionTime: iso(T0 + 41_000) });
    expect(taintKeys(d.updatedNode)).toEqual([`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`]);
    expect(d.updatedNode?.spec?.taints?.every((t) => t.timeAdded === iso(T0 + 41_000))).toBe(true);
  });

  it('keeps the taints (and their timeAdded) of a node that stays unreachable', () => {
    const lost = node('Unknown', T0, { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoSchedule', timeAdded: iso(T0) }, { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: iso(T0) }] });
    expect(decideNodeLifecycle(lost, T0 - 50_000, T0 + 300_000, cfg)).toEqual({});
  });

  it('taints a cordoned node node.kubernetes.io/unschedulable:NoSchedule and removes it on uncordon', () => {
    const cordoned = node('True', T0, { unschedulable: true });
    const d = decideNodeLifecycle(cordoned, T0, T0 + 1_000, cfg);
    expect(taintKeys(d.updatedNode)).toEqual([`${TAINT_UNSCHEDULABLE}:NoSchedule`]);
    expect(d.transition).toBeUndefined();
    const back = decideNodeLifecycle({ ...d.updatedNode!, spec: { ...d.updatedNode!.spec, unschedulable: false } }, T0, T0 + 2_000, cfg);
    expect(taintKeys(back.updatedNode)).toEqual([]);
    expect(back.transition).toBeUndefined();
  });

  it('removes the taints when the node reports Ready again', () => {
    const back = node('True', T0 + 400_000, { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    const d = decideNodeLifecycle(back, T0 + 400_000, T0 + 401_000, cfg);
    expect(d.transition).toBe('NodeReady');
    expect(taintKeys(d.updatedNode)).toEqual(['dedicated:NoSchedule']);
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

describe('[nodelifecycle] taint-based eviction of one pod', () => {
  const unreachable = { key: TAINT_UNREACHABLE, effect: 'NoExecute' as const, timeAdded: iso(T0) };
  const pod = (tolerations: NonNullable<Pod['spec']>['tolerations']): Pod => ({ metadata: { name: 'p', namespace: 'default' }, spec: { containers: [], ...(tolerations ? { tolerations } : {}) } });

  it('evicts a pod that does not tolerate a NoExecute taint at once', () => {
    expect(decidePodEviction(pod(undefined), [unreachable], T0 + 7_000)).toEqual({ evictAtMs: T0 + 7_000 });
    // a toleration of another taint, or of the NoSchedule effect only, does not count
    expect(decidePodEviction(pod([{ key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoExecute' }]), [unreachable], T0).evictAtMs).toBe(T0);
    expect(decidePodEviction(pod([{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoSchedule' }]), [unreachable], T0).evictAtMs).toBe(T0);
  });

  it('evicts a pod that tolerates it for tolerationSeconds that long after the taint was added', () => {
    const d = decidePodEviction(pod([{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }]), [unreachable], T0 + 1_000);
    expect(d).toEqual({ evictAtMs: T0 + 5_000 });
    // the smallest tolerationSeconds of the matching tolerations; negative is 0
    const two = pod([
      { key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 },
      { operator: 'Exists', tolerationSeconds: 20 },
    ]);
    expect(decidePodEviction(two, [unreachable], T0).evictAtMs).toBe(T0 + 20_000);
    expect(decidePodEviction(pod([{ operator: 'Exists', effect: 'NoExecute', tolerationSeconds: -3 }]), [unreachable], T0 + 9).evictAtMs).toBe(T0);
  });

  it('never evicts a pod that tolerates every NoExecute taint without tolerationSeconds; NoSchedule taints do not evict', () => {
    expect(decidePodEviction(pod([{ operator: 'Exists' }]), [unreachable], T0)).toEqual({});
    expect(decidePodEviction(pod([{ key: TAINT_UNREACHABLE, operator: 'Exists' }]), [unreachable], T0)).toEqual({});
    expect(decidePodEviction(pod(undefined), [{ key: TAINT_UNREACHABLE, effect: 'NoSchedule' }], T0)).toEqual({});
    // Equal needs the value
    const tainted = { key: 'dedicated', value: 'gpu', effect: 'NoExecute' as const, timeAdded: iso(T0) };
    expect(decidePodEviction(pod([{ key: 'dedicated', operator: 'Equal', value: 'gpu' }]), [tainted], T0)).toEqual({});
    expect(decidePodEviction(pod([{ key: 'dedicated', operator: 'Equal', value: 'cpu' }]), [tainted], T0)).toEqual({ evictAtMs: T0 });
  });
});

describe('[admission] DefaultTolerationSeconds', () => {
  const tolerationsOf = (spec: Record<string, unknown>, fn = defaultTolerationSeconds()) => {
    const o = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [], ...spec } } as unknown as Pod & Record<string, unknown>;
    fn(o);
    return o.spec?.tolerations;
  };

  it('gives every pod the not-ready and unreachable NoExecute tolerations for 300 s', () => {
    expect(tolerationsOf({})).toEqual([
      { key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ]);
  });

  it('keeps the pod\'s own toleration of either taint, and any key-less one; the seconds come from the flags', () => {
    const own = { key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 3 };
    expect(tolerationsOf({ tolerations: [own] }, defaultTolerationSeconds({ notReadySeconds: 7 }))).toEqual([
      own,
      { key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 7 },
    ]);
    expect(tolerationsOf({ tolerations: [{ operator: 'Exists' }] })).toEqual([{ operator: 'Exists' }]);
    // a NoSchedule toleration does not cover the NoExecute taint
    expect(tolerationsOf({ tolerations: [{ key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoSchedule' }] }, defaultTolerationSeconds({ notReadySeconds: 1, unreachableSeconds: 2 }))).toHaveLength(3);
  });

  it('runs by kind: only pods', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, spec: {} } as never;
    controllerAdmission().admitCreate('ConfigMap', cm);
    expect(cm).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, spec: {} });
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

  it('taint-based eviction: pods Ready=False at once, the intolerant evicted at once, the tolerant after tolerationSeconds, both removed once their grace runs out; other pods stay', async () => {
    const clock = new FakeClock(T0);
    const mem = new MemoryStore(() => clock.now());
    await mem.create('nodes', { ...node('True'), metadata: { name: 'n1' } });
    await mem.create('nodes', { ...node('True'), metadata: { name: 'n2' } });
    await mem.create('leases', lease('n1', T0));
    await mem.create('leases', lease('n2', T0 + 10_000_000));
    const ready = { conditions: [{ type: 'Ready' as const, status: 'True' as const }, { type: 'ContainersReady' as const, status: 'True' as const }] };
    const withTol = (p: Pod, tolerations: NonNullable<Pod['spec']>['tolerations']): Pod => ({ ...p, spec: { ...p.spec, tolerations }, status: { ...p.status, ...ready } });
    await mem.create('pods', withTol(podOn('intolerant', 'n1'), []));
    await mem.create('pods', withTol(podOn('tolerant', 'n1'), [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }]));
    await mem.create('pods', withTol(podOn('forever', 'n1'), [{ operator: 'Exists' }]));
    await mem.create('pods', withTol(podOn('fine', 'n2'), []));
    const events: string[] = [];
    start(
      new NodeLifecycleController({
        store: mem,
        log: silentLogger(),
        clock,
        config: cfg,
        recordEvent: async (e) => void events.push(`${e.reason} ${e.object.name}: ${e.message}`),
      }),
    );
    await until('the first reconciles', async () => clock.pendingTimers() >= 1);
    await new Promise((r) => setTimeout(r, 20));
    const get = (name: string) => mem.get<Pod>({ resource: 'pods', namespace: 'default', name }).catch(() => undefined);
    const podReady = async (name: string) => (await get(name))?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    clock.advance(41_000);
    await until('n1 Unknown', async () => (await readyOf(mem)) === 'Unknown');
    await until('the pods Ready=False', async () => (await podReady('intolerant')) === 'False' && (await podReady('tolerant')) === 'False' && (await podReady('forever')) === 'False');
    const marked = await until('intolerant marked for deletion', async () => (await get('intolerant'))?.metadata.deletionTimestamp);
    expect(marked).toBe(iso(T0 + 41_000 + 30_000)); // graceful: the pod's grace period
    expect(events).toContain('TaintManagerEviction intolerant: Marking for deletion Pod default/intolerant');
    expect(events).toContain('NodeNotReady tolerant: Node is not ready');
    expect((await get('tolerant'))?.metadata.deletionTimestamp).toBeUndefined();
    clock.advance(3_500); // the taint was added at T0+41 s: the tolerant pod goes at T0+46 s
    await new Promise((r) => setTimeout(r, 20));
    expect((await get('tolerant'))?.metadata.deletionTimestamp).toBeUndefined();
    clock.advance(1_600);
    await until('tolerant marked for deletion', async () => (await get('tolerant'))?.metadata.deletionTimestamp);
    clock.advance(30_000); // the intolerant pod's grace ran out: no agent confirms it, it is removed
    await until('intolerant removed', async () => (await get('intolerant')) === undefined);
    clock.advance(5_000);
    await until('tolerant removed', async () => (await get('tolerant')) === undefined);
    expect((await get('forever'))?.metadata.deletionTimestamp).toBeUndefined();
    expect(await podReady('fine')).toBe('True');
    expect((await get('fine'))?.metadata.deletionTimestamp).toBeUndefined();
  });

  it('evicts a pod bound later to a node that is already tainted', async () => {
    const clock = new FakeClock(T0);
    const mem = new MemoryStore(() => clock.now());
    await mem.create('nodes', { ...node('Unknown', T0, { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: iso(T0) }] }), metadata: { name: 'n1' } });
    start(new NodeLifecycleController({ store: mem, log: silentLogger(), clock, config: cfg }));
    await until('the first reconcile', async () => clock.pendingTimers() >= 0);
    await new Promise((r) => setTimeout(r, 20));
    await mem.create('pods', podOn('late', 'n1'));
    await until('late marked for deletion', async () => (await mem.get<Pod>({ resource: 'pods', namespace: 'default', name: 'late' })).metadata.deletionTimestamp);
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
