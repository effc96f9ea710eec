// The pure planning of the replicaset and deployment controllers, table-tested
// against Kubernetes' documented behaviour: slow-start batches, which pods go
// first, maxSurge/maxUnavailable arithmetic, rolling-update steps, history
// cleanup and the rollout status kubectl prints.
import { describe, expect, it } from 'vitest';
import type { Deployment, Pod, ReplicaSet } from '../../api/index.js';
import {
  isScalingEvent,
  newReplicaSetReplicas,
  oldReplicaSetScaleDown,
  podTemplateHash,
  replicaSetsToCleanUp,
  resolveFenceposts,
  rolloutStatusMessage,
  scaledReplicaSetSizes,
} from '../../controller/deployment/index.js';
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

// A set as the deployment controller leaves it: sized for `desired` replicas
// (max-replicas = desired + surge), created at minute `minute`.
const sized = (name: string, replicas: number, o: { desired: number; max: number; minute: number; available?: number }): ReplicaSet =>
  ({
    metadata: {
      name,
      creationTimestamp: `2026-01-01T00:${String(o.minute).padStart(2, '0')}:00Z`,
      annotations: { 'deployment.kubernetes.io/revision': String(o.minute), 'deployment.kubernetes.io/desired-replicas': String(o.desired), 'deployment.kubernetes.io/max-replicas': String(o.max) },
    },
    spec: { replicas, selector: {}, template: { spec: { containers: [] } } },
    status: { replicas, availableReplicas: o.available ?? replicas },
  }) as unknown as ReplicaSet;
const scaled = (sizes: Map<string, number> | undefined) => Object.fromEntries(sizes ?? []);

describe('proportional scaling of a deployment scaled mid-rollout (as Kubernetes)', () => {
  // the documented example: 10 replicas, maxSurge 3, mid-rollout with old 8 and new 5 (13 = 10 + 3)
  const old = sized('old', 8, { desired: 10, max: 13, minute: 1 });
  const neu = sized('new', 5, { desired: 10, max: 13, minute: 2, available: 0 });
  it.each([
    ['10 → 15: 5 more pods, old 11 and new 7', 15, { old: 11, new: 7 }],
    ['10 → 30: 33 pods in all, old 20 and new 13', 30, { old: 20, new: 13 }],
    ['10 → 5: 8 pods in all, old 5 and new 3', 5, { old: 5, new: 3 }],
    ['10 → 0: both to 0 (no surge at 0)', 0, { old: 0, new: 0 }],
  ])('%s', (_, replicas, want) => {
    const d = D(replicas, 3, 2);
    expect(isScalingEvent(d, neu, [old])).toBe(true);
    const sizes = scaledReplicaSetSizes(d, neu, [old]);
    expect(scaled(sizes)).toEqual(want);
    // the total never exceeds replicas + maxSurge
    expect([...sizes!.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(replicas === 0 ? 0 : replicas + 3);
  });

  it('the largest set is written first (it takes the rounding leftovers)', () => {
    expect([...scaledReplicaSetSizes(D(15, 3, 2), neu, [old])!.keys()]).toEqual(['old', 'new']);
  });

  it('equal sets: a leftover pod goes to the newest when scaling up, is taken from the oldest when scaling down', () => {
    const a = sized('a', 3, { desired: 6, max: 6, minute: 1 });
    const b = sized('b', 3, { desired: 6, max: 6, minute: 2 });
    expect(scaled(scaledReplicaSetSizes(D(7, 0, 2), b, [a]))).toEqual({ a: 3, b: 4 });
    expect(scaled(scaledReplicaSetSizes(D(5, 0, 2), b, [a]))).toEqual({ a: 2, b: 3 });
  });

  it('three sets share a change by size', () => {
    const r1 = sized('r1', 2, { desired: 10, max: 12, minute: 1 });
    const r2 = sized('r2', 6, { desired: 10, max: 12, minute: 2 });
    const r3 = sized('r3', 4, { desired: 10, max: 12, minute: 3, available: 0 });
    // 12 → 24 pods: each doubles
    expect(scaled(scaledReplicaSetSizes(D(20, 4, 0), r3, [r1, r2]))).toEqual({ r1: 4, r2: 12, r3: 8 });
    // 12 → 3 pods (replicas 2, surge 1): shares r1 0.5 → 1, r2 1.5 → 2, r3 1; the leftover pod comes off the largest
    expect(scaled(scaledReplicaSetSizes(D(2, 1, 0), r3, [r1, r2]))).toEqual({ r1: 1, r2: 1, r3: 1 });
  });

  it('a leftover larger than the set it lands on stops at 0 (the rollout removes the rest)', () => {
    // four sets of 1, each sized for 2 pods, scaled to 1: each keeps round(1 × 1/2) = 1, so all 3 pods
    // to remove fall on the first (the oldest of equals), which cannot give more than its 1
    const sets = [1, 2, 3, 4].map((m) => sized(`s${m}`, 1, { desired: 2, max: 2, minute: m }));
    expect(scaled(scaledReplicaSetSizes(D(1, 0, 1), sets[3], sets.slice(0, 3)))).toEqual({ s1: 0, s2: 1, s3: 1, s4: 1 });
  });

  it('a set without a max-replicas annotation (adopted) is sized against status.replicas', () => {
    const adopted = { ...sized('adopted', 4, { desired: 4, max: 4, minute: 1 }), metadata: { name: 'adopted', creationTimestamp: '2026-01-01T00:01:00Z' } } as ReplicaSet;
    const neu4 = sized('new', 4, { desired: 4, max: 8, minute: 2, available: 0 });
    const d = { ...D(8, 0, 1), status: { replicas: 8 } } as Deployment;
    // 8 → 8 pods: nothing to add; 8 → 16 (replicas 16, no surge): both double
    expect(scaled(scaledReplicaSetSizes(d, neu4, [adopted]))).toEqual({ adopted: 4, new: 4 });
    expect(scaled(scaledReplicaSetSizes({ ...d, spec: { ...d.spec, replicas: 16 } } as Deployment, neu4, [adopted]))).toEqual({ adopted: 8, new: 8 });
  });

  it('one active set takes spec.replicas; none active: the new set does', () => {
    const only = sized('only', 4, { desired: 4, max: 5, minute: 1 });
    const idle = sized('idle', 0, { desired: 4, max: 5, minute: 0 });
    expect(scaled(scaledReplicaSetSizes(D(9, 1, 0), only, [idle]))).toEqual({ only: 9 });
    expect(scaled(scaledReplicaSetSizes(D(3, 1, 0), sized('new', 0, { desired: 4, max: 5, minute: 2 }), [idle]))).toEqual({ new: 3 });
    // no new set yet (paused with a changed template): the newest old one
    expect(scaled(scaledReplicaSetSizes(D(3, 1, 0), undefined, [sized('older', 0, { desired: 4, max: 5, minute: 0 }), sized('newer', 0, { desired: 4, max: 5, minute: 1 })]))).toEqual({ newer: 3 });
  });

  it('a saturated new set leaves the old ones at 0', () => {
    const full = sized('new', 5, { desired: 5, max: 6, minute: 2 });
    expect(scaled(scaledReplicaSetSizes(D(5, 1, 0), full, [sized('old', 2, { desired: 5, max: 6, minute: 1 })]))).toEqual({ old: 0 });
  });

  it('Recreate with several active sets is left to the strategy', () => {
    const d = { ...D(6, 0, 0), spec: { ...D(6, 0, 0).spec, strategy: { type: 'Recreate' } } } as Deployment;
    expect(scaledReplicaSetSizes(d, neu, [old])).toBeUndefined();
  });

  it('not a scaling event when the sets were sized for the current replicas, or carry no annotation', () => {
    expect(isScalingEvent(D(10, 3, 2), neu, [old])).toBe(false);
    expect(isScalingEvent(D(4, 1, 0), RS('new', 2, 2, 2), [RS('old', 2, 2, 1)])).toBe(false);
    // an idle set sized for another count does not count
    expect(isScalingEvent(D(10, 3, 2), neu, [old, sized('idle', 0, { desired: 3, max: 4, minute: 0 })])).toBe(false);
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
