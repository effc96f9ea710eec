// StoreBinder: one compare-and-swap write when the scheduler's copy of the pod is
// current; a stale copy falls back to reading the stored pod; refusals stand.
import { describe, expect, it } from 'vitest';
import { ConflictError, realClock as clock, type Pod } from '../../api/index.js';
import { StoreBinder } from '../../controller/scheduler/binder.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import { makePod } from './scheduler-fixtures.js';

const key = (p: Pod) => ({ resource: 'pods', namespace: p.metadata.namespace ?? 'default', name: p.metadata.name! });

describe('[scheduler] StoreBinder', () => {
  it('binds a current pod with a single write (its revision moves by one)', async () => {
    const store = new MemoryStore();
    const pod = await store.create('pods', makePod('web'));
    let gets = 0;
    const get = store.get.bind(store);
    store.get = (async (k: Parameters<MemoryStore['get']>[0]) => (gets++, get(k))) as MemoryStore['get'];
    await new StoreBinder(store, clock).bind({ namespace: 'default', name: 'web', uid: pod.metadata.uid!, nodeName: 'n1' }, pod);
    store.get = get;
    const bound = await store.get<Pod>(key(pod));
    expect(bound.spec.nodeName).toBe('n1');
    expect(bound.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
    expect(gets).toBe(0);
  });

  it('a stale copy falls back to the stored pod: still binds, or refuses when the pod was bound meanwhile', async () => {
    const store = new MemoryStore();
    const stale = await store.create('pods', makePod('a'));
    await store.guaranteedUpdate<Pod>(key(stale), (p) => ({ ...p, metadata: { ...p.metadata, labels: { touched: 'yes' } } }));
    await new StoreBinder(store, clock).bind({ namespace: 'default', name: 'a', nodeName: 'n2' }, stale);
    const bound = await store.get<Pod>(key(stale));
    expect(bound.spec.nodeName).toBe('n2');
    expect(bound.metadata.labels).toEqual({ touched: 'yes' });

    const other = await store.create('pods', makePod('b'));
    await new StoreBinder(store, clock).bind({ namespace: 'default', name: 'b', nodeName: 'n1' }, other);
    const err = await new StoreBinder(store, clock).bind({ namespace: 'default', name: 'b', nodeName: 'n3' }, other).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe('pod b is already assigned to node "n1"');
    expect((await store.get<Pod>(key(other))).spec.nodeName).toBe('n1');
  });
});
