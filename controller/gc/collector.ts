// The garbage collector (on the leader), with Kubernetes' semantics for
// metadata.ownerReferences:
// - a dependent all of whose owners are gone is deleted (Background, unless it
//   carries a propagation finalizer of its own); "gone" is confirmed by a live
//   read of the owner, by uid — the cache alone never decides a delete;
// - a dependent with some owner left loses only the references that dangle;
// - a namespaced owner is looked for in its dependent's namespace (found in
//   another one, the reference is invalid: a Warning event
//   OwnerRefInvalidNamespace, and the owner counts as absent); a cluster-scoped
//   dependent naming a namespaced kind has an unresolvable reference: the event,
//   and it is never collected (Kubernetes 1.20+);
// - Foreground: an owner being deleted with the `foregroundDeletion` finalizer
//   gets its dependents deleted (those that have dependents of their own, in the
//   foreground too); once no dependent with blockOwnerDeletion is left, the
//   finalizer is removed and the API removes the owner;
// - Orphan: an owner being deleted with the `orphan` finalizer is removed from
//   its dependents' ownerReferences, then the finalizer is removed.
// Informers on every registered kind (events excepted) feed a dependency graph
// keyed by uid; work items go through one queue as `reconcile(key)`; writes go
// through the API (delete, merge patch pinned to the resourceVersion read) so
// validation and compare-and-swap apply.
import {
  NotFoundError,
  REGISTRY,
  componentLogger,
  realClock,
  toFlotillaError,
  type Clock,
  type DeleteOptions,
  type KindDescriptor,
  type KindRegistry,
  type KubeObject,
  type Logger,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { EventRecorder } from '../events/index.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import { WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import type { Store } from '../storage/store.js';
import { DependencyGraph, type Identity, type OwnerRef } from './graph.js';

export const FOREGROUND_DELETION = 'foregroundDeletion';
export const ORPHAN = 'orphan';
export const REASON_OWNER_REF_INVALID_NAMESPACE = 'OwnerRefInvalidNamespace';

type Target = { res: KindDescriptor; namespace?: string; name?: string };

/** What the collector writes through: the API's REST semantics (ResourceApi fits). */
export interface GarbageCollectorApi {
  delete(target: Target, options: DeleteOptions): Promise<unknown>;
  patch(target: Target, type: 'merge', patch: unknown): Promise<unknown>;
}

export interface GarbageCollectorOptions {
  api: GarbageCollectorApi;
  /** Live reads that confirm what the caches suggest. */
  store: Store;
  informers: InformerFactory;
  /** Records OwnerRefInvalidNamespace. */
  recorder?: EventRecorder;
  /** Default: the kinds Flotilla serves. */
  registry?: KindRegistry;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  /** Items worked on at once. Default 4. */
  workers?: number;
}

const SEP = '\t';
/** `attempt to delete` a dependent, or `process` an owner being deleted with a propagation finalizer. */
type Work = 'dependent' | 'owner';

const NO_REFS: readonly OwnerRef[] = Object.freeze([]);
const hasFinalizer = (o: KubeObject, f: string) => o.metadata.finalizers?.includes(f) === true;
const deletingDependents = (o: KubeObject) => !!o.metadata.deletionTimestamp && hasFinalizer(o, FOREGROUND_DELETION);

export class GarbageCollector {
  readonly graph = new DependencyGraph();
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly registry: KindRegistry;
  private readonly informers = new Map<string, SharedInformer<KubeObject>>();
  private readonly queue: WorkQueue;
  /** Invalid references already reported, by `dependent uid/owner uid` (bounded). */
  private readonly reported = new Set<string>();

  constructor(private readonly o: GarbageCollectorOptions) {
    this.log = o.log ?? componentLogger('garbage-collector');
    this.clock = o.clock ?? realClock;
    this.registry = o.registry ?? REGISTRY;
    this.queue = new WorkQueue({ name: 'garbage-collector', clock: this.clock });
  }

  /** The kinds watched: every registered kind but events (which own nothing and are many). */
  private kinds(): KindDescriptor[] {
    return this.registry.all().filter((k) => k.plural !== 'events');
  }

  async run(signal: AbortSignal): Promise<void> {
    for (const kind of this.kinds()) {
      const inf = this.o.informers.informerFor<KubeObject>(kind);
      this.informers.set(kind.plural, inf);
      inf.addEventHandler(
        {
          onAdd: (obj) => this.observe(kind, obj),
          onUpdate: (_, obj) => this.observe(kind, obj),
          onDelete: (obj) => this.forget(kind, obj),
        },
        { signal },
      );
    }
    await runController({
      name: 'garbage-collector',
      queue: this.queue,
      workers: this.o.workers ?? 4,
      signal,
      // The graph is only complete once every kind is listed: no decision before.
      waitFor: [...this.informers.values()],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (key) => this.reconcile(key),
    });
  }

  // ------------------------------------------------------------ informers → graph → queue

  private key(work: Work, id: Identity): string {
    return [work, id.kind.plural, id.namespace ?? '', id.name, id.uid].join(SEP);
  }

  private identityOf(kind: KindDescriptor, obj: KubeObject): Identity | undefined {
    const uid = obj.metadata.uid;
    if (!uid) return undefined;
    return { kind, ...(kind.namespaced && obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}), name: obj.metadata.name ?? '', uid };
  }

  /** Where an owner reference of a dependent in `namespace` points: the owner's kind and namespace. */
  private ownerIdentity(ref: OwnerRef, namespace: string | undefined): Identity | undefined {
    const kind = this.registry.forKind(ref.apiVersion, ref.kind);
    if (!kind) return undefined;
    return { kind, ...(kind.namespaced && namespace ? { namespace } : {}), name: ref.name, uid: ref.uid };
  }

  /** The owner as the cache has it (same uid), or undefined. */
  private cachedOwner(owner: Identity): KubeObject | undefined {
    const o = this.informers.get(owner.kind.plural)?.getByName(owner.namespace, owner.name);
    return o && o.metadata.uid === owner.uid ? o : undefined;
  }

  private observe(kind: KindDescriptor, obj: KubeObject): void {
    const uid = obj.metadata.uid;
    if (!uid) return;
    const refs = (obj.metadata.ownerReferences ?? NO_REFS) as readonly OwnerRef[];
    const before = this.graph.refsOf(uid);
    const terminating = !!obj.metadata.deletionTimestamp;
    // Most objects have no owners and are not being deleted: nothing to do, nothing allocated.
    if (refs.length === 0 && before.length === 0 && !terminating) return;
    const id = this.identityOf(kind, obj)!;
    if (refs.length > 0 || before.length > 0) {
      this.graph.set(id, refs);
      // An owner waiting for its blocking dependents may be free now (a reference dropped or unblocked).
      for (const r of before) this.wakeOwner(r, id.namespace);
      if (refs.length > 0 && this.needsAttention(id, refs)) this.queue.add(this.key('dependent', id));
    }
    if (terminating && (hasFinalizer(obj, FOREGROUND_DELETION) || hasFinalizer(obj, ORPHAN))) {
      this.queue.add(this.key('owner', id));
    }
  }

  private forget(kind: KindDescriptor, obj: KubeObject): void {
    const uid = obj.metadata.uid;
    if (!uid) return;
    const namespace = kind.namespaced ? obj.metadata.namespace : undefined;
    for (const r of this.graph.remove(uid)) this.wakeOwner(r, namespace);
    // An owner went: each of its dependents may have lost its last owner.
    for (const dep of this.graph.dependentsOf(uid)) this.queue.add(this.key('dependent', dep));
  }

  private wakeOwner(ref: OwnerRef, namespace: string | undefined): void {
    const owner = this.ownerIdentity(ref, namespace);
    if (!owner) return;
    const cached = this.cachedOwner(owner);
    if (cached && deletingDependents(cached)) this.queue.add(this.key('owner', owner));
  }

  /** Whether the cache suggests something to do: an owner missing, being deleted in the foreground, or a bad reference. */
  private needsAttention(dep: Identity, refs: readonly OwnerRef[]): boolean {
    for (const r of refs) {
      const owner = this.ownerIdentity(r, dep.namespace);
      if (!owner) continue; // a kind this server does not serve: nothing to decide on
      if (owner.kind.namespaced && dep.namespace === undefined) return true;
      const cached = this.cachedOwner(owner);
      if (!cached || deletingDependents(cached)) return true;
    }
    return false;
  }

  // ------------------------------------------------------------ reconcile

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [work, plural, namespace, name, uid] = key.split(SEP) as [Work, string, string, string, string];
    const kind = this.kinds().find((k) => k.plural === plural);
    if (!kind) return;
    const id: Identity = { kind, ...(namespace ? { namespace } : {}), name, uid };
    const live = await this.liveGet(id);
    if (!live) return; // gone, or another object of that name now
    if (work === 'owner') return this.processOwner(id, live);
    return this.attemptToDelete(id, live);
  }

  /** The object now, if it is still the one with `id.uid`. */
  private async liveGet(id: Identity): Promise<KubeObject | undefined> {
    try {
      const o = await this.o.store.get<KubeObject>({ resource: id.kind.plural, ...(id.namespace ? { namespace: id.namespace } : {}), name: id.name });
      return o.metadata.uid === id.uid ? o : undefined;
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  private target(id: Identity): Target {
    return { res: id.kind, ...(id.namespace ? { namespace: id.namespace } : {}), name: id.name };
  }

  /** A dependent: delete it if every owner is gone, or drop the references that dangle. */
  private async attemptToDelete(id: Identity, dep: KubeObject): Promise<void> {
    if (dep.metadata.deletionTimestamp) {
      // Being deleted already; in the foreground it waits for its own dependents.
      if (deletingDependents(dep)) this.queue.add(this.key('owner', id));
      return;
    }
    const refs = (dep.metadata.ownerReferences ?? []) as readonly OwnerRef[];
    if (refs.length === 0) return;
    const solid: OwnerRef[] = [];
    const dangling: OwnerRef[] = [];
    const waiting: OwnerRef[] = [];
    for (const r of refs) {
      const owner = this.ownerIdentity(r, id.namespace);
      if (!owner) {
        // A kind this server does not serve (yet): never collect on its account.
        solid.push(r);
        continue;
      }
      if (owner.kind.namespaced && id.namespace === undefined) {
        // A cluster-scoped object cannot name a namespaced owner: there is nowhere to look.
        this.reportInvalid(id, dep, r, '');
        return;
      }
      const cached = this.cachedOwner(owner);
      const found = cached && !deletingDependents(cached) ? cached : await this.liveGet(owner);
      if (!found) {
        dangling.push(r);
        if (owner.namespace !== undefined && this.existsInOtherNamespace(owner)) this.reportInvalid(id, dep, r, owner.namespace);
      } else if (deletingDependents(found)) waiting.push(r);
      else solid.push(r);
    }
    if (solid.length > 0) {
      if (dangling.length === 0 && waiting.length === 0) return;
      const drop = new Set([...dangling, ...waiting].map((r) => r.uid));
      await this.setOwnerReferences(id, dep, refs.filter((r) => !drop.has(r.uid)));
      this.log.info({ object: this.describe(id), removed: [...drop] }, 'removed owner references that dangle or wait for this object');
      return;
    }
    if (waiting.length > 0 && this.graph.hasDependents(id.uid)) {
      // Its owner waits in the foreground, and it has dependents of its own: in the foreground too.
      await this.deleteObject(id, 'Foreground');
      return;
    }
    const policy = hasFinalizer(dep, ORPHAN) ? 'Orphan' : hasFinalizer(dep, FOREGROUND_DELETION) ? 'Foreground' : 'Background';
    await this.deleteObject(id, policy);
  }

  /** An owner being deleted with a propagation finalizer. */
  private async processOwner(id: Identity, owner: KubeObject): Promise<ReconcileResult | void> {
    if (!owner.metadata.deletionTimestamp) return;
    if (hasFinalizer(owner, ORPHAN)) {
      for (const dep of this.graph.dependentsOf(id.uid)) {
        const cur = await this.liveGet(dep);
        if (!cur) continue;
        const refs = (cur.metadata.ownerReferences ?? []) as readonly OwnerRef[];
        if (!refs.some((r) => r.uid === id.uid)) continue;
        await this.setOwnerReferences(dep, cur, refs.filter((r) => r.uid !== id.uid));
      }
      await this.removeFinalizer(id, owner, ORPHAN);
      this.log.info({ object: this.describe(id) }, 'orphaned the dependents');
      return;
    }
    if (hasFinalizer(owner, FOREGROUND_DELETION)) {
      for (const dep of this.graph.dependentsOf(id.uid)) this.queue.add(this.key('dependent', dep));
      const blocking = this.graph.dependentsOf(id.uid, true);
      if (blocking.length > 0) {
        this.log.debug({ object: this.describe(id), blocking: blocking.length }, 'waiting for blocking dependents');
        return;
      }
      await this.removeFinalizer(id, owner, FOREGROUND_DELETION);
      this.log.info({ object: this.describe(id) }, 'dependents deleted; removed the foregroundDeletion finalizer');
    }
  }

  // ------------------------------------------------------------ writes (through the API)

  private async deleteObject(id: Identity, policy: 'Background' | 'Foreground' | 'Orphan'): Promise<void> {
    try {
      await this.o.api.delete(this.target(id), { propagationPolicy: policy, preconditions: { uid: id.uid } });
      this.log.info({ object: this.describe(id), propagationPolicy: policy }, 'deleted an object whose owners are gone');
    } catch (e) {
      const code = toFlotillaError(e).code;
      if (code === 'NotFound') return;
      if (code === 'Conflict' && !(await this.liveGet(id))) return; // replaced by another of that name
      throw e;
    }
  }

  private async setOwnerReferences(id: Identity, cur: KubeObject, refs: readonly OwnerRef[]): Promise<void> {
    await this.patch(id, { metadata: { ownerReferences: refs.length > 0 ? refs : null, resourceVersion: cur.metadata.resourceVersion } });
  }

  private async removeFinalizer(id: Identity, cur: KubeObject, finalizer: string): Promise<void> {
    const rest = (cur.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    await this.patch(id, { metadata: { finalizers: rest.length > 0 ? rest : null, resourceVersion: cur.metadata.resourceVersion } });
  }

  /** A JSON merge patch pinned to the resourceVersion read: a change in between is a conflict, retried. */
  private async patch(id: Identity, body: unknown): Promise<void> {
    try {
      await this.o.api.patch(this.target(id), 'merge', body);
    } catch (e) {
      if (toFlotillaError(e).code === 'NotFound') return;
      throw e;
    }
  }

  // ------------------------------------------------------------ invalid references

  private existsInOtherNamespace(owner: Identity): boolean {
    const inf = this.informers.get(owner.kind.plural);
    if (!inf) return false;
    for (const o of inf.list()) if (o.metadata.uid === owner.uid && o.metadata.namespace !== owner.namespace) return true;
    return false;
  }

  private reportInvalid(id: Identity, dep: KubeObject, ref: OwnerRef, namespace: string): void {
    const k = `${id.uid}/${ref.uid}`;
    if (this.reported.has(k)) return;
    if (this.reported.size >= 10_000) this.reported.delete(this.reported.values().next().value as string);
    this.reported.add(k);
    const message = `ownerRef [${ref.apiVersion}/${ref.kind}, namespace: ${namespace}, name: ${ref.name}, uid: ${ref.uid}] does not exist in namespace "${namespace}"`;
    this.log.warn({ object: this.describe(id), ownerRef: ref }, message);
    this.o.recorder?.event({ apiVersion: id.kind.apiVersion, kind: id.kind.kind, metadata: dep.metadata }, 'Warning', REASON_OWNER_REF_INVALID_NAMESPACE, message);
  }

  private describe(id: Identity): string {
    return `${id.kind.plural}/${id.namespace ? `${id.namespace}/` : ''}${id.name}`;
  }
}
