import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger, type Pod, type PodDisruptionBudget } from '../../api/index.js';
import { planDrain } from '../../cli/commands/drain.js';
import { DisruptionController } from '../../controller/disruption/index.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const pod = (name: string, o: { owner?: string; labels?: Record<string, string>; ready?: boolean; emptyDir?: boolean; mirror?: boolean; phase?: 'Running' | 'Succeeded' } = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: 'default',
    labels: o.labels ?? {},
    ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner, name: `${name}-owner`, uid: `u-${name}`, controller: true }] } : {}),
    ...(o.mirror ? { annotations: { 'kubernetes.io/config.mirror': 'x' } } : {}),
  },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(o.emptyDir ? { volumes: [{ name: 'v', emptyDir: {} }] } : {}) },
  status: { phase: o.phase ?? 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
});

describe('[drain] which pods go', () => {
  const pods = [pod('rs', { owner: 'ReplicaSet' }), pod('ds', { owner: 'DaemonSet' }), pod('bare'), pod('scratch', { owner: 'ReplicaSet', emptyDir: true }), pod('static', { mirror: true }), pod('done', { phase: 'Succeeded' })];

  it('refuses as kubectl words it: DaemonSet pods without --ignore-daemonsets, bare pods without --force, emptyDir without --delete-emptydir-data', () => {
    expect(planDrain(pods, {}).errors).toEqual([
      'cannot delete Pods that declare no controller (use --force to override): default/bare',
      'cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/ds',
      'cannot delete Pods with local storage (use --delete-emptydir-data to override): default/scratch',
    ]);
  });

  it('with the flags: evicts all but DaemonSet and mirror pods; a finished bare pod needs no --force', () => {
    const plan = planDrain(pods, { ignoreDaemonsets: true, force: true, deleteEmptydirData: true });
    expect(plan.errors).toEqual([]);
    expect(plan.evict.map((p) => p.metadata.name)).toEqual(['rs', 'bare', 'scratch', 'done']);
    expect(plan.ignoredDaemonSet.map((p) => p.metadata.name)).toEqual(['ds']);
    expect(plan.unmanaged.map((p) => p.metadata.name)).toEqual(['bare']);
  });
});

const runs: { ac: AbortController; done: Promise<void> }[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) {
    r.ac.abort();
    await r.done;
  }
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('[disruption] the controller keeps the budget\'s status', () => {
  it('counts healthy pods, the scale of their ReplicaSet for a percent, takes disrupted pods out, and forgets them after 2 min', async () => {
    const clock = new FakeClock(T0);
    const store = new MemoryStore(() => clock.now());
    await store.create('replicasets', { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 4, selector: { matchLabels: { app: 'web' } }, template: {} } } as never);
    const ref = { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs-uid', controller: true }] };
    for (const [n, ready] of [['w1', true], ['w2', true], ['w3', true], ['w4', false]] as const) {
      const p = pod(n, { labels: { app: 'web' }, ready });
      await store.create('pods', { ...p, metadata: { ...p.metadata, ...ref } });
    }
    await store.create('poddisruptionbudgets', {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'web-pdb', namespace: 'default', generation: 1 },
      spec: { minAvailable: '50%', selector: { matchLabels: { app: 'web' } } },
      status: { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, disruptedPods: { w1: iso(T0) } },
    } as PodDisruptionBudget);
    const informers = new InformerFactory({ store, clock, log: silentLogger() });
    const c = new DisruptionController({ store, informers, clock, log: silentLogger() });
    const ac = new AbortController();
    runs.push({ ac, done: c.run(ac.signal).finally(() => informers.stop()) });
    const get = () => store.get<PodDisruptionBudget>({ resource: 'poddisruptionbudgets', namespace: 'default', name: 'web-pdb' });
    // 50% of 4 → 2 must stay; w1 is being evicted: 2 healthy count
    const st = await until('the status', async () => ((await get()).status?.observedGeneration === 1 ? (await get()).status : undefined));
    expect(st).toMatchObject({ expectedPods: 4, desiredHealthy: 2, currentHealthy: 2, disruptionsAllowed: 0, disruptedPods: { w1: iso(T0) } });
    expect(st?.conditions).toEqual([expect.objectContaining({ type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods' })]);
    clock.advance(120_100);
    const later = await until('w1 forgotten', async () => ((await get()).status?.disruptedPods === undefined ? (await get()).status : undefined));
    expect(later).toMatchObject({ currentHealthy: 3, disruptionsAllowed: 1 });
    expect(later?.conditions).toEqual([expect.objectContaining({ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods' })]);
  });
});

describe('[disruption] budgets over pods whose count cannot be known', () => {
  async function statusOf(spec: PodDisruptionBudget['spec'], pods: Pod[]): Promise<PodDisruptionBudget['status']> {
    const clock = new FakeClock(T0);
    const store = new MemoryStore(() => clock.now());
    for (const p of pods) await store.create('pods', p);
    await store.create('poddisruptionbudgets', { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'b', namespace: 'default', generation: 1 }, spec } as PodDisruptionBudget);
    const informers = new InformerFactory({ store, clock, log: silentLogger() });
    const c = new DisruptionController({ store, informers, clock, log: silentLogger() });
    const ac = new AbortController();
    runs.push({ ac, done: c.run(ac.signal).finally(() => informers.stop()) });
    const get = () => store.get<PodDisruptionBudget>({ resource: 'poddisruptionbudgets', namespace: 'default', name: 'b' });
    return until('the status', async () => ((await get()).status?.observedGeneration === 1 ? (await get()).status : undefined));
  }
  const sel = { matchLabels: { app: 'd' } };

  it('maxUnavailable over DaemonSet pods fails safe as Kubernetes: no disruption allowed, SyncFailed naming the pod', async () => {
    const st = await statusOf({ maxUnavailable: 1, selector: sel }, [pod('d1', { owner: 'DaemonSet', labels: { app: 'd' } }), pod('d2', { owner: 'DaemonSet', labels: { app: 'd' } })]);
    expect(st?.disruptionsAllowed).toBe(0);
    expect(st?.conditions).toEqual([expect.objectContaining({ type: 'DisruptionAllowed', status: 'False', reason: 'SyncFailed', message: 'found no controllers for pod "d1"' })]);
  });

  it('a percentage over a pod without a controller: SyncFailed, "found no controller ref"', async () => {
    const st = await statusOf({ minAvailable: '50%', selector: sel }, [pod('bare', { labels: { app: 'd' } })]);
    expect(st).toMatchObject({ disruptionsAllowed: 0, conditions: [expect.objectContaining({ reason: 'SyncFailed', message: 'found no controller ref for pod "bare"' })] });
  });

  it('an integer minAvailable needs no controller: the pods themselves are counted', async () => {
    const st = await statusOf({ minAvailable: 1, selector: sel }, [pod('bare', { labels: { app: 'd' } }), pod('d1', { owner: 'DaemonSet', labels: { app: 'd' } })]);
    expect(st).toMatchObject({ expectedPods: 2, desiredHealthy: 1, currentHealthy: 2, disruptionsAllowed: 1, conditions: [expect.objectContaining({ reason: 'SufficientPods' })] });
  });
});
