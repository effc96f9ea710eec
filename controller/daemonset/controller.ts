// The DaemonSet controller (on the leader): one daemon pod per node that
// should run one (daemon-pods.ts), rolled out by revision (history.ts) with
// RollingUpdate or OnDelete, status as Kubernetes reports it (plan.ts).
// reconcile(namespace/name) is level-triggered from the daemonsets, pods,
// nodes and controllerrevisions informers; it reads the cache, decides with
// the pure planners, then writes through the API (validation, compare-and-
// swap). Expectations keep it from acting twice on a cache that has not seen
// its own creates and deletes yet. Pods are created with a required node
// affinity on the node's name and bound by the scheduler, as in Kubernetes.
import {
  componentLogger,
  controllerRevisionKind,
  daemonSetKind,
  jsonEqual,
  podKind,
  realClock,
  toFlotillaError,
  labelSelectorFromObject,
  labelSelectorMatches,
  type Clock,
  type ControllerRevision,
  type DaemonSet,
  type DaemonSetStatus,
  type DeleteOptions,
  type KindDescriptor,
  type KubeObject,
  type Logger,
  type Node,
  type Pod,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { EventRecorder } from '../events/index.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import { ExponentialBackoff, WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import { CONTROLLER_REVISION_HASH, newDaemonPod } from './daemon-pods.js';
import { newRevision, revisionMatches, revisionsToPrune, templateHash } from './history.js';
import { computeStatus, isPodAvailable, isPodReady, planManage, planRollingUpdate, type PodDelete } from './plan.js';

type Target = { res: KindDescriptor; namespace?: string; name?: string; subresource?: string };

/** What the controller writes through: the API's REST semantics (ResourceApi fits). */
export interface DaemonSetApi {
  create(t: Target, body: unknown): Promise<KubeObject>;
  update(t: Target, body: unknown): Promise<KubeObject>;
  patch(t: Target, type: 'merge', patch: unknown): Promise<KubeObject>;
  delete(t: Target, o: DeleteOptions): Promise<unknown>;
  get(t: Target): Promise<KubeObject>;
}

export interface DaemonSetControllerOptions {
  api: DaemonSetApi;
  informers: InformerFactory;
  recorder?: EventRecorder;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  /** DaemonSets reconciled at once. Default 2. */
  workers?: number;
  /** Back-off before a failed daemon pod on the same node is deleted again. Default 1 s doubling to 15 min (Kubernetes). */
  failedPodBackoff?: { baseMs?: number; maxMs?: number };
  /** How long unobserved creates/deletes hold the DaemonSet back. Default 60 s. */
  expectationsTimeoutMs?: number;
}

export const REASON_FAILED_DAEMON_POD = 'FailedDaemonPod';
/** The first batch of creates; each next one doubles (Kubernetes' slow start). */
const SLOW_START_INITIAL_BATCH = 1;

interface Expectation {
  adds: number;
  dels: number;
  atMs: number;
}

function controllerRefOf(o: KubeObject): { kind: string; uid: string; name: string } | undefined {
  const r = o.metadata.ownerReferences?.find((x) => x.controller === true);
  return r ? { kind: r.kind, uid: r.uid, name: r.name } : undefined;
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name ?? ''}`;

function nodeRelevant(a: Node, b: Node): boolean {
  const ready = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return (
    !jsonEqual(a.metadata.labels ?? {}, b.metadata.labels ?? {}) ||
    !jsonEqual(a.spec?.taints ?? [], b.spec?.taints ?? []) ||
    (a.spec?.unschedulable ?? false) !== (b.spec?.unschedulable ?? false) ||
    ready(a) !== ready(b)
  );
}

export class DaemonSetController {
  private readonly log: Logger;
  private readonly clock: Clock;
  private daemonsets!: SharedInformer<DaemonSet>;
  private pods!: SharedInformer<Pod>;
  private nodes!: SharedInformer<Node>;
  private revisions!: SharedInformer<ControllerRevision>;
  private queue!: WorkQueue;
  private readonly expectations = new Map<string, Expectation>();
  private readonly failedBackoff = new Map<string, { delayMs: number; untilMs: number }>();

  constructor(private readonly o: DaemonSetControllerOptions) {
    this.log = o.log ?? componentLogger('daemonset-controller');
    this.clock = o.clock ?? realClock;
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'daemonset', clock: this.clock, rateLimiter: new ExponentialBackoff({ baseMs: 200, maxMs: 60_000 }) });
    this.queue = queue;
    const inf = this.o.informers;
    this.daemonsets = inf.informerFor<DaemonSet>('daemonsets');
    this.pods = inf.informerFor<Pod>('pods');
    this.nodes = inf.informerFor<Node>('nodes');
    this.revisions = inf.informerFor<ControllerRevision>('controllerrevisions');
    const enqueue = (ds: DaemonSet) => queue.add(keyOf(ds));
    const enqueueAll = () => {
      for (const ds of this.daemonsets.list()) enqueue(ds);
    };
    this.daemonsets.addEventHandler(
      {
        onAdd: enqueue,
        onUpdate: (_, ds) => enqueue(ds),
        onDelete: (ds) => {
          this.expectations.delete(keyOf(ds));
          queue.add(keyOf(ds));
        },
      },
      { signal },
    );
    const ownerKey = (o: KubeObject): string | undefined => {
      const ref = controllerRefOf(o);
      if (!ref || ref.kind !== 'DaemonSet') return undefined;
      return `${o.metadata.namespace ?? 'default'}/${ref.name}`;
    };
    const podChanged = (p: Pod) => {
      const k = ownerKey(p);
      if (k) return queue.add(k);
      if (controllerRefOf(p)) return;
      // an orphan: the daemonsets that select it may adopt it
      for (const ds of this.daemonsets.byIndex('namespace', p.metadata.namespace ?? 'default')) {
        if (this.selects(ds, p)) enqueue(ds);
      }
    };
    this.pods.addEventHandler(
      {
        onAdd: (p, initial) => {
          const k = ownerKey(p);
          if (k && !initial) this.observe(k, 'adds');
          podChanged(p);
        },
        onUpdate: (oldP, p) => {
          podChanged(p);
          const k = ownerKey(oldP);
          if (k && k !== ownerKey(p)) queue.add(k);
        },
        onDelete: (p) => {
          const k = ownerKey(p);
          if (k) {
            this.observe(k, 'dels');
            queue.add(k);
          }
        },
      },
      { signal },
    );
    this.nodes.addEventHandler(
      { onAdd: (_, initial) => !initial && enqueueAll(), onUpdate: (a, b) => nodeRelevant(a, b) && enqueueAll(), onDelete: () => enqueueAll() },
      { signal },
    );
    this.revisions.addEventHandler(
      {
        onDelete: (r) => {
          const k = ownerKey(r);
          if (k) queue.add(k);
        },
      },
      { signal },
    );
    await runController({
      name: 'daemonset',
      queue,
      workers: this.o.workers ?? 2,
      signal,
      waitFor: [this.daemonsets, this.pods, this.nodes, this.revisions],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (key) => this.reconcile(key),
    });
  }

  private selects(ds: DaemonSet, p: Pod): boolean {
    try {
      return labelSelectorMatches(labelSelectorFromObject(ds.spec.selector), p.metadata.labels ?? {});
    } catch {
      return false;
    }
  }

  // ------------------------------------------------------------ expectations

  private expect(key: string, adds: number, dels: number): void {
    const e = this.expectations.get(key) ?? { adds: 0, dels: 0, atMs: 0 };
    e.adds += adds;
    e.dels += dels;
    e.atMs = this.clock.now();
    this.expectations.set(key, e);
  }

  private observe(key: string, what: 'adds' | 'dels'): void {
    const e = this.expectations.get(key);
    if (e && e[what] > 0) e[what]--;
  }

  /** Whether the cache has seen every create and delete this controller issued for `key` (or they timed out). */
  private satisfied(key: string): boolean {
    const e = this.expectations.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.dels <= 0) || this.clock.now() - e.atMs > (this.o.expectationsTimeoutMs ?? 60_000)) {
      this.expectations.delete(key);
      return true;
    }
    return false;
  }

  // ------------------------------------------------------------ reconcile

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.daemonsets.get(key);
    if (!cached) {
      this.expectations.delete(key);
      return;
    }
    if (cached.metadata.deletionTimestamp) return;
    const ds = { ...cached, apiVersion: 'apps/v1', kind: 'DaemonSet' } as DaemonSet;
    const nodes = this.nodes.list();
    const pods = await this.claimPods(ds);
    const { hash, old } = await this.history(ds);
    if (hash === undefined) return { requeue: true };
    const now = this.clock.now();
    let requeueAfterMs: number | undefined;
    const later = (ms: number) => (requeueAfterMs = requeueAfterMs === undefined ? ms : Math.min(requeueAfterMs, ms));

    if (this.satisfied(key)) {
      const plan = planManage(ds, nodes, pods, hash);
      const failedDeletes: PodDelete[] = [];
      for (const { pod, node } of plan.failed) {
        const bk = `${key}/${node}`;
        const b = this.failedBackoff.get(bk);
        if (b && now < b.untilMs) {
          later(b.untilMs - now);
          continue;
        }
        const delayMs = b ? Math.min(b.delayMs * 2, this.o.failedPodBackoff?.maxMs ?? 900_000) : (this.o.failedPodBackoff?.baseMs ?? 1000);
        this.failedBackoff.set(bk, { delayMs, untilMs: now + delayMs });
        this.o.recorder?.event(ds, 'Warning', REASON_FAILED_DAEMON_POD, `Found failed daemon pod ${pod.metadata.namespace}/${pod.metadata.name} on node ${node}, will try to kill it`);
        failedDeletes.push({ pod });
      }
      let changed = await this.sync(key, ds, plan.create, [...plan.delete, ...failedDeletes], hash);
      if (!changed && ds.spec.updateStrategy?.type === 'RollingUpdate') {
        const r = planRollingUpdate(ds, nodes, pods, hash, now);
        changed = await this.sync(key, ds, r.create, r.delete.map((pod) => ({ pod })), hash);
      }
      if (!changed) await this.pruneHistory(ds, old, pods);
    }
    await this.writeStatus(ds, nodes, pods, hash, now);
    // pods ready but not yet available for minReadySeconds: look again when they are
    const minReady = ds.spec.minReadySeconds ?? 0;
    if (minReady > 0 && pods.some((p) => isPodReady(p) && !isPodAvailable(p, minReady, now))) later(minReady * 1000);
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }

  /** The DaemonSet's pods: those it controls and still selects, after adopting matching orphans and releasing what it no longer selects. */
  private async claimPods(ds: DaemonSet): Promise<Pod[]> {
    const out: Pod[] = [];
    for (const p of this.pods.byIndex('namespace', ds.metadata.namespace ?? 'default')) {
      const ref = controllerRefOf(p);
      const matches = this.selects(ds, p);
      if (ref) {
        if (ref.uid !== ds.metadata.uid) continue;
        if (matches) {
          out.push(p);
          continue;
        }
        // no longer selected: release it
        await this.patchOwners(p, (p.metadata.ownerReferences ?? []).filter((r) => r.uid !== ds.metadata.uid));
        continue;
      }
      if (!matches || p.metadata.deletionTimestamp) continue;
      const adopted = await this.patchOwners(p, [
        ...(p.metadata.ownerReferences ?? []),
        { apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.metadata.name!, uid: ds.metadata.uid!, controller: true, blockOwnerDeletion: true } as never,
      ]);
      if (adopted) out.push(adopted as Pod);
    }
    return out;
  }

  private async patchOwners(p: Pod, refs: unknown[]): Promise<KubeObject | undefined> {
    try {
      return await this.o.api.patch({ res: podKind, namespace: p.metadata.namespace ?? 'default', name: p.metadata.name ?? '' }, 'merge', {
        metadata: { ownerReferences: refs, resourceVersion: p.metadata.resourceVersion, uid: p.metadata.uid },
      });
    } catch (e) {
      const code = toFlotillaError(e).code;
      if (code === 'NotFound' || code === 'Conflict') return undefined; // looked at again on its next event
      throw e;
    }
  }

  /**
   * The current revision (created, or an old one renumbered after a rollback)
   * and the old ones. Undefined hash: a name collision, counted in
   * status.collisionCount, retried.
   */
  private async history(ds: DaemonSet): Promise<{ hash: string | undefined; old: ControllerRevision[] }> {
    const owned = this.revisions.byIndex('owner', ds.metadata.uid ?? '').filter((r) => controllerRefOf(r)?.uid === ds.metadata.uid);
    const max = owned.reduce((m, r) => Math.max(m, r.revision ?? 0), 0);
    const current = owned.filter((r) => revisionMatches(r, ds)).sort((a, b) => b.revision - a.revision)[0];
    const old = owned.filter((r) => r !== current);
    const ns = ds.metadata.namespace ?? 'default';
    if (current) {
      if (current.revision < max) {
        await this.o.api.update({ res: controllerRevisionKind, namespace: ns, name: current.metadata.name! }, { ...current, revision: max + 1 });
      }
      return { hash: current.metadata.labels?.[CONTROLLER_REVISION_HASH] ?? templateHash(ds.spec.template), old };
    }
    const collisions = ds.status?.collisionCount ?? 0;
    const hash = templateHash(ds.spec.template, collisions);
    const rev = newRevision(ds, hash, max + 1);
    try {
      await this.o.api.create({ res: controllerRevisionKind, namespace: ns }, rev);
      return { hash, old };
    } catch (e) {
      if (toFlotillaError(e).code !== 'AlreadyExists') throw e;
    }
    const existing = (await this.o.api.get({ res: controllerRevisionKind, namespace: ns, name: rev.metadata.name! })) as ControllerRevision;
    if (controllerRefOf(existing)?.uid === ds.metadata.uid && revisionMatches(existing, ds)) return { hash, old }; // our own, not in the cache yet
    // another template hashed alike: count the collision (a new hash next time)
    await this.o.api.update({ res: daemonSetKind, namespace: ns, name: ds.metadata.name!, subresource: 'status' }, {
      ...ds,
      status: { ...(ds.status ?? {}), collisionCount: collisions + 1 },
    });
    return { hash: undefined, old };
  }

  /** Creates pods on `nodes` (growing batches) and deletes `dels`. True when anything was asked for. */
  private async sync(key: string, ds: DaemonSet, nodes: string[], dels: PodDelete[], hash: string): Promise<boolean> {
    if (nodes.length === 0 && dels.length === 0) return false;
    const ns = ds.metadata.namespace ?? 'default';
    this.expect(key, nodes.length, dels.length);
    let firstError: unknown;
    await Promise.all(
      dels.map(async ({ pod, force }) => {
        try {
          await this.o.api.delete(
            { res: podKind, namespace: ns, name: pod.metadata.name ?? '' },
            { preconditions: { ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) }, ...(force ? { gracePeriodSeconds: 0 } : {}) },
          );
          this.o.recorder?.event(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
        } catch (e) {
          this.observe(key, 'dels');
          const err = toFlotillaError(e);
          if (err.code === 'NotFound' || err.code === 'Conflict') return;
          this.o.recorder?.event(ds, 'Warning', 'FailedDelete', `Error deleting: ${err.message}`);
          firstError ??= e;
        }
      }),
    );
    let batch = SLOW_START_INITIAL_BATCH;
    for (let i = 0; i < nodes.length && firstError === undefined; i += batch, batch *= 2) {
      const chunk = nodes.slice(i, i + batch);
      await Promise.all(
        chunk.map(async (node) => {
          try {
            const pod = await this.o.api.create({ res: podKind, namespace: ns }, newDaemonPod(ds, hash, node));
            this.o.recorder?.event(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`);
          } catch (e) {
            this.observe(key, 'adds');
            const err = toFlotillaError(e);
            this.o.recorder?.event(ds, 'Warning', 'FailedCreate', `Error creating: ${err.message}`);
            firstError ??= e;
          }
        }),
      );
      if (firstError !== undefined) {
        // the creates never asked for are not expected either
        for (let k = i + chunk.length; k < nodes.length; k++) this.observe(key, 'adds');
      }
    }
    if (firstError !== undefined) throw firstError;
    return true;
  }

  private async pruneHistory(ds: DaemonSet, old: ControllerRevision[], pods: Pod[]): Promise<void> {
    const live = new Set(pods.map((p) => p.metadata.labels?.[CONTROLLER_REVISION_HASH] ?? ''));
    for (const r of revisionsToPrune(old, ds.spec.revisionHistoryLimit ?? 10, live)) {
      try {
        await this.o.api.delete({ res: controllerRevisionKind, namespace: r.metadata.namespace ?? 'default', name: r.metadata.name! }, { preconditions: { uid: r.metadata.uid! } });
      } catch (e) {
        const code = toFlotillaError(e).code;
        if (code !== 'NotFound' && code !== 'Conflict') throw e;
      }
    }
  }

  private async writeStatus(ds: DaemonSet, nodes: Node[], pods: Pod[], hash: string, now: number): Promise<void> {
    const counts = computeStatus(ds, nodes, pods, hash, now);
    const next: DaemonSetStatus = {
      ...counts,
      ...(ds.metadata.generation !== undefined ? { observedGeneration: ds.metadata.generation } : {}),
      ...(ds.status?.collisionCount !== undefined ? { collisionCount: ds.status.collisionCount } : {}),
      ...(ds.status?.conditions ? { conditions: ds.status.conditions } : {}),
    };
    if (jsonEqual(ds.status ?? {}, next)) return;
    await this.o.api.update({ res: daemonSetKind, namespace: ds.metadata.namespace ?? 'default', name: ds.metadata.name!, subresource: 'status' }, { ...ds, status: next });
  }
}
