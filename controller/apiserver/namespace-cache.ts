// A cache of namespaces, for the "namespace exists and is not terminating"
// check on every create (Kubernetes' NamespaceLifecycle admission reads an
// informer cache the same way): the namespaces informer, shared with the
// namespace controller when the process's informers are given. A cache miss is
// never trusted: the caller reads the store, so a namespace created a moment
// ago is found.
import type { Clock, Logger, Namespace } from '../../api/index.js';
import { InformerFactory, type SharedInformer } from '../informers/index.js';
import type { Store } from '../storage/store.js';

export class NamespaceCache {
  private readonly informer: SharedInformer<Namespace>;
  private ac: AbortController | undefined;

  constructor(store: Store, clock: Clock, log: Logger, informers?: InformerFactory) {
    const factory = informers ?? new InformerFactory({ store, clock, log, backoff: { initialMs: 1000 } });
    this.informer = factory.informerFor<Namespace>('namespaces');
  }

  /** The cached namespace; undefined when unknown (not synced, or absent: ask the store). */
  get(name: string): Namespace | undefined {
    return this.informer.hasSynced() ? this.informer.get(name) : undefined;
  }

  start(): void {
    if (this.ac) return;
    this.ac = new AbortController();
    this.informer.start(this.ac.signal);
  }

  stop(): void {
    this.ac?.abort();
    this.ac = undefined;
  }
}
