// The replicaset controller's reconcile against fakes of the API and the
// informers: a create the API refuses (a 4xx) stops the slow-start round after
// its first pod, records FailedCreate, sets the ReplicaFailure condition and
// backs off instead of hot-looping; expectations keep a second reconcile from
// creating again while the first round's pods have not been seen yet.
import { describe, expect, it } from 'vitest';
import { FakeClock, InvalidError, type KubeObject, type Pod, type ReplicaSet } from '../../api/index.js';
import { ReplicaSetController } from '../../controller/replicaset/index.js';

function rs(): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web', namespace: 'd', uid: 'u1', generation: 1, resourceVersion: '5' },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
  } as ReplicaSet;
}

function fakes(createFails: boolean) {
  const sets = [rs()];
  const pods: Pod[] = [];
  const informer = <T extends KubeObject>(items: T[]) => ({
    getByName: (_ns: string, name: string) => items.find((x) => x.metadata.name === name),
    byIndex: () => items,
    addEventHandler: () => ({ remove() {} }),
  });
  const calls = { create: 0, status: [] as unknown[] };
  const api = {
    create: async (_t: unknown, body: Pod) => {
      calls.create++;
      if (createFails) throw new InvalidError('Pod "web-abcde" is invalid: spec.containers[0].image: Required value');
      return { ...body, metadata: { ...body.metadata, name: `web-${calls.create}` } };
    },
    update: async (_t: unknown, body: ReplicaSet) => {
      calls.status.push(body.status);
      return body;
    },
    patch: async () => ({}),
    delete: async () => null,
  };
  const events: string[] = [];
  const ctl = new ReplicaSetController({
    api: api as never,
    informers: { informerFor: (r: string) => (r === 'replicasets' ? informer(sets) : informer(pods)) } as never,
    recorder: { event: (_o: KubeObject, type: string, reason: string, msg: string) => events.push(`${type} ${reason} ${msg}`) },
    clock: new FakeClock(Date.parse('2026-01-01T00:00:00Z')),
  });
  return { ctl, calls, events };
}

describe('replicaset controller reconcile', () => {
  it('a refused create: one attempt, a FailedCreate event, the ReplicaFailure condition, a back-off', async () => {
    const { ctl, calls, events } = fakes(true);
    const r = await ctl.reconcile('d/web');
    expect(calls.create).toBe(1); // slow start: the first batch of 1 failed, the rest is skipped
    expect(r).toEqual({ requeue: true }); // after the key's back-off, never at once
    expect(events).toEqual(['Warning FailedCreate Error creating: Pod "web-abcde" is invalid: spec.containers[0].image: Required value']);
    expect(calls.status).toEqual([
      expect.objectContaining({
        replicas: 0,
        observedGeneration: 1,
        conditions: [expect.objectContaining({ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate' })],
      }),
    ]);
  });
  it('creates 1 + 2 pods, then waits for them (expectations) instead of creating again', async () => {
    const { ctl, calls, events } = fakes(false);
    await ctl.reconcile('d/web');
    expect(calls.create).toBe(3);
    expect(events.filter((e) => e.includes('SuccessfulCreate'))).toHaveLength(3);
    await ctl.reconcile('d/web'); // the informer has not shown the pods yet
    expect(calls.create).toBe(3);
  });
});
