// The namespace controller (on the leader): empties a Terminating namespace,
// then removes it. A DELETE of a namespace only marks it (deletionTimestamp,
// phase Terminating); `reconcile(name)` deletes every object of every
// namespaced kind in the registry through the REST semantics (so pods are
// deleted gracefully and their agents confirm; owners' propagation policies
// apply), comes back with a back-off while anything is left — and sooner, when
// an object of the namespace goes — and once the namespace is empty removes the
// `kubernetes` finalizer of spec.finalizers and, with no finalizer left, the
// namespace itself. Level-triggered from the namespaces informer, so it resumes
// after a leader change or a restart.
import {
  NAMESPACE_FINALIZER,
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
  type Namespace,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import { ExponentialBackoff, WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import type { Store } from '../storage/store.js';

/** What the controller deletes through: the API's REST semantics (ResourceApi fits). */
export interface ObjectDeleter {
  delete(target: { res: KindDescriptor; namespace?: string; name?: string }, options: DeleteOptions): Promise<unknown>;
}

export interface NamespaceControllerOptions {
  /** Deletes the namespace's objects (graceful pods, propagation policies, validation). */
  api: ObjectDeleter;
  /** Live reads (what is left in the namespace) and the namespace's own removal. */
  store: Store;
  informers: InformerFactory;
  /** Default: the kinds Flotilla serves. */
  registry?: KindRegistry;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  /** Namespaces emptied at once. Default 2. */
  workers?: number;
  /** Back-off while objects are left. Default 250 ms doubling to 15 s. */
  backoff?: { baseMs?: number; maxMs?: number };
}

const isTerminating = (ns: Namespace | undefined): boolean => !!ns && (!!ns.metadata.deletionTimestamp || ns.status?.phase === 'Terminating');

export class NamespaceController {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly registry: KindRegistry;
  private namespaces: SharedInformer<Namespace> | undefined;

  constructor(private readonly o: NamespaceControllerOptions) {
    this.log = o.log ?? componentLogger('namespace-controller');
    this.clock = o.clock ?? realClock;
    this.registry = o.registry ?? REGISTRY;
  }

  /** The namespaced kinds a namespace is emptied of. */
  private kinds(): KindDescriptor[] {
    return this.registry.all().filter((k) => k.namespaced);
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({
      name: 'namespace',
      clock: this.clock,
      rateLimiter: new ExponentialBackoff({ baseMs: this.o.backoff?.baseMs ?? 250, maxMs: this.o.backoff?.maxMs ?? 15_000 }),
    });
    const namespaces = this.o.informers.informerFor<Namespace>('namespaces');
    this.namespaces = namespaces;
    const maybe = (ns: Namespace) => {
      if (isTerminating(ns)) queue.add(ns.metadata.name ?? '');
    };
    namespaces.addEventHandler({ onAdd: maybe, onUpdate: (_, ns) => maybe(ns) }, { signal });
    // An object of a terminating namespace went: look again now rather than after the back-off.
    // (Events are many and go at once when deleted: their kind needs no informer for this.)
    for (const k of this.kinds()) {
      if (k.plural === 'events') continue;
      this.o.informers.informerFor<KubeObject>(k).addEventHandler(
        {
          onDelete: (obj) => {
            const ns = obj.metadata.namespace;
            if (ns && isTerminating(namespaces.get(ns))) queue.add(ns);
          },
        },
        { signal },
      );
    }
    await runController({
      name: 'namespace',
      queue,
      workers: this.o.workers ?? 2,
      signal,
      waitFor: [namespaces],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (name) => this.reconcile(name),
    });
  }

  /** Empties one terminating namespace, or removes it once it is empty. */
  async reconcile(name: string): Promise<ReconcileResult | void> {
    const cached = this.namespaces?.get(name);
    if (!isTerminating(cached)) return;
    let left = 0;
    for (const kind of this.kinds()) {
      const { items } = await this.o.store.list<KubeObject>(kind.plural, { namespace: name });
      for (const item of items) {
        left++;
        // Already on its way out (a pod's grace period, an owner's finalizers): nothing to add.
        if (item.metadata.deletionTimestamp) continue;
        try {
          await this.o.api.delete(
            { res: kind, namespace: name, name: item.metadata.name ?? '' },
            { preconditions: { ...(item.metadata.uid ? { uid: item.metadata.uid } : {}) } },
          );
        } catch (e) {
          const code = toFlotillaError(e).code;
          // Gone already, or replaced by another object of that name (looked at next time).
          if (code === 'NotFound' || code === 'Conflict') continue;
          throw e;
        }
      }
    }
    if (left > 0) {
      this.log.debug({ namespace: name, left }, 'namespace not empty yet');
      return { requeue: true };
    }
    await this.finalize(name, cached!);
  }

  /** The namespace is empty: drop our finalizer; with none left, remove the namespace. */
  private async finalize(name: string, cached: Namespace): Promise<void> {
    let cur: Namespace;
    try {
      cur = await this.o.store.get<Namespace>({ resource: 'namespaces', name });
    } catch (e) {
      if (e instanceof NotFoundError) return;
      throw e;
    }
    if (cur.metadata.uid !== cached.metadata.uid || !isTerminating(cur)) return;
    const finalizers = cur.spec?.finalizers ?? [];
    const rest = finalizers.filter((f) => f !== NAMESPACE_FINALIZER);
    if (rest.length > 0 || (cur.metadata.finalizers?.length ?? 0) > 0) {
      // Others still have work to do here: leave our mark off and wait for them.
      if (rest.length !== finalizers.length) {
        await this.o.store.update<Namespace>('namespaces', { ...cur, spec: { ...cur.spec, finalizers: rest } });
        this.log.info({ namespace: name, waitingFor: [...rest, ...(cur.metadata.finalizers ?? [])] }, 'namespace empty; waiting for other finalizers');
      }
      return;
    }
    try {
      await this.o.store.delete({ resource: 'namespaces', name }, { resourceVersion: cur.metadata.resourceVersion ?? '' });
    } catch (e) {
      if (e instanceof NotFoundError) return;
      throw e; // a conflict: it changed, the next reconcile looks again
    }
    this.log.info({ namespace: name }, 'namespace deleted');
  }
}
