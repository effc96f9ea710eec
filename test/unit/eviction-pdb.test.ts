import { describe, expect, it } from 'vitest';
import { FakeClock, REGISTRY, budgetStatus, podKind, podDisruptionBudgetKind, silentLogger, type Pod, type PodDisruptionBudget } from '../../api/index.js';
import { toTable } from '../../controller/apiserver/table.js';
import { ResourceApi } from '../../controller/apiserver/resource-api.js';
import { PDB_VIOLATION_MESSAGE, checkBudget, evictPod } from '../../controller/apiserver/eviction.js';
import { statusFromError } from '../../controller/apiserver/status.js';
import { resourceList } from '../../controller/apiserver/discovery.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

const T0 = Date.UTC(2026, 0, 1);

describe('[pdb] disruption arithmetic', () => {
  it('minAvailable as a number: desiredHealthy is it, expectedPods the matching pods', () => {
    expect(budgetStatus({ minAvailable: 2 }, { pods: 3, scale: 5, healthy: 3 })).toEqual({ expectedPods: 3, desiredHealthy: 2, currentHealthy: 3, disruptionsAllowed: 1 });
    expect(budgetStatus({ minAvailable: 4 }, { pods: 3, scale: 3, healthy: 3 }).disruptionsAllowed).toBe(0);
  });

  it('minAvailable as a percent of the controllers\' scale rounds up', () => {
    // 50% of 3 = 1.5 → 2 must stay
    expect(budgetStatus({ minAvailable: '50%' }, { pods: 3, scale: 3, healthy: 3 })).toEqual({ expectedPods: 3, desiredHealthy: 2, currentHealthy: 3, disruptionsAllowed: 1 });
    expect(budgetStatus({ minAvailable: '34%' }, { pods: 3, scale: 3, healthy: 2 })).toMatchObject({ desiredHealthy: 2, disruptionsAllowed: 0 });
  });

  it('maxUnavailable: desiredHealthy = scale − maxUnavailable (a percent of the scale rounded up), never below 0', () => {
    expect(budgetStatus({ maxUnavailable: 1 }, { pods: 4, scale: 4, healthy: 4 })).toMatchObject({ expectedPods: 4, desiredHealthy: 3, disruptionsAllowed: 1 });
    expect(budgetStatus({ maxUnavailable: '25%' }, { pods: 5, scale: 5, healthy: 5 })).toMatchObject({ desiredHealthy: 3, disruptionsAllowed: 2 }); // 1.25 → 2
    expect(budgetStatus({ maxUnavailable: 10 }, { pods: 2, scale: 2, healthy: 1 })).toMatchObject({ desiredHealthy: 0, disruptionsAllowed: 1 });
    expect(budgetStatus({ maxUnavailable: 0 }, { pods: 2, scale: 2, healthy: 2 }).disruptionsAllowed).toBe(0);
  });
});

describe('[pdb] the kind', () => {
  const api = () => new ResourceApi({ store: new MemoryStore(() => T0), clock: new FakeClock(T0), log: silentLogger() });
  const bad = (spec: Record<string, unknown>) => {
    try {
      api().prepareCreate({ res: podDisruptionBudgetKind, namespace: 'default' }, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'b' }, spec });
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };

  it('refuses both minAvailable and maxUnavailable, negative and over-100% values, with kube-apiserver\'s wording', () => {
    expect(bad({ minAvailable: 1, maxUnavailable: 1, selector: { matchLabels: { a: 'b' } } })).toContain('spec: Invalid value: "<object>": minAvailable and maxUnavailable cannot be both set');
    expect(bad({ minAvailable: -1 })).toContain('spec.minAvailable: Invalid value: -1: must be greater than or equal to 0');
    expect(bad({ maxUnavailable: '120%' })).toContain('spec.maxUnavailable: Invalid value: "120%": must not be greater than 100%');
    expect(bad({ minAvailable: 'half' })).toContain("spec.minAvailable: Invalid value: \"half\": a valid percent string must be a numeric string followed by an ending '%'");
    expect(bad({ minAvailable: 1, unhealthyPodEvictionPolicy: 'Never' })).toContain('spec.unhealthyPodEvictionPolicy: Unsupported value: "Never"');
    expect(bad({ minAvailable: '50%', selector: { matchLabels: { app: 'web' } } })).toBe('accepted');
  });

  it('is served as policy/v1 poddisruptionbudgets (pdb), and pods/eviction as a policy/v1 Eviction in the core group', () => {
    expect(REGISTRY.forResource('policy', 'v1', 'poddisruptionbudgets')?.shortNames).toEqual(['pdb']);
    expect(resourceList('', 'v1').resources.find((r) => r.name === 'pods/eviction')).toEqual({
      name: 'pods/eviction',
      singularName: '',
      namespaced: true,
      kind: 'Eviction',
      group: 'policy',
      version: 'v1',
      verbs: ['create'],
    });
  });

  it('prints NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE', () => {
    const t = toTable('PodDisruptionBudget', [
      { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', creationTimestamp: new Date(T0).toISOString() }, spec: { minAvailable: 2 }, status: { disruptionsAllowed: 1 } },
    ] as never, { nowMs: T0 + 60_000 });
    expect(t.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Min Available', 'Max Unavailable', 'Allowed Disruptions', 'Age']);
    expect(t.rows[0]!.cells).toEqual(['web', '2', 'N/A', 1, '60s']);
  });
});

const readyPod = (name: string, labels: Record<string, string>): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
});

const pdb = (status: Partial<NonNullable<PodDisruptionBudget['status']>>): PodDisruptionBudget => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name: 'web-pdb', namespace: 'default', generation: 1 },
  spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
  status: { observedGeneration: 1, disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2, expectedPods: 2, ...status },
});

describe('[eviction] pods/eviction', () => {
  async function setup(budget?: PodDisruptionBudget) {
    const clock = new FakeClock(T0);
    const store = new MemoryStore(() => clock.now());
    const api = new ResourceApi({ store, clock, log: silentLogger() });
    await store.create('pods', readyPod('web-1', { app: 'web' }));
    await store.create('pods', readyPod('web-2', { app: 'web' }));
    await store.create('pods', readyPod('other', { app: 'other' }));
    if (budget) await store.create('poddisruptionbudgets', budget);
    const evict = (name: string, body: Record<string, unknown> = {}) =>
      evictPod({ api, store, clock }, { res: podKind, namespace: 'default', name, subresource: 'eviction' }, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'default' }, ...body }, (raw) => (raw ?? {}) as never);
    const exists = (name: string) => store.get({ resource: 'pods', namespace: 'default', name }).then(() => true, () => false);
    return { store, evict, exists };
  }

  it('deletes a pod no budget selects (policy/v1 and policy/v1beta1 bodies)', async () => {
    const { evict, exists } = await setup(pdb({}));
    await evict('other');
    expect(await exists('other')).toBe(false);
    const s = await setup();
    await s.evict('web-1', { apiVersion: 'policy/v1beta1' });
    expect(await s.exists('web-1')).toBe(false);
  });

  it('answers 429 with kube-apiserver\'s message and a DisruptionBudget cause when the budget allows no disruption; the pod stays', async () => {
    const { evict, exists } = await setup(pdb({ disruptionsAllowed: 0 }));
    const err = await evict('web-1').catch((e: unknown) => e);
    const st = statusFromError(err);
    expect(st).toMatchObject({ code: 429, reason: 'TooManyRequests', message: PDB_VIOLATION_MESSAGE });
    expect(st.details?.causes).toEqual([{ reason: 'DisruptionBudget', message: 'The disruption budget web-pdb needs 2 healthy pods and has 2 currently' }]);
    expect(await exists('web-1')).toBe(true);
  });

  it('takes the last allowed disruption with compare-and-swap: of two concurrent evictions one passes, the other gets 429', async () => {
    const { store, evict, exists } = await setup(pdb({ disruptionsAllowed: 1, currentHealthy: 2, desiredHealthy: 1 }));
    const results = await Promise.allSettled([evict('web-1'), evict('web-2')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(statusFromError(rejected.reason).code).toBe(429);
    expect([await exists('web-1'), await exists('web-2')].filter(Boolean)).toHaveLength(1);
    const b = await store.get<PodDisruptionBudget>({ resource: 'poddisruptionbudgets', namespace: 'default', name: 'web-pdb' });
    expect(b.status?.disruptionsAllowed).toBe(0);
    expect(Object.keys(b.status?.disruptedPods ?? {})).toHaveLength(1);
  });

  it('answers 429 while the budget is not yet processed (observedGeneration behind)', async () => {
    const { evict } = await setup(pdb({ observedGeneration: 0, disruptionsAllowed: 5 }));
    const st = statusFromError(await evict('web-1').catch((e: unknown) => e));
    expect(st.code).toBe(429);
    expect(st.details?.causes?.[0]?.message).toBe('The disruption budget web-pdb is still being processed by the server.');
  });

  it('refuses an Eviction whose name does not match the URL', async () => {
    const { evict } = await setup();
    const st = statusFromError(await evict('web-1', { metadata: { name: 'web-2' } }).catch((e: unknown) => e));
    expect(st).toMatchObject({ code: 400, message: 'name in URL does not match name in Eviction object' });
  });

  it('lets an unready pod go without using the budget while the budget is met (IfHealthyBudget)', () => {
    const unready = { ...readyPod('u', { app: 'web' }), status: { phase: 'Running' as const, conditions: [] } };
    expect(checkBudget(pdb({ disruptionsAllowed: 0 }), unready, T0)).toBe('allow');
    expect(() => checkBudget(pdb({ disruptionsAllowed: 0, currentHealthy: 1 }), unready, T0)).toThrow(PDB_VIOLATION_MESSAGE);
  });
});
