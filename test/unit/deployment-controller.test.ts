// The deployment controller's reconcile against fakes of the API and the
// informers: a new deployment gets its ReplicaSet `<name>-<hash>` (revision 1,
// the annotations, the pod-template-hash in selector and template) and the
// NewReplicaSetCreated condition; a rollout that made no progress for
// progressDeadlineSeconds gets Progressing=False ProgressDeadlineExceeded and
// an event; paused deployments report DeploymentPaused and roll nothing.
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
