// The pure planning of the replicaset and deployment controllers, table-tested
// against Kubernetes' documented behaviour: slow-start batches, which pods go
// first, maxSurge/maxUnavailable arithmetic, rolling-update steps, history
// cleanup and the rollout status kubectl prints.
import { describe, expect, it } from 'vitest';
import type { Deployment, Pod, ReplicaSet } from '../../api/index.js';
import { newReplicaSetReplicas, oldReplicaSetScaleDown, podTemplateHash, replicaSetsToCleanUp, resolveFenceposts, rolloutStatusMessage } from '../../controller/deployment/index.js';
import { podsToDelete, replicaSetCounts, slowStartBatchSizes } from '../../controller/replicaset/index.js';

describe('slow-start batches (1, 2, 4, … as Kubernetes)', () => {
  it.each([
    [0, []],
    [1, [1]],
    [3, [1, 2]],
    [10, [1, 2, 4, 3]],
    [16, [1, 2, 4, 8, 1]],
    [1000, [1, 2, 4, 8, 16, 32, 64, 128, 256, 489]],
  ])('%i pods → %j', (n, want) => {
    expect(slowStartBatchSizes(n)).toEqual(want);
  });
});

function pod(name: string, o: { node?: string; phase?: string; ready?: boolean; readySince?: string; restarts?: number; created?: string } = {}): Pod {
  return {
    metadata: { name, namespace: 'd', creationTimestamp: o.created ?? '2026-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c', image: 'i' }], ...(o.node ? { nodeName: o.node } : {}) },
    status: {
      phase: (o.phase ?? 'Running') as 'Running',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: o.readySince ?? '2026-01-01T00:00:10Z' }],
      containerStatuses: [{ name: 'c', ready: o.ready !== false, restartCount: o.restarts ?? 0 } as never],
    },
  } as Pod;
}

describe('pods deleted first when scaling down (ActivePods order)', () => {
  it.each([
    ['unscheduled before scheduled', [pod('a', { node: 'n' }), pod('b', { phase: 'Pending' })], 'b'],
    ['Pending before Running', [pod('a', { node: 'n' }), pod('b', { node: 'n', phase: 'Pending', ready: false })], 'b'],
    ['Unknown before Running', [pod('a', { node: 'n' }), pod('b', { node: 'n', phase: 'Unknown' })], 'b'],
    ['not ready before ready', [pod('a', { node: 'n' }), pod('b', { node: 'n', ready: false })], 'b'],
    ['ready more recently first', [pod('a', { node: 'n' }), pod('b', { node: 'n', readySince: '2026-01-01T00:05:00Z' })], 'b'],
    ['more restarts first', [pod('a', { node: 'n' }), pod('b', { node: 'n', restarts: 3 })], 'b'],
    ['newer before older', [pod('a', { node: 'n' }), pod('b', { node: 'n', created: '2026-01-02T00:00:00Z' })], 'b'],
  ])('%s', (_, pods, want) => {
    expect(podsToDelete(pods, 1).map((p) => p.metadata.name)).toEqual([want]);
  });
});

describe('maxSurge rounds up, maxUnavailable rounds down (ResolveFenceposts)', () => {
  it.each([
    // the documented example: 10 replicas, 25%/25% → at most 13 pods, at least 8 available
    [10, '25%', '25%', [3, 2]],
    [10, '30%', '30%', [3, 3]],
    [3, '25%', '25%', [1, 0]],
    [1, '25%', '25%', [1, 0]],
    [4, 1, 0, [1, 0]],
    [4, 0, 1, [0, 1]],
    [5, '0%', '0%', [0, 1]],
    [1000, '25%', '25%', [250, 250]],
    [10, 2, '100%', [2, 10]],
  ])('replicas %i, surge %s, unavailable %s → %j', (n, s, u, want) => {
    expect(resolveFenceposts(s, u, n)).toEqual(want);
  });
});

const D = (replicas: number, surge: number | string, unavailable: number | string): Deployment =>
  ({
    metadata: { name: 'web', namespace: 'd', generation: 2 },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [] } }, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavailable } } },
  }) as unknown as Deployment;
const RS = (name: string, replicas: number, available: number, revision: number): ReplicaSet =>
  ({
    metadata: { name, annotations: { 'deployment.kubernetes.io/revision': String(revision) } },
    spec: { replicas, selector: {}, template: { spec: { containers: [] } } },
    status: { replicas, availableReplicas: available },
  }) as unknown as ReplicaSet;

describe('a rolling update, step by step', () => {
  it('10 replicas 25%/25%: the new set surges to 3, the old one drops to 8 (8 available kept)', () => {
    const d = D(10, '25%', '25%');
    const old = RS('old', 10, 10, 1);
    const neu = RS('new', 0, 0, 2);
    expect(newReplicaSetReplicas(d, [neu, old], neu)).toBe(3);
    const neu3 = RS('new', 3, 0, 2);
    expect(oldReplicaSetScaleDown(d, neu3, [old])).toEqual(new Map([['old', 8]]));
    // nothing more while the new pods are not available (13 pods, 8 must stay available)
    expect(oldReplicaSetScaleDown(d, neu3, [RS('old', 8, 8, 1)])).toEqual(new Map());
    // the new set may grow again once the total fell: 8 + 3 = 11 < 13
    expect(newReplicaSetReplicas(d, [neu3, RS('old', 8, 8, 1)], neu3)).toBe(5);
  });
  it('maxSurge 0: the old set shrinks first, by maxUnavailable', () => {
    const d = D(4, 0, 1);
    const neu = RS('new', 0, 0, 2);
    const old = RS('old', 4, 4, 1);
    expect(newReplicaSetReplicas(d, [neu, old], neu)).toBe(0);
    expect(oldReplicaSetScaleDown(d, neu, [old])).toEqual(new Map([['old', 3]]));
  });
  it('unavailable pods of old sets go first', () => {
    const d = D(4, 1, 0);
    const neu = RS('new', 1, 1, 3);
    expect(oldReplicaSetScaleDown(d, neu, [RS('older', 2, 0, 1), RS('old', 2, 2, 2)])).toEqual(new Map([['older', 1]]));
  });
  it('revisionHistoryLimit keeps the newest idle sets', () => {
    const d = { ...D(1, 1, 0), spec: { ...D(1, 1, 0).spec, revisionHistoryLimit: 1 } } as Deployment;
    const gone = replicaSetsToCleanUp(d, [RS('r1', 0, 0, 1), RS('r3', 0, 0, 3), RS('r2', 0, 0, 2), RS('busy', 1, 1, 4)]);
    expect(gone.map((r) => r.metadata.name)).toEqual(['r1', 'r2']);
  });
  it('the pod-template-hash is stable, safe-encoded, and changes with the template or the collision count', () => {
    const t = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
    const h = podTemplateHash(t);
    expect(h).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(podTemplateHash(JSON.parse(JSON.stringify(t)))).toBe(h);
    expect(podTemplateHash({ ...t, spec: { containers: [{ name: 'c', image: 'nginx:2' }] } })).not.toBe(h);
    expect(podTemplateHash(t, 1)).not.toBe(h);
  });
});

describe('kubectl rollout status wording', () => {
  const withStatus = (s: Record<string, unknown>, generation = 2) => ({ ...D(3, 1, 0), metadata: { name: 'web', generation }, status: { observedGeneration: 2, ...s } }) as unknown as Deployment;
  it.each([
    [withStatus({}, 3), 'Waiting for deployment spec update to be observed...'],
    [withStatus({ updatedReplicas: 1, replicas: 3 }), 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...'],
    [withStatus({ updatedReplicas: 3, replicas: 4, availableReplicas: 3 }), 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...'],
    [withStatus({ updatedReplicas: 3, replicas: 3, availableReplicas: 1 }), 'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...'],
    [withStatus({ updatedReplicas: 3, replicas: 3, availableReplicas: 3 }), 'deployment "web" successfully rolled out'],
  ])('%#', (d, want) => {
    expect(rolloutStatusMessage(d).message).toBe(want);
  });
});

describe('ReplicaSet status counts', () => {
  it('ready, available after minReadySeconds, fully labeled', () => {
    const rs = { metadata: { name: 'r' }, spec: { replicas: 3, minReadySeconds: 30, selector: {}, template: { metadata: { labels: { app: 'web', tier: 'x' } }, spec: { containers: [] } } } } as unknown as ReplicaSet;
    const now = Date.parse('2026-01-01T00:01:00Z');
    const a = pod('a', { readySince: '2026-01-01T00:00:00Z' });
    a.metadata.labels = { app: 'web', tier: 'x' };
    const b = pod('b', { readySince: '2026-01-01T00:00:50Z' });
    b.metadata.labels = { app: 'web' };
    const c = pod('c', { ready: false });
    expect(replicaSetCounts(rs, [a, b, c], now)).toEqual({ replicas: 3, fullyLabeledReplicas: 1, readyReplicas: 2, availableReplicas: 1 });
  });
});
