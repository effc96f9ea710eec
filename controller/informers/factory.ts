// The informer factory: one SharedInformer per resource (and namespace, when
// an informer is for one namespace only) in the process, whoever asks — the
// scheduler, the agents' pod feed and the node lifecycle controller get the
// same pods informer, so the pods are listed, watched and cached once.
import { componentLogger, realClock, type Clock, type KindDescriptor, type KubeObject, type Logger } from '../../api/index.js';
import type { Store } from '../storage/store.js';
import { SharedInformer } from './informer.js';
import { storeSource, type BackoffOptions } from './list-watch.js';

export interface InformerFactoryOptions {
  store: Store;
  clock?: Clock;
  log?: Logger;
  /** Retry waits of every informer's list/watch loop. */
  backoff?: BackoffOptions;
}

export interface InformerForOptions {
  /** Only this namespace (a separate informer from the all-namespaces one). */
  namespace?: string;
}

export class InformerFactory {
  readonly store: Store;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions | undefined;
  private readonly informers = new Map<string, SharedInformer>();

  constructor(o: InformerFactoryOptions) {
    this.store = o.store;
    this.clock = o.clock ?? realClock;
    this.log = o.log ?? componentLogger('informers');
    this.backoff = o.backoff;
  }

  /**
   * The shared informer of `resource` (a plural such as `pods`, or a kind
   * descriptor). The same instance for every caller; it runs while someone
   * holds it (`start(signal)` or a handler registration).
   */
  informerFor<T extends KubeObject = KubeObject>(resource: string | KindDescriptor, opts: InformerForOptions = {}): SharedInformer<T> {
    const plural = typeof resource === 'string' ? resource : resource.plural;
    const id = opts.namespace === undefined ? plural : `${plural}/${opts.namespace}`;
    let inf = this.informers.get(id);
    if (!inf) {
      inf = new SharedInformer<KubeObject>({
        resource: id,
        source: storeSource(this.store, plural, opts.namespace),
        clock: this.clock,
        log: this.log,
        ...(this.backoff ? { backoff: this.backoff } : {}),
      });
      this.informers.set(id, inf);
    }
    return inf as unknown as SharedInformer<T>;
  }

  /** Stops every informer for good (shutdown: before the store closes). */
  stop(): void {
    for (const inf of this.informers.values()) inf.stop();
  }

  /** Every informer made so far, by id (`pods`, `network/subnets`). */
  all(): ReadonlyMap<string, SharedInformer> {
    return this.informers;
  }
}
