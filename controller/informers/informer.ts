// A shared informer (Kubernetes' SharedIndexInformer, in small): one
// list+watch of one resource (runListWatch, over the store's shared watch hub),
// a cache of frozen objects with indexes, and event handlers. Every consumer
// of the resource in the process registers on the same informer; it runs while
// at least one of them holds it (a handler or `start` with a live signal) and
// lets go of its cache when the last one leaves.
//
// Handlers are called synchronously, in registration order, after the cache
// has changed — so a handler reading the cache sees the object it is told
// about. They must not block and must not modify the objects (frozen: they
// throw). A relist (after 410 Gone or a failed watch) hands handlers only the
// differences from what the cache held, then `onSynced`.
import { realClock, componentLogger, objectKey, type Clock, type KubeObject, type Logger, type Timer, type WatchEvent } from '../../api/index.js';
import { deepFreeze } from '../storage/watch-hub.js';
import { IndexedCache, STANDARD_INDEXERS, type IndexFunc } from './indexer.js';
import { runListWatch, type BackoffOptions, type ListWatchSource } from './list-watch.js';

export interface InformerHandler<T> {
  /** A new object. `initial`: from a first list, or replayed to a handler that registered late. */
  onAdd?(obj: T, initial: boolean): void;
  /** A changed object (same object again on a resync). */
  onUpdate?(oldObj: T, newObj: T): void;
  /**
   * A removed object, as last stored. `finalStateUnknown`: the removal was
   * found by a relist, so `obj` is the last state the cache had seen (a tombstone).
   */
  onDelete?(obj: T, finalStateUnknown: boolean): void;
  /** The cache holds a complete list: after the first list, after each relist, and at once when registering on a synced informer. */
  onSynced?(): void;
}

export interface HandlerOptions {
  /** The registration ends (and lets go of the informer) when this aborts. */
  signal?: AbortSignal;
  /** Calls onUpdate(obj, obj) for every cached object this often (Kubernetes' resync). */
  resyncMs?: number;
}

export interface HandlerRegistration {
  remove(): void;
}

export interface SharedInformerOptions<T> {
  /** Names the informer in logs: `pods`, `network/subnets`. */
  resource: string;
  source: ListWatchSource<T>;
  clock?: Clock;
  log?: Logger;
  backoff?: BackoffOptions;
}

interface Registration<T> {
  h: InformerHandler<T>;
  resyncMs: number | undefined;
  timer: Timer | undefined;
  removed: boolean;
}

export class SharedInformer<T extends KubeObject = KubeObject> {
  readonly resource: string;
  private readonly source: ListWatchSource<T>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions | undefined;
  private readonly cache = new IndexedCache<T>();
  private handlers: Registration<T>[] = [];
  private holders = 0;
  private ac: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private rv = '';
  private shutDown = false;

  constructor(o: SharedInformerOptions<T>) {
    this.resource = o.resource;
    this.source = o.source;
    this.clock = o.clock ?? realClock;
    this.log = o.log ?? componentLogger('informers');
    this.backoff = o.backoff;
  }

  // ------------------------------------------------------------ holding

  /** Runs the informer (if it is not running) until `signal` aborts — or longer, while others hold it. */
  start(signal: AbortSignal): void {
    if (signal.aborted) return;
    this.hold();
    signal.addEventListener('abort', () => this.release(), { once: true });
  }

  /** True while some consumer holds the informer. */
  get running(): boolean {
    return this.ac !== undefined;
  }

  private hold(): void {
    if (this.shutDown || this.holders++ > 0) return;
    const ac = new AbortController();
    this.ac = ac;
    const prev = this.loop ?? Promise.resolve();
    // A stop and a quick restart: the new loop starts after the old one has let go.
    this.loop = prev.then(() =>
      ac.signal.aborted
        ? undefined
        : runListWatch(
            this.source,
            {
              // A loop that was let go of feeds nothing more, even an event already on its way.
              replace: (items, rv, relist) => void (ac.signal.aborted || this.replace(items, rv, relist)),
              event: (ev) => void (ac.signal.aborted || this.apply(ev)),
            },
            { resource: this.resource, signal: ac.signal, clock: this.clock, log: this.log, ...(this.backoff ? { backoff: this.backoff } : {}) },
          ),
    );
  }

  private release(): void {
    if (this.shutDown || --this.holders > 0) return;
    this.stopLoop();
  }

  /** Stops for good, whoever still holds it (the process is shutting down). */
  stop(): void {
    if (this.shutDown) return;
    this.shutDown = true;
    this.holders = 0;
    this.stopLoop();
  }

  private stopLoop(): void {
    this.ac?.abort();
    this.ac = undefined;
    // Nobody listens: let go of the objects. The next holder lists again.
    this.cache.clear();
    this.synced = false;
    this.rv = '';
    for (const w of this.syncWaiters.splice(0)) w();
  }

  // ------------------------------------------------------------ handlers

  /**
   * Registers `h` and holds the informer while the registration lasts. On an
   * informer that has synced, `h` first gets every cached object (onAdd with
   * initial = true) and onSynced, before this returns.
   */
  addEventHandler(h: InformerHandler<T>, opts: HandlerOptions = {}): HandlerRegistration {
    const reg: Registration<T> = { h, resyncMs: opts.resyncMs, timer: undefined, removed: false };
    const remove = () => {
      if (reg.removed) return;
      reg.removed = true;
      reg.timer?.cancel();
      this.handlers = this.handlers.filter((r) => r !== reg);
      this.release();
    };
    if (opts.signal?.aborted) return { remove: () => undefined };
    this.handlers = [...this.handlers, reg];
    this.hold();
    opts.signal?.addEventListener('abort', remove, { once: true });
    if (this.synced) {
      for (const o of this.cache.values()) this.call(reg, 'onAdd', () => h.onAdd?.(o, true));
      this.call(reg, 'onSynced', () => h.onSynced?.());
    }
    if (reg.resyncMs !== undefined && reg.resyncMs > 0) this.armResync(reg);
    return { remove };
  }

  private armResync(reg: Registration<T>): void {
    reg.timer = this.clock.setTimeout(() => {
      if (reg.removed) return;
      if (this.synced) for (const o of [...this.cache.values()]) this.call(reg, 'onUpdate', () => reg.h.onUpdate?.(o, o));
      if (!reg.removed) this.armResync(reg);
    }, reg.resyncMs!);
  }

  private call(reg: Registration<T>, what: string, fn: () => void): void {
    if (reg.removed) return;
    try {
      fn();
    } catch (e) {
      this.log.error({ resource: this.resource, handler: what, err: (e as Error).message, stack: (e as Error).stack }, 'an informer event handler threw');
    }
  }

  private dispatch(fn: (h: InformerHandler<T>) => void, what: string): void {
    for (const reg of this.handlers) this.call(reg, what, () => fn(reg.h));
  }

  // ------------------------------------------------------------ the cache, fed by runListWatch

  private replace(items: T[], rv: string, relist: boolean): void {
    const seen = new Set<string>();
    const initial = !this.synced;
    for (const raw of items) {
      const obj = deepFreeze(raw);
      const key = objectKey(obj);
      seen.add(key);
      const old = this.cache.get(key);
      if (old === undefined) {
        this.cache.set(key, obj);
        this.dispatch((h) => h.onAdd?.(obj, initial), 'onAdd');
      } else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) {
        this.cache.set(key, obj);
        this.dispatch((h) => h.onUpdate?.(old, obj), 'onUpdate');
      }
      // unchanged: the cached instance stays (consumers may hold it)
    }
    if (relist || this.cache.size > seen.size) {
      for (const key of [...this.cache.keys()]) {
        if (seen.has(key)) continue;
        const old = this.cache.delete(key)!;
        this.dispatch((h) => h.onDelete?.(old, true), 'onDelete');
      }
    }
    this.rv = rv;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
    this.dispatch((h) => h.onSynced?.(), 'onSynced');
  }

  private apply(ev: WatchEvent<T>): void {
    const obj = deepFreeze(ev.object);
    const key = objectKey(obj);
    this.rv = obj.metadata.resourceVersion ?? this.rv;
    if (ev.type === 'DELETED') {
      const old = this.cache.delete(key);
      if (old !== undefined) this.dispatch((h) => h.onDelete?.(obj, false), 'onDelete');
      return;
    }
    const old = this.cache.set(key, obj);
    if (old === undefined) this.dispatch((h) => h.onAdd?.(obj, false), 'onAdd');
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.dispatch((h) => h.onUpdate?.(old, obj), 'onUpdate');
  }

  // ------------------------------------------------------------ reads

  /** True once the cache holds a complete list (false again after the informer stopped). */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced; false if `signal` aborts (or the informer stops) first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.synced);
      };
      const onAbort = () => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        resolve(false);
      };
      this.syncWaiters.push(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The revision of the last list or event the cache took in. */
  get lastResourceVersion(): string {
    return this.rv;
  }

  /** By key: `namespace/name`, or `name` for cluster-scoped objects. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get size(): number {
    return this.cache.size;
  }

  /** Adds an index (see indexer.ts); idempotent for the same function. */
  addIndexer(name: string, fn: IndexFunc<T>): void {
    this.cache.addIndex(name, fn);
  }

  /**
   * The cached objects filed under `value` in index `name`. The standard indexes
   * (namespace, node, owner) are built on first use; others must be added first.
   */
  byIndex(name: string, value: string): T[] {
    this.ensureIndex(name);
    return this.cache.byIndex(name, value);
  }

  /** Keys filed under `value` (a live view: copy it to keep it). */
  indexKeys(name: string, value: string): ReadonlySet<string> {
    this.ensureIndex(name);
    return this.cache.indexKeys(name, value);
  }

  private ensureIndex(name: string): void {
    if (this.cache.hasIndex(name)) return;
    const std = STANDARD_INDEXERS[name];
    if (!std) throw new Error(`informer ${this.resource}: no index named "${name}"`);
    this.cache.addIndex(name, std as IndexFunc<T>);
  }
}
