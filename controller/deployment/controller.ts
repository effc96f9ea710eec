// The deployment controller (on the leader): rolls each Deployment's pod
// template out through ReplicaSets named `<deploy>-<pod-template-hash>`.
// reconcile(namespace/name) claims ReplicaSets (adopt/release by selector),
// finds or creates the ReplicaSet of the current template (revision =
// highest + 1, a rollback reuses the old one with a new revision), then
// follows the strategy: RollingUpdate scales the new set up within maxSurge
// and the old ones down within maxUnavailable (plan.ts); Recreate scales the
// old sets to 0, waits for their pods to go, then scales the new one up. When
// spec.replicas changed (an active set's desired-replicas annotation differs)
// or the deployment is paused, it is scaled instead of rolled: several active
// sets share the change in proportion to their sizes (plan.ts
// scaledReplicaSetSizes, as Kubernetes' proportional scaling). Old sets at 0 replicas beyond
// revisionHistoryLimit are deleted. Status (replicas, updated, ready,
// available, unavailable, observedGeneration, the Available and Progressing
// conditions with progressDeadlineSeconds) goes through the status subresource.
import {
  componentLogger,
  deepClone,
  deploymentKind,
  getCondition,
  jsonEqual,
  labelSelectorFromObject,
  labelSelectorMatches,
  realClock,
  replicaSetKind,
  rfc3339,
  toFlotillaError,
  type Clock,
  type Deployment,
  type DeploymentStatus,
  type KubeObject,
  type Logger,
  type OwnerReference,
  type Pod,
  type ReplicaSet,
  type WorkloadCondition,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { EventRecorder } from '../events/index.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import type { LeaderContext } from '../leader-context.js';
import { ExponentialBackoff, WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import {
  CHANGE_CAUSE,
  DESIRED_REPLICAS,
  MAX_REPLICAS,
  POD_TEMPLATE_HASH,
  REVISION,
  deploymentFenceposts,
  isScalingEvent,
  maxReplicas,
  newReplicaSetReplicas,
  normalizeTemplate,
  oldReplicaSetScaleDown,
  podTemplateHash,
  replicaSetsToCleanUp,
  revisionOf,
  scaledReplicaSetSizes,
  templateWithoutHash,
} from './plan.js';

export interface DeploymentControllerOptions {
  api: LeaderContext['api'];
  informers: InformerFactory;
  recorder: EventRecorder;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  workers?: number;
}

const controllerRef = (o: KubeObject): OwnerReference | undefined => o.metadata.ownerReferences?.find((r) => r.controller === true);
const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
const ref = (d: Deployment): KubeObject => ({ ...d, apiVersion: 'apps/v1', kind: 'Deployment' });

function selects(d: Deployment, labels: Record<string, string> | undefined): boolean {
  try {
    return labelSelectorMatches(labelSelectorFromObject(d.spec.selector), labels ?? {});
  } catch {
    return false;
  }
}

export class DeploymentController {
  private readonly log: Logger;
  private readonly clock: Clock;
  private deployments: SharedInformer<Deployment> | undefined;
  private replicaSets: SharedInformer<ReplicaSet> | undefined;
  private pods: SharedInformer<Pod> | undefined;

  constructor(private readonly o: DeploymentControllerOptions) {
    this.log = o.log ?? componentLogger('deployment-controller');
    this.clock = o.clock ?? realClock;
    this.deployments = o.informers.informerFor<Deployment>('deployments');
    this.replicaSets = o.informers.informerFor<ReplicaSet>('replicasets');
    this.pods = o.informers.informerFor<Pod>('pods');
  }

  static fromContext(ctx: LeaderContext): DeploymentController {
    return new DeploymentController({
      api: ctx.api,
      informers: ctx.informers,
      recorder: ctx.recorder('deployment-controller'),
      clock: ctx.clock,
      log: ctx.log('deployment-controller'),
      metrics: ctx.metrics,
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'deployment', clock: this.clock, rateLimiter: new ExponentialBackoff({ baseMs: 200, maxMs: 60_000 }) });
    const deployments = this.deployments!;
    const replicaSets = this.replicaSets!;
    const pods = this.pods!;
    const add = (d: Deployment) => queue.add(keyOf(d));
    deployments.addEventHandler({ onAdd: add, onUpdate: (_, d) => add(d) }, { signal });
    const ownersOf = (rs: ReplicaSet): string[] => {
      const r = controllerRef(rs);
      const ns = rs.metadata.namespace ?? '';
      if (r) return r.kind === 'Deployment' ? [`${ns}/${r.name}`] : [];
      return deployments.byIndex('namespace', ns).filter((d) => selects(d, rs.metadata.labels)).map(keyOf);
    };
    const onRs = (rs: ReplicaSet) => ownersOf(rs).forEach((k) => queue.add(k));
    replicaSets.addEventHandler({ onAdd: onRs, onUpdate: (a, b) => new Set([...ownersOf(a), ...ownersOf(b)]).forEach((k) => queue.add(k)), onDelete: onRs }, { signal });
    // Recreate waits for the old pods to go: their deletion wakes the deployment
    pods.addEventHandler(
      {
        onDelete: (p) => {
          const r = controllerRef(p);
          if (r?.kind !== 'ReplicaSet') return;
          const rs = replicaSets.getByName(p.metadata.namespace ?? '', r.name);
          if (rs) onRs(rs);
        },
      },
      { signal },
    );
    await runController({
      name: 'deployment',
      queue,
      workers: this.o.workers ?? 4,
      signal,
      waitFor: [deployments, replicaSets, pods],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      // a write that lost a race (409) is retried after the back-off with the latest state, without a warning
      reconcile: (key) =>
        this.reconcile(key).catch((e: unknown) => {
          if (toFlotillaError(e).code === 'Conflict') return { requeue: true };
          throw e;
        }),
    });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const i = key.indexOf('/');
    const d = this.deployments?.getByName(key.slice(0, i), key.slice(i + 1));
    if (!d || d.metadata.deletionTimestamp) return;
    const owned = await this.claimReplicaSets(d);
    const template = d.spec.template;
    const wanted = normalizeTemplate(template);
    let newRS = owned.find((rs) => jsonEqual(templateWithoutHash(rs), wanted));
    const olds = () => owned.filter((rs) => rs !== newRS);
    if (newRS) {
      newRS = await this.syncRevision(d, newRS, olds());
      owned.splice(owned.findIndex((rs) => rs.metadata.uid === newRS!.metadata.uid), 1, newRS);
    }
    // a paused deployment is only ever scaled; a scaled one is scaled first and
    // rolled on the next round (as Kubernetes' syncDeployment), so a change of
    // replicas mid-rollout is shared out in proportion, not by the rollout steps
    const sizes = d.spec.paused || isScalingEvent(d, newRS, olds()) ? scaledReplicaSetSizes(d, newRS, olds()) : undefined;
    let created = false;
    if (sizes) {
      await this.applySizes(d, owned, sizes);
    } else if (!d.spec.paused) {
      if (!newRS) {
        const made = await this.createNewReplicaSet(d, owned);
        if (made === 'collision') return { requeue: true };
        newRS = made;
        owned.push(made);
        created = true;
      }
      if (d.spec.strategy?.type === 'Recreate') await this.recreate(d, newRS, olds());
      else await this.rollingUpdate(d, newRS, olds());
    }
    for (const rs of replicaSetsToCleanUp(d, olds())) {
      try {
        await this.o.api.delete({ res: replicaSetKind, namespace: rs.metadata.namespace ?? '', name: rs.metadata.name ?? '' }, { preconditions: { uid: rs.metadata.uid ?? '' } });
      } catch (e) {
        if (!['NotFound', 'Conflict'].includes(toFlotillaError(e).code)) throw e;
      }
    }
    return this.writeStatus(d, newRS, olds(), created);
  }

  /** Adopts matching orphan ReplicaSets, releases owned ones that no longer match; the ones it owns. */
  private async claimReplicaSets(d: Deployment): Promise<ReplicaSet[]> {
    const out: ReplicaSet[] = [];
    for (const rs of this.replicaSets?.byIndex('namespace', d.metadata.namespace ?? '') ?? []) {
      const r = controllerRef(rs);
      const matches = selects(d, rs.metadata.labels);
      if (r) {
        if (r.uid !== d.metadata.uid) continue;
        if (matches || rs.metadata.deletionTimestamp) out.push(rs);
        else await this.patchOwners(rs, (rs.metadata.ownerReferences ?? []).filter((x) => x.uid !== d.metadata.uid));
        continue;
      }
      if (!matches || rs.metadata.deletionTimestamp) continue;
      const adopted = await this.patchOwners(rs, [
        ...(rs.metadata.ownerReferences ?? []),
        { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name ?? '', uid: d.metadata.uid ?? '', controller: true, blockOwnerDeletion: true },
      ]);
      if (adopted) out.push(adopted);
    }
    return out.map((rs) => deepClone(rs));
  }

  private async patchOwners(rs: ReplicaSet, refs: OwnerReference[]): Promise<ReplicaSet | undefined> {
    try {
      return (await this.o.api.patch({ res: replicaSetKind, namespace: rs.metadata.namespace ?? '', name: rs.metadata.name ?? '' }, 'merge', {
        metadata: { resourceVersion: rs.metadata.resourceVersion, ownerReferences: refs.length > 0 ? refs : null },
      })) as ReplicaSet;
    } catch (e) {
      if (['NotFound', 'Conflict'].includes(toFlotillaError(e).code)) return undefined;
      throw e;
    }
  }

  private async createNewReplicaSet(d: Deployment, owned: readonly ReplicaSet[]): Promise<ReplicaSet | 'collision'> {
    const collisionCount = d.status?.collisionCount ?? 0;
    const hash = podTemplateHash(d.spec.template, collisionCount);
    const template = deepClone(d.spec.template);
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash } };
    const revision = owned.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0) + 1;
    const replicas = newReplicaSetReplicas(d, owned, undefined);
    const annotations: Record<string, string> = {
      [DESIRED_REPLICAS]: String(d.spec.replicas ?? 1),
      [MAX_REPLICAS]: String(maxReplicas(d)),
      [REVISION]: String(revision),
    };
    const cause = d.metadata.annotations?.[CHANGE_CAUSE];
    if (cause !== undefined) annotations[CHANGE_CAUSE] = cause;
    const body: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name ?? ''}-${hash}`,
        namespace: d.metadata.namespace,
        labels: { ...(d.spec.template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash },
        annotations,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name ?? '', uid: d.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        replicas: d.spec.strategy?.type === 'Recreate' && owned.some((rs) => (rs.spec.replicas ?? 0) > 0 || (rs.status?.replicas ?? 0) > 0) ? 0 : replicas,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: { ...deepClone(d.spec.selector), matchLabels: { ...(d.spec.selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash } },
        template,
      },
    };
    try {
      const rs = (await this.o.api.create({ res: replicaSetKind, namespace: d.metadata.namespace ?? '' }, body)) as ReplicaSet;
      this.o.recorder.event(ref(d), 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rs.metadata.name ?? ''} to ${rs.spec.replicas ?? 0}`);
      this.log.info({ deployment: keyOf(d), replicaset: rs.metadata.name, revision }, 'new replica set created');
      return rs;
    } catch (e) {
      if (toFlotillaError(e).code !== 'AlreadyExists') throw e;
      // a set of that name that is not ours (or a template whose hash collides): bump collisionCount
      const status = { ...(d.status ?? {}), collisionCount: collisionCount + 1 };
      await this.o.api.update({ res: deploymentKind, namespace: d.metadata.namespace ?? '', name: d.metadata.name ?? '', subresource: 'status' }, { ...d, status });
      return 'collision';
    }
  }

  /** The new set's revision is the highest (a rollback to an old template gives it a new one), its annotations current. */
  private async syncRevision(d: Deployment, rs: ReplicaSet, olds: readonly ReplicaSet[]): Promise<ReplicaSet> {
    const maxOld = olds.reduce((m, x) => Math.max(m, revisionOf(x)), 0);
    const ann = { ...(rs.metadata.annotations ?? {}) };
    if (revisionOf(rs) <= maxOld) ann[REVISION] = String(maxOld + 1);
    const cause = d.metadata.annotations?.[CHANGE_CAUSE];
    if (cause !== undefined) ann[CHANGE_CAUSE] = cause;
    if (jsonEqual(ann, rs.metadata.annotations ?? {}) && (rs.spec.minReadySeconds ?? 0) === (d.spec.minReadySeconds ?? 0)) return rs;
    const next = deepClone(rs);
    next.metadata.annotations = ann;
    next.spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
    return (await this.o.api.update({ res: replicaSetKind, namespace: rs.metadata.namespace ?? '', name: rs.metadata.name ?? '' }, next)) as ReplicaSet;
  }

  private async scaleReplicaSet(d: Deployment, rs: ReplicaSet, n: number): Promise<ReplicaSet> {
    const ann = { ...(rs.metadata.annotations ?? {}), [DESIRED_REPLICAS]: String(d.spec.replicas ?? 1), [MAX_REPLICAS]: String(maxReplicas(d)) };
    if ((rs.spec.replicas ?? 0) === n && jsonEqual(ann, rs.metadata.annotations ?? {})) return rs;
    const next = deepClone(rs);
    const before = rs.spec.replicas ?? 0;
    next.spec.replicas = n;
    next.metadata.annotations = ann;
    const out = (await this.o.api.update({ res: replicaSetKind, namespace: rs.metadata.namespace ?? '', name: rs.metadata.name ?? '' }, next)) as ReplicaSet;
    if (before !== n) {
      this.o.recorder.event(ref(d), 'Normal', 'ScalingReplicaSet', `Scaled ${n > before ? 'up' : 'down'} replica set ${rs.metadata.name ?? ''} from ${before} to ${n}`);
    }
    return out;
  }

  /** Writes the sizes of a scale (each with fresh desired-/max-replicas annotations), in the planned order. */
  private async applySizes(d: Deployment, owned: ReplicaSet[], sizes: ReadonlyMap<string, number>): Promise<void> {
    for (const [name, n] of sizes) {
      const rs = owned.find((x) => x.metadata.name === name);
      if (!rs) continue;
      const scaled = await this.scaleReplicaSet(d, rs, n);
      rs.spec.replicas = scaled.spec.replicas;
      rs.metadata.annotations = scaled.metadata.annotations;
    }
  }

  private async rollingUpdate(d: Deployment, newRS: ReplicaSet, olds: ReplicaSet[]): Promise<void> {
    const all = [newRS, ...olds];
    const want = newReplicaSetReplicas(d, all, newRS);
    if (want !== (newRS.spec.replicas ?? 0)) {
      const scaled = await this.scaleReplicaSet(d, newRS, want);
      newRS.spec.replicas = scaled.spec.replicas;
      return; // one step at a time: the old sets shrink on the next round, with fresh numbers
    }
    const cuts = oldReplicaSetScaleDown(d, newRS, olds);
    for (const rs of olds) {
      const n = cuts.get(rs.metadata.name ?? '');
      if (n !== undefined) await this.scaleReplicaSet(d, rs, n);
    }
  }

  private async recreate(d: Deployment, newRS: ReplicaSet, olds: ReplicaSet[]): Promise<void> {
    for (const rs of olds) if ((rs.spec.replicas ?? 0) > 0) await this.scaleReplicaSet(d, rs, 0);
    // wait until no pod of an old set is left
    const oldUids = new Set(olds.map((rs) => rs.metadata.uid));
    const running = (this.pods?.byIndex('namespace', d.metadata.namespace ?? '') ?? []).some((p) => {
      const r = controllerRef(p);
      return r && oldUids.has(r.uid) && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
    });
    if (running) return;
    await this.scaleReplicaSet(d, newRS, d.spec.replicas ?? 1);
  }

  private async writeStatus(d: Deployment, newRS: ReplicaSet | undefined, olds: ReplicaSet[], created: boolean): Promise<ReconcileResult | void> {
    const nowMs = this.clock.now();
    const now = rfc3339(nowMs);
    const all = newRS ? [newRS, ...olds] : olds;
    const sum = (f: (rs: ReplicaSet) => number) => all.reduce((s, rs) => s + f(rs), 0);
    const replicas = d.spec.replicas ?? 1;
    const availableReplicas = sum((rs) => rs.status?.availableReplicas ?? 0);
    const status: DeploymentStatus = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: sum((rs) => rs.status?.replicas ?? 0),
      updatedReplicas: newRS?.status?.replicas ?? 0,
      readyReplicas: sum((rs) => rs.status?.readyReplicas ?? 0),
      availableReplicas,
      // kube-controller-manager: spec.replicas − available, never negative
      unavailableReplicas: Math.max(0, replicas - availableReplicas),
      ...(d.status?.collisionCount !== undefined ? { collisionCount: d.status.collisionCount } : {}),
    };
    let conds: WorkloadCondition[] = [...(d.status?.conditions ?? [])];
    const set = (c: WorkloadCondition, touch: boolean) => {
      const i = conds.findIndex((x) => x.type === c.type);
      const prev = i >= 0 ? conds[i] : undefined;
      const same = prev && prev.status === c.status && prev.reason === c.reason && prev.message === c.message;
      const next: WorkloadCondition = {
        ...c,
        lastUpdateTime: same && !touch ? (prev.lastUpdateTime ?? now) : now,
        lastTransitionTime: prev && prev.status === c.status ? (prev.lastTransitionTime ?? now) : now,
      };
      if (i >= 0) conds[i] = next;
      else conds.push(next);
    };
    const [, maxUnavailable] = deploymentFenceposts(d);
    if (availableReplicas >= replicas - maxUnavailable) {
      set({ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }, false);
    } else {
      set({ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' }, false);
    }
    const rsName = newRS?.metadata.name ?? '';
    const prev = getCondition(d.status?.conditions, 'Progressing');
    let requeueAfterMs: number | undefined;
    const deadline = d.spec.progressDeadlineSeconds ?? 600;
    if (d.spec.paused) {
      set({ type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' }, false);
    } else if (created) {
      set({ type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', message: `Created new replica set "${rsName}"` }, true);
    } else if (newRS) {
      const complete =
        (status.updatedReplicas ?? 0) === replicas && (status.replicas ?? 0) === replicas && availableReplicas === replicas && olds.every((rs) => (rs.status?.replicas ?? 0) === 0);
      const old = d.status ?? {};
      const progressed =
        (status.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
        (status.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
        availableReplicas > (old.availableReplicas ?? 0) ||
        (status.replicas ?? 0) - (status.updatedReplicas ?? 0) < (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
      if (complete) {
        set({ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rsName}" has successfully progressed.` }, false);
      } else if (!prev || (prev.reason === 'DeploymentPaused' || prev.reason === 'DeploymentResumed')) {
        set({ type: 'Progressing', status: 'True', reason: 'FoundNewReplicaSet', message: `Found new replica set "${rsName}"` }, true);
      } else if (progressed || prev.reason === 'NewReplicaSetAvailable') {
        set({ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.` }, true);
      } else if (prev.reason !== 'ProgressDeadlineExceeded') {
        const since = Date.parse(prev.lastUpdateTime ?? prev.lastTransitionTime ?? now);
        if (since + deadline * 1000 <= nowMs) {
          set({ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.` }, true);
          this.o.recorder.event(ref(d), 'Warning', 'ProgressDeadlineExceeded', `Deployment "${d.metadata.name ?? ''}" has timed out progressing.`);
        } else {
          requeueAfterMs = since + deadline * 1000 - nowMs + 100;
        }
      }
      const cur = conds.find((c) => c.type === 'Progressing');
      if (!complete && cur?.status === 'True' && requeueAfterMs === undefined) requeueAfterMs = deadline * 1000 + 100;
    }
    conds = conds.filter((c) => c.type !== 'ReplicaFailure');
    const failure = newRS?.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
    if (failure) conds.push({ type: 'ReplicaFailure', status: 'True', reason: failure.reason ?? 'FailedCreate', message: failure.message ?? '', lastUpdateTime: now, lastTransitionTime: failure.lastTransitionTime ?? now });
    status.conditions = conds;
    const cur = await this.writeRevisionAnnotation(d, newRS);
    if (!jsonEqual(status, d.status ?? {})) {
      await this.o.api.update({ res: deploymentKind, namespace: d.metadata.namespace ?? '', name: d.metadata.name ?? '', subresource: 'status' }, { ...cur, status });
    }
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }

  /** The deployment's own revision annotation follows its new ReplicaSet's (kubectl rollout history reads the sets). */
  private async writeRevisionAnnotation(d: Deployment, newRS: ReplicaSet | undefined): Promise<Deployment> {
    const rev = newRS?.metadata.annotations?.[REVISION];
    if (!rev || d.metadata.annotations?.[REVISION] === rev) return d;
    return (await this.o.api.patch({ res: deploymentKind, namespace: d.metadata.namespace ?? '', name: d.metadata.name ?? '' }, 'merge', {
      metadata: { resourceVersion: d.metadata.resourceVersion, annotations: { [REVISION]: rev } },
    })) as Deployment;
  }
}
