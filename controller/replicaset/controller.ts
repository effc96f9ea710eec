// The replicaset controller (on the leader): keeps `spec.replicas` pods that
// match each ReplicaSet's selector. reconcile(namespace/name) claims pods
// (adopts matching orphans with a controller ownerReference, releases owned
// pods that no longer match), creates missing pods in slow-start batches
// (1, 2, 4, …) from the template with generateName `<rs>-`, deletes surplus
// pods least valuable first (plan.ts), and writes status (replicas,
// fullyLabeledReplicas, readyReplicas, availableReplicas with minReadySeconds,
// observedGeneration, the ReplicaFailure condition) through the status
// subresource. Expectations keep it from counting again while its own creates
// and deletes are in flight. A create refused by the API (4xx) is an event
// FailedCreate plus the condition, and the key backs off — never a hot loop.
import {
  componentLogger,
  deepClone,
  getCondition,
  jsonEqual,
  labelSelectorFromObject,
  labelSelectorMatches,
  podKind,
  realClock,
  replicaSetKind,
  rfc3339,
  setCondition,
  toFlotillaError,
  type Clock,
  type KubeObject,
  type Logger,
  type OwnerReference,
  type Pod,
  type ReplicaSet,
  type ReplicaSetStatus,
  type WorkloadCondition,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { EventRecorder } from '../events/index.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import type { LeaderContext } from '../leader-context.js';
import { ExponentialBackoff, WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import { Expectations } from './expectations.js';
import { availableAtMs, isActivePod, isPodAvailable, isPodReady, podsToDelete, replicaSetCounts, slowStartBatchSizes } from './plan.js';

export interface ReplicaSetControllerOptions {
  api: LeaderContext['api'];
  informers: InformerFactory;
  recorder: EventRecorder;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  workers?: number;
  /** Most pods created or deleted in one reconcile (Kubernetes' burstReplicas). Default 500. */
  burst?: number;
}

const controllerRef = (o: KubeObject): OwnerReference | undefined => o.metadata.ownerReferences?.find((r) => r.controller === true);
const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

function selectorMatches(rs: ReplicaSet, labels: Record<string, string> | undefined): boolean {
  try {
    return labelSelectorMatches(labelSelectorFromObject(rs.spec.selector), labels ?? {});
  } catch {
    return false;
  }
}

/** The pod a ReplicaSet creates: its template, its labels, a controller reference to it. */
export function podFromTemplate(rs: ReplicaSet): Pod {
  const t = deepClone(rs.spec.template);
  const name = rs.metadata.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${name.slice(0, 57)}-`,
      namespace: rs.metadata.namespace,
      ...(t.metadata?.labels ? { labels: t.metadata.labels } : {}),
      ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: rs.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: t.spec,
  } as Pod;
}

export class ReplicaSetController {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly expectations: Expectations;
  private rsInformer: SharedInformer<ReplicaSet> | undefined;
  private podInformer: SharedInformer<Pod> | undefined;

  constructor(private readonly o: ReplicaSetControllerOptions) {
    this.log = o.log ?? componentLogger('replicaset-controller');
    this.clock = o.clock ?? realClock;
    this.expectations = new Expectations(this.clock);
    this.rsInformer = o.informers.informerFor<ReplicaSet>('replicasets');
    this.podInformer = o.informers.informerFor<Pod>('pods');
  }

  static fromContext(ctx: LeaderContext): ReplicaSetController {
    return new ReplicaSetController({
      api: ctx.api,
      informers: ctx.informers,
      recorder: ctx.recorder('replicaset-controller'),
      clock: ctx.clock,
      log: ctx.log('replicaset-controller'),
      metrics: ctx.metrics,
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'replicaset', clock: this.clock, rateLimiter: new ExponentialBackoff({ baseMs: 200, maxMs: 60_000 }) });
    const rss = this.rsInformer!;
    const pods = this.podInformer!;
    const enqueueRs = (rs: ReplicaSet) => queue.add(keyOf(rs));
    rss.addEventHandler({ onAdd: enqueueRs, onUpdate: (_, rs) => enqueueRs(rs), onDelete: (rs) => { this.expectations.forget(keyOf(rs)); } }, { signal });
    // a pod's owner (or, for an orphan, every ReplicaSet that would adopt it)
    const ownersOf = (p: Pod): string[] => {
      const ref = controllerRef(p);
      const ns = p.metadata.namespace ?? '';
      if (ref) return ref.kind === 'ReplicaSet' ? [`${ns}/${ref.name}`] : [];
      return rss
        .byIndex('namespace', ns)
        .filter((rs) => selectorMatches(rs, p.metadata.labels))
        .map(keyOf);
    };
    pods.addEventHandler(
      {
        onAdd: (p, initial) => {
          const ref = controllerRef(p);
          if (!initial && ref?.kind === 'ReplicaSet') this.expectations.creationObserved(`${p.metadata.namespace ?? ''}/${ref.name}`);
          for (const k of ownersOf(p)) queue.add(k);
        },
        onUpdate: (old, p) => {
          const keys = new Set([...ownersOf(old), ...ownersOf(p)]);
          if (p.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) {
            for (const k of keys) this.expectations.deletionObserved(k, keyOf(p));
          }
          for (const k of keys) queue.add(k);
        },
        onDelete: (p) => {
          for (const k of ownersOf(p)) {
            this.expectations.deletionObserved(k, keyOf(p));
            queue.add(k);
          }
        },
      },
      { signal },
    );
    await runController({
      name: 'replicaset',
      queue,
      workers: this.o.workers ?? 4,
      signal,
      waitFor: [rss, pods],
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
    const [namespace, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
    const rs = this.rsInformer?.getByName(namespace, name);
    if (!rs) {
      this.expectations.forget(key);
      return;
    }
    const nsPods = this.podInformer?.byIndex('namespace', namespace) ?? [];
    const owned = await this.claimPods(rs, nsPods);
    const active = owned.filter(isActivePod);
    let createError: string | undefined;
    let requeue = false;
    if (this.expectations.satisfied(key) && !rs.metadata.deletionTimestamp) {
      const want = rs.spec.replicas ?? 1;
      const diff = active.length - want;
      const burst = this.o.burst ?? 500;
      if (diff < 0) {
        createError = await this.createPods(rs, key, Math.min(-diff, burst));
        if (createError) requeue = true;
      } else if (diff > 0) {
        await this.deletePods(rs, key, podsToDelete(active, Math.min(diff, burst)));
      }
    }
    await this.writeStatus(rs, active, createError);
    if (requeue) return { requeue: true };
    // a ready pod becomes available after minReadySeconds: look again then
    const mrs = rs.spec.minReadySeconds ?? 0;
    if (mrs > 0) {
      const now = this.clock.now();
      const next = active
        .filter((p) => isPodReady(p) && !isPodAvailable(p, mrs, now))
        .map((p) => availableAtMs(p, mrs) ?? now)
        .reduce((a, b) => Math.min(a, b), Infinity);
      if (next !== Infinity) return { requeueAfterMs: Math.max(50, next - now + 50) };
    }
  }

  /** Adopts matching orphans, releases owned pods that no longer match; returns the pods it owns. */
  private async claimPods(rs: ReplicaSet, pods: readonly Pod[]): Promise<Pod[]> {
    const out: Pod[] = [];
    const uid = rs.metadata.uid;
    for (const p of pods) {
      const ref = controllerRef(p);
      const matches = selectorMatches(rs, p.metadata.labels);
      if (ref) {
        if (ref.uid !== uid) continue;
        if (matches || p.metadata.deletionTimestamp) {
          out.push(p);
          continue;
        }
        await this.patchOwners(p, (p.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid), 'released');
        continue;
      }
      if (!matches || p.metadata.deletionTimestamp || rs.metadata.deletionTimestamp || isTerminalPhaseOrGone(p)) continue;
      const refs: OwnerReference[] = [
        ...(p.metadata.ownerReferences ?? []),
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name ?? '', uid: uid ?? '', controller: true, blockOwnerDeletion: true },
      ];
      const adopted = await this.patchOwners(p, refs, 'adopted');
      if (adopted) out.push(adopted);
    }
    return out;
  }

  private async patchOwners(p: Pod, refs: OwnerReference[], what: string): Promise<Pod | undefined> {
    try {
      const next = (await this.o.api.patch(
        { res: podKind, namespace: p.metadata.namespace ?? '', name: p.metadata.name ?? '' },
        'merge',
        { metadata: { resourceVersion: p.metadata.resourceVersion, ownerReferences: refs.length > 0 ? refs : null } },
      )) as Pod;
      this.log.info({ pod: keyOf(p) }, `pod ${what}`);
      return next;
    } catch (e) {
      const code = toFlotillaError(e).code;
      if (code === 'NotFound' || code === 'Conflict') return undefined; // the next reconcile sees the latest
      throw e;
    }
  }

  /** Creates `n` pods in slow-start batches; returns the first error's message (creation stops there). */
  private async createPods(rs: ReplicaSet, key: string, n: number): Promise<string | undefined> {
    this.expectations.expectCreations(key, n);
    let sent = 0;
    for (const size of slowStartBatchSizes(n)) {
      const results = await Promise.allSettled(Array.from({ length: size }, () => this.o.api.create({ res: podKind, namespace: rs.metadata.namespace ?? '' }, podFromTemplate(rs))));
      sent += size;
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      for (let i = 0; i < failed.length; i++) this.expectations.creationObserved(key);
      const ok = results.length - failed.length;
      if (ok > 0) this.log.debug({ replicaset: key, created: ok }, 'pods created');
      for (const r of results) {
        if (r.status === 'fulfilled') this.o.recorder.event(rsRef(rs), 'Normal', 'SuccessfulCreate', `Created pod: ${r.value.metadata.name ?? ''}`);
      }
      if (failed.length > 0) {
        // the rest of this round is skipped: expect none of it
        for (let i = sent; i < n; i++) this.expectations.creationObserved(key);
        const msg = toFlotillaError(failed[0]!.reason).message;
        this.o.recorder.event(rsRef(rs), 'Warning', 'FailedCreate', `Error creating: ${msg}`);
        this.log.warn({ replicaset: key, err: msg }, 'pod creation failed');
        return msg;
      }
    }
    return undefined;
  }

  private async deletePods(rs: ReplicaSet, key: string, victims: Pod[]): Promise<void> {
    this.expectations.expectDeletions(key, victims.map(keyOf));
    await Promise.all(
      victims.map(async (p) => {
        try {
          await this.o.api.delete({ res: podKind, namespace: p.metadata.namespace ?? '', name: p.metadata.name ?? '' }, { preconditions: { ...(p.metadata.uid ? { uid: p.metadata.uid } : {}) } });
          this.o.recorder.event(rsRef(rs), 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name ?? ''}`);
        } catch (e) {
          this.expectations.deletionObserved(key, keyOf(p));
          const err = toFlotillaError(e);
          if (err.code === 'NotFound' || err.code === 'Conflict') return;
          this.o.recorder.event(rsRef(rs), 'Warning', 'FailedDelete', `Error deleting: ${err.message}`);
          throw e;
        }
      }),
    );
  }

  private async writeStatus(rs: ReplicaSet, active: Pod[], createError: string | undefined): Promise<void> {
    const now = rfc3339(this.clock.now());
    const counts = replicaSetCounts(rs, active, this.clock.now());
    let conditions: WorkloadCondition[] | undefined = rs.status?.conditions;
    const failure = getCondition(conditions, 'ReplicaFailure');
    if (createError) {
      conditions = setCondition(conditions, { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: createError }, now);
    } else if (failure && active.length >= (rs.spec.replicas ?? 1)) {
      conditions = (conditions ?? []).filter((c) => c.type !== 'ReplicaFailure');
    }
    const status: ReplicaSetStatus = {
      ...counts,
      observedGeneration: rs.metadata.generation ?? 1,
      ...(conditions && conditions.length > 0 ? { conditions } : {}),
    };
    const prev = rs.status ?? { replicas: 0 };
    const norm = (s: ReplicaSetStatus) => ({ ...s, fullyLabeledReplicas: s.fullyLabeledReplicas ?? 0, readyReplicas: s.readyReplicas ?? 0, availableReplicas: s.availableReplicas ?? 0 });
    if (jsonEqual(norm(prev as ReplicaSetStatus), norm(status))) return;
    try {
      await this.o.api.update(
        { res: replicaSetKind, namespace: rs.metadata.namespace ?? '', name: rs.metadata.name ?? '', subresource: 'status' },
        { ...rs, status },
      );
    } catch (e) {
      const code = toFlotillaError(e).code;
      if (code === 'NotFound') return;
      throw e; // a conflict: the informer brings the latest, the retry writes again
    }
  }
}

function isTerminalPhaseOrGone(p: Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

function rsRef(rs: ReplicaSet): KubeObject {
  return { ...rs, apiVersion: 'apps/v1', kind: 'ReplicaSet' };
}
