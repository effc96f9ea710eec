// The deployment controller's reconcile against fakes of the API and the
// informers: a new deployment gets its ReplicaSet `<name>-<hash>` (revision 1,
// the annotations, the pod-template-hash in selector and template) and the
// NewReplicaSetCreated condition; a rollout that made no progress for
// progressDeadlineSeconds gets Progressing=False ProgressDeadlineExceeded and
// an event; paused deployments report DeploymentPaused and roll nothing; a
// deployment scaled mid-rollout (paused or not) scales its sets in proportion
// and annotates them, and rolls only on the next round.
import { describe, expect, it } from 'vitest';
import { FakeClock, type Deployment, type KubeObject, type ReplicaSet } from '../../api/index.js';
import { DeploymentController, podTemplateHash } from '../../controller/deployment/index.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };

function deployment(extra: Partial<Deployment['spec']> = {}, status?: Deployment['status']): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'd', uid: 'du', generation: 1, resourceVersion: '3' },
    spec: { replicas: 4, selector: { matchLabels: { app: 'web' } }, template, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, progressDeadlineSeconds: 600, ...extra },
    ...(status ? { status } : {}),
  } as Deployment;
}

function fakes(d: Deployment, sets: ReplicaSet[], nowMs = T0) {
  const informer = <T extends KubeObject>(items: T[]) => ({
    getByName: (_ns: string, name: string) => items.find((x) => x.metadata.name === name),
    byIndex: () => items,
    addEventHandler: () => ({ remove() {} }),
  });
  const calls = { created: [] as ReplicaSet[], updates: [] as { sub?: string; body: any }[], patches: [] as unknown[] };
  const api = {
    create: async (_t: unknown, body: ReplicaSet) => {
      calls.created.push(body);
      return { ...body, metadata: { ...body.metadata, uid: 'rsu', resourceVersion: '9' } };
    },
    update: async (t: { subresource?: string }, body: unknown) => {
      calls.updates.push({ ...(t.subresource ? { sub: t.subresource } : {}), body });
      return body;
    },
    patch: async (_t: unknown, _type: string, p: unknown) => {
      calls.patches.push(p);
      return { ...d, metadata: { ...d.metadata, resourceVersion: '4' } };
    },
    delete: async () => null,
  };
  const events: string[] = [];
  const ctl = new DeploymentController({
    api: api as never,
    informers: { informerFor: (r: string) => (r === 'deployments' ? informer([d]) : r === 'replicasets' ? informer(sets) : informer([])) } as never,
    recorder: { event: (_o: KubeObject, type: string, reason: string, msg: string) => events.push(`${type} ${reason} ${msg}`) },
    clock: new FakeClock(nowMs),
  });
  return { ctl, calls, events };
}

describe('deployment controller reconcile', () => {
  it('creates <name>-<pod-template-hash> with revision 1 and reports NewReplicaSetCreated', async () => {
    const { ctl, calls, events } = fakes(deployment(), []);
    await ctl.reconcile('d/web');
    const hash = podTemplateHash(template);
    expect(calls.created).toHaveLength(1);
    const rs = calls.created[0]!;
    expect(rs.metadata.name).toBe(`web-${hash}`);
    expect(rs.metadata.annotations).toEqual({ 'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '4', 'deployment.kubernetes.io/max-replicas': '5' });
    expect(rs.spec.replicas).toBe(4);
    expect(rs.spec.selector.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs.spec.template.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'du', controller: true, blockOwnerDeletion: true }]);
    expect(events).toEqual([`Normal ScalingReplicaSet Scaled up replica set web-${hash} to 4`]);
    const status = calls.updates.find((u) => u.sub === 'status')!.body.status;
    expect(status).toMatchObject({ observedGeneration: 1, replicas: 0, updatedReplicas: 0, availableReplicas: 0, unavailableReplicas: 4 });
    expect(status.conditions.map((c: any) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'],
      ['Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "web-${hash}"`],
    ]);
  });

  it('no progress for progressDeadlineSeconds: Progressing False ProgressDeadlineExceeded', async () => {
    const hash = podTemplateHash(template);
    const rs = {
      metadata: { name: `web-${hash}`, namespace: 'd', uid: 'rsu', resourceVersion: '7', annotations: { 'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '4', 'deployment.kubernetes.io/max-replicas': '5' }, labels: { app: 'web', 'pod-template-hash': hash }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'du', controller: true }] },
      spec: { replicas: 4, minReadySeconds: 0, selector: { matchLabels: { app: 'web', 'pod-template-hash': hash } }, template: { ...template, metadata: { labels: { app: 'web', 'pod-template-hash': hash } } } },
      status: { replicas: 4, readyReplicas: 0, availableReplicas: 0 },
    } as unknown as ReplicaSet;
    const old = new Date(T0 - 601_000).toISOString();
    const d = deployment({}, {
      observedGeneration: 1,
      replicas: 4,
      updatedReplicas: 4,
      readyReplicas: 0,
      availableReplicas: 0,
      unavailableReplicas: 4,
      conditions: [
        { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.', lastUpdateTime: old, lastTransitionTime: old },
        { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "web-${hash}" is progressing.`, lastUpdateTime: old, lastTransitionTime: old },
      ],
    });
    d.metadata.annotations = { 'deployment.kubernetes.io/revision': '1' };
    const { ctl, calls, events } = fakes(d, [rs]);
    await ctl.reconcile('d/web');
    expect(calls.created).toHaveLength(0);
    const status = calls.updates.find((u) => u.sub === 'status')!.body.status;
    expect(status.conditions.find((c: any) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "web-${hash}" has timed out progressing.` });
    expect(events).toContain('Warning ProgressDeadlineExceeded Deployment "web" has timed out progressing.');
  });

  it('paused: no ReplicaSet for a new template, Progressing Unknown DeploymentPaused', async () => {
    const { ctl, calls } = fakes(deployment({ paused: true }), []);
    await ctl.reconcile('d/web');
    expect(calls.created).toHaveLength(0);
    const status = calls.updates.find((u) => u.sub === 'status')!.body.status;
    expect(status.conditions.find((c: any) => c.type === 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
  });
});

// An owned ReplicaSet of `tmpl` as the controller left it, sized for `desired` (max-replicas `max`).
function ownedSet(tmpl: typeof template, replicas: number, o: { desired: number; max: number; revision: number; available?: number }): ReplicaSet {
  const hash = podTemplateHash(tmpl);
  const labels = { app: 'web', 'pod-template-hash': hash };
  return {
    metadata: {
      name: `web-${hash}`,
      namespace: 'd',
      uid: `u-${hash}`,
      resourceVersion: '7',
      creationTimestamp: `2026-01-01T00:0${o.revision}:00Z`,
      labels,
      annotations: { 'deployment.kubernetes.io/revision': String(o.revision), 'deployment.kubernetes.io/desired-replicas': String(o.desired), 'deployment.kubernetes.io/max-replicas': String(o.max) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'du', controller: true }],
    },
    spec: { replicas, minReadySeconds: 0, selector: { matchLabels: labels }, template: { ...tmpl, metadata: { labels } } },
    status: { replicas, readyReplicas: o.available ?? replicas, availableReplicas: o.available ?? replicas },
  } as unknown as ReplicaSet;
}

const oldTemplate = { ...template, spec: { containers: [{ name: 'c', image: 'busybox:old' }] } };
const rsWrites = (calls: { updates: { sub?: string; body: any }[] }) =>
  calls.updates.filter((u) => !u.sub).map((u) => [u.body.metadata.name, u.body.spec.replicas, u.body.metadata.annotations['deployment.kubernetes.io/desired-replicas'], u.body.metadata.annotations['deployment.kubernetes.io/max-replicas']]);

describe('deployment controller: scaling mid-rollout is proportional', () => {
  // mid-rollout of 10 replicas with maxSurge 3: old 8 + new 5 = 13 pods
  const surge3 = { strategy: { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } };
  const midRollout = () => [ownedSet(oldTemplate, 8, { desired: 10, max: 13, revision: 1 }), ownedSet(template, 5, { desired: 10, max: 13, revision: 2, available: 0 })];
  const oldName = `web-${podTemplateHash(oldTemplate)}`;
  const newName = `web-${podTemplateHash(template)}`;

  it('10 → 15: old 8 → 11 and new 5 → 7, both annotated for 15 (max 18), no rollout step in that round', async () => {
    const { ctl, calls, events } = fakes(deployment({ replicas: 15, ...surge3 }), midRollout());
    await ctl.reconcile('d/web');
    expect(calls.created).toHaveLength(0);
    expect(rsWrites(calls)).toEqual([
      [oldName, 11, '15', '18'],
      [newName, 7, '15', '18'],
    ]);
    expect(events).toEqual([`Normal ScalingReplicaSet Scaled up replica set ${oldName} from 8 to 11`, `Normal ScalingReplicaSet Scaled up replica set ${newName} from 5 to 7`]);
  });

  it('10 → 5 mid-rollout: old 8 → 5 and new 5 → 3 (8 pods = 5 + 3)', async () => {
    const { ctl, calls } = fakes(deployment({ replicas: 5, ...surge3 }), midRollout());
    await ctl.reconcile('d/web');
    expect(rsWrites(calls)).toEqual([
      [oldName, 5, '5', '8'],
      [newName, 3, '5', '8'],
    ]);
  });

  it('paused mid-rollout and scaled 10 → 30: old 20 and new 13, nothing rolled, DeploymentPaused', async () => {
    const { ctl, calls } = fakes(deployment({ replicas: 30, paused: true, ...surge3 }), midRollout());
    await ctl.reconcile('d/web');
    expect(calls.created).toHaveLength(0);
    expect(rsWrites(calls)).toEqual([
      [oldName, 20, '30', '33'],
      [newName, 13, '30', '33'],
    ]);
    const status = calls.updates.find((u) => u.sub === 'status')!.body.status;
    expect(status.conditions.find((c: any) => c.type === 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
  });

  it('paused with one set: it follows spec.replicas', async () => {
    const { ctl, calls } = fakes(deployment({ replicas: 6, paused: true }), [ownedSet(template, 4, { desired: 4, max: 5, revision: 1 })]);
    await ctl.reconcile('d/web');
    expect(rsWrites(calls)).toEqual([[newName, 6, '6', '8']]);
  });

  it('replicas and template changed at once: the old set is scaled first, the new set is created on the next round', async () => {
    const d = deployment({ replicas: 6 });
    const first = fakes(d, [ownedSet(oldTemplate, 4, { desired: 4, max: 5, revision: 1 })]);
    await first.ctl.reconcile('d/web');
    expect(first.calls.created).toHaveLength(0);
    expect(rsWrites(first.calls)).toEqual([[oldName, 6, '6', '8']]);
    // the next round sees the set sized for 6: not a scaling event any more, the rollout starts
    const second = fakes(d, [ownedSet(oldTemplate, 6, { desired: 6, max: 8, revision: 1 })]);
    await second.ctl.reconcile('d/web');
    expect(second.calls.created.map((rs) => [rs.metadata.name, rs.spec.replicas, rs.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], rs.metadata.annotations?.['deployment.kubernetes.io/max-replicas']])).toEqual([
      [newName, 2, '6', '8'],
    ]);
  });
});
