import { describe, expect, it } from 'vitest';
import { FakeClock, silentLogger, type Node, type Pod } from '../../api/index.js';
import { NODE_LEASE_NAMESPACE } from '../../controller/agentapi/node-service.js';
import { NodeLifecycleController } from '../../controller/nodelifecycle/controller.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
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

describe('[nodelifecycle] a deleted node', () => {
  it('takes its pods with it (no agent will confirm their deletion), then its lease and subnet; other pods stay', async () => {
    const store = new MemoryStore(() => T0);
    const lease = (name: string) => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: NODE_LEASE_NAMESPACE },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date(T0).toISOString() },
    });
    const pod = (name: string, nodeName: string, extra: Partial<Pod['metadata']> = {}): Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', ...extra },
      spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
      status: { phase: 'Running' },
    });
    await store.create('nodes', { ...node('True'), metadata: { name: 'kept' } });
    await store.create('leases', lease('kept'));
    await store.create('leases', lease('gone'));
    await store.create('pods', pod('on-gone', 'gone'));
    await store.create('pods', pod('terminating-on-gone', 'gone', { deletionTimestamp: iso(T0), deletionGracePeriodSeconds: 30 }));
    await store.create('pods', pod('on-kept', 'kept'));
    const released: string[] = [];
    const c = new NodeLifecycleController({ store, log: silentLogger(), clock: new FakeClock(T0), onNodeGone: async (n) => void released.push(n) });
    await c.reconcileAll();
    expect((await store.list<Pod>('pods')).items.map((p) => p.metadata.name)).toEqual(['on-kept']);
    expect((await store.list('leases', { namespace: NODE_LEASE_NAMESPACE })).items.map((l) => l.metadata.name)).toEqual(['kept']);
    expect(released).toEqual(['gone']);
  });
});
