// The disruption controller (runs on the leader): keeps each
// PodDisruptionBudget's status — expectedPods, desiredHealthy, currentHealthy,
// disruptionsAllowed, the DisruptionAllowed condition, observedGeneration —
// from the pods its selector matches, and forgets the pods in
// status.disruptedPods (evictions the eviction subresource granted) once they
// are being deleted, gone, or two minutes old. Level-triggered from the PDB and
// pod informers; status written with compare-and-swap.
import {
  NotFoundError,
  budgetStatus,
  labelSelectorFromObject,
  labelSelectorMatches,
  rfc3339,
  type Clock,
  type Logger,
  type OwnerReference,
  type Pod,
  type PodDisruptionBudget,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import { WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import type { Store } from '../storage/store.js';

/** How long an eviction granted but not yet seen as a deletion keeps its disruption taken (Kubernetes: 2 min). */
export const DISRUPTED_POD_TIMEOUT_MS = 120_000;

export interface DisruptionControllerOptions {
  store: Store;
  informers: InformerFactory;
  clock: Clock;
  log: Logger;
  metrics?: MetricsRegistry;
  workers?: number;
}

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
const isReady = (p: Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const selects = (b: PodDisruptionBudget, p: Pod) => !!b.spec?.selector && labelSelectorMatches(labelSelectorFromObject(b.spec.selector), p.metadata.labels ?? {});

export class DisruptionController {
  private pdbs: SharedInformer<PodDisruptionBudget> | undefined;
  private pods: SharedInformer<Pod> | undefined;

  constructor(private readonly o: DisruptionControllerOptions) {}

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'disruption', clock: this.o.clock });
    const pdbs = this.o.informers.informerFor<PodDisruptionBudget>('poddisruptionbudgets');
    const pods = this.o.informers.informerFor<Pod>('pods');
    this.pdbs = pdbs;
    this.pods = pods;
    const enqueue = (b: PodDisruptionBudget) => queue.add(keyOf(b));
    pdbs.addEventHandler({ onAdd: enqueue, onUpdate: (_, b) => enqueue(b) }, { signal });
    const forPod = (p: Pod) => {
      for (const b of pdbs.byIndex('namespace', p.metadata.namespace ?? '')) if (selects(b, p)) enqueue(b);
    };
    pods.addEventHandler({ onAdd: forPod, onUpdate: (old, p) => (forPod(old), forPod(p)), onDelete: forPod }, { signal });
    await runController({
      name: 'disruption',
      queue,
      workers: this.o.workers ?? 2,
      signal,
      waitFor: [pdbs, pods],
      log: this.o.log,
      clock: this.o.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (key) => this.reconcile(key),
    });
  }

  /**
   * The replicas the pods' controllers want (a ReplicaSet of a Deployment: the
   * Deployment's), as Kubernetes' getExpectedScale: a pod without a controller,
   * or whose controller has no scale (a DaemonSet, a Job), makes the count
   * unknowable, an error naming the pod.
   */
  private async scaleOf(pods: Pod[]): Promise<number | { error: string }> {
    const seen = new Map<string, number>();
    const replicasOf = async (resource: string, ns: string, name: string): Promise<{ replicas: number; owner?: OwnerReference } | undefined> => {
      try {
        const o = await this.o.store.get<{ metadata: { ownerReferences?: OwnerReference[] }; spec?: { replicas?: number } } & Pod>({ resource, namespace: ns, name } as never);
        return { replicas: o.spec?.replicas ?? 1, ...(o.metadata.ownerReferences?.find((r) => r.controller) ? { owner: o.metadata.ownerReferences.find((r) => r.controller)! } : {}) };
      } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }
    };
    for (const p of pods) {
      const ref = p.metadata.ownerReferences?.find((r) => r.controller);
      const ns = p.metadata.namespace ?? '';
      if (!ref) return { error: `found no controller ref for pod ${JSON.stringify(p.metadata.name ?? '')}` };
      const k = `${ref.kind}/${ns}/${ref.name}`;
      if (seen.has(k)) continue;
      let found: { replicas: number; owner?: OwnerReference } | undefined;
      if (ref.kind === 'ReplicaSet') {
        found = await replicasOf('replicasets', ns, ref.name);
        if (found?.owner?.kind === 'Deployment') {
          const dk = `Deployment/${ns}/${found.owner.name}`;
          seen.set(k, 0);
          if (!seen.has(dk)) seen.set(dk, (await replicasOf('deployments', ns, found.owner.name))?.replicas ?? found.replicas);
          continue;
        }
      } else if (ref.kind === 'StatefulSet' || ref.kind === 'ReplicationController') {
        found = await replicasOf(ref.kind === 'StatefulSet' ? 'statefulsets' : 'replicationcontrollers', ns, ref.name);
      }
      if (!found) return { error: `found no controllers for pod ${JSON.stringify(p.metadata.name ?? '')}` };
      seen.set(k, found.replicas);
    }
    return [...seen.values()].reduce((a, b) => a + b, 0);
  }

  /** Whether SPEC needs the controllers' scale (maxUnavailable, or minAvailable as a percentage), as Kubernetes' getExpectedPodCount. */
  private static needsScale(spec: PodDisruptionBudget['spec']): boolean {
    if (spec?.maxUnavailable !== undefined && spec.maxUnavailable !== null) return true;
    return typeof spec?.minAvailable === 'string';
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const i = key.indexOf('/');
    const ns = key.slice(0, i);
    const name = key.slice(i + 1);
    const pdb = this.pdbs?.getByName(ns, name);
    if (!pdb || pdb.metadata.deletionTimestamp) return;
    const now = this.o.clock.now();
    const pods = (this.pods?.byIndex('namespace', ns) ?? []).filter((p) => selects(pdb, p));
    const byName = new Map(pods.map((p) => [p.metadata.name ?? '', p]));
    // evictions granted: kept until the pod is seen going, or they time out
    const disrupted: Record<string, string> = {};
    let nextExpiry: number | undefined;
    for (const [pod, at] of Object.entries(pdb.status?.disruptedPods ?? {})) {
      const p = byName.get(pod);
      const t = Date.parse(at);
      if (!p || p.metadata.deletionTimestamp || Number.isNaN(t) || t + DISRUPTED_POD_TIMEOUT_MS <= now) continue;
      disrupted[pod] = at;
      nextExpiry = Math.min(nextExpiry ?? Infinity, t + DISRUPTED_POD_TIMEOUT_MS);
    }
    const live = pods.filter((p) => !p.metadata.deletionTimestamp);
    const healthy = live.filter((p) => isReady(p) && !(p.metadata.name! in disrupted)).length;
    const scale = DisruptionController.needsScale(pdb.spec) ? await this.scaleOf(live) : live.length;
    // The expected count cannot be known: fail safe, as Kubernetes does — no
    // disruption allowed, the other counts left as they were, SyncFailed naming why.
    const failed = typeof scale === 'number' ? undefined : scale.error;
    const counts = failed === undefined
      ? budgetStatus(pdb.spec ?? {}, { pods: live.length, scale: scale as number, healthy })
      : { expectedPods: pdb.status?.expectedPods ?? 0, desiredHealthy: pdb.status?.desiredHealthy ?? 0, currentHealthy: pdb.status?.currentHealthy ?? 0, disruptionsAllowed: 0 };
    const allowed = counts.disruptionsAllowed > 0;
    const prevCond = pdb.status?.conditions?.find((c) => c.type === 'DisruptionAllowed');
    const condStatus = allowed ? 'True' : 'False';
    const cond = {
      type: 'DisruptionAllowed',
      status: condStatus as 'True' | 'False',
      reason: failed !== undefined ? 'SyncFailed' : allowed ? 'SufficientPods' : 'InsufficientPods',
      message: failed ?? '',
      observedGeneration: pdb.metadata.generation ?? 1,
      lastTransitionTime: prevCond?.status === condStatus && prevCond.lastTransitionTime ? prevCond.lastTransitionTime : rfc3339(now),
    };
    const status = {
      ...counts,
      observedGeneration: pdb.metadata.generation ?? 1,
      ...(Object.keys(disrupted).length > 0 ? { disruptedPods: disrupted } : {}),
      conditions: [cond],
    };
    if (JSON.stringify(status) !== JSON.stringify(pdb.status)) {
      try {
        await this.o.store.guaranteedUpdate<PodDisruptionBudget>({ resource: 'poddisruptionbudgets', namespace: ns, name }, (cur) => {
          if (cur.metadata.uid !== pdb.metadata.uid) return cur;
          // evictions granted since the read stay recorded (and their disruption taken)
          const extra = Object.entries(cur.status?.disruptedPods ?? {}).filter(([p]) => !(p in disrupted) && !(pdb.status?.disruptedPods ?? {})[p]);
          if (extra.length > 0) return cur; // the eviction's own write comes back here as an event
          return { ...cur, status };
        }, { cached: pdb });
      } catch (e) {
        if (e instanceof NotFoundError) return;
        throw e;
      }
      this.o.log.debug({ pdb: key, ...counts }, 'disruption budget status updated');
    }
    return nextExpiry === undefined ? undefined : { requeueAfterMs: Math.max(0, nextExpiry - now) + 50 };
  }
}
