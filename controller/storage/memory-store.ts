// An in-memory Store for unit tests of logic (the API server's handlers). Same
// contract as the etcd store: one global revision, resourceVersion = the
// revision of the last write, CAS updates/deletes, watches that resume from a
// revision and throw GoneError below the compacted revision. Never used by a daemon.
import { randomUUID } from 'node:crypto';
import {
  AlreadyExistsError,
  ConflictError,
  GoneError,
  NotFoundError,
  deepClone,
  rfc3339,
  type KubeObject,
  type WatchEvent,
} from '../../api/index.js';
import { alreadyExistsMessage, notFoundMessage, prefixFor } from './keys.js';
import { keyFor, type GuaranteedUpdateOptions, type ListOptions, type ListResult, type ObjectKey, type Store, type WatchOptions } from './store.js';

interface HistoryEntry {
  rev: number;
  resource: string;
  namespace: string | undefined;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

export class MemoryStore implements Store {
  private rev = 1;
  private compacted = 0;
  private readonly data = new Map<string, KubeObject>();
  private readonly history: HistoryEntry[] = [];
  private readonly waiters = new Set<() => void>();
  /** Counts writes, so tests can check that a rejected request wrote nothing. */
  writes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private keyOf(resource: string, obj: KubeObject): ObjectKey {
    const ns = obj.metadata.namespace;
    return ns ? { resource, namespace: ns, name: obj.metadata.name ?? '' } : { resource, name: obj.metadata.name ?? '' };
  }

  private record(resource: string, type: HistoryEntry['type'], object: KubeObject): void {
    this.writes++;
    this.history.push({ rev: this.rev, resource, namespace: object.metadata.namespace, type, object: deepClone(object) });
    for (const w of [...this.waiters]) w();
  }

  /** Every stored key, as the etcd store would name them. */
  keys(): string[] {
    return [...this.data.keys()].sort();
  }

  /** Forgets history up to `rev` (like etcd compaction): older watches get 410. */
  compact(rev = this.rev): void {
    this.compacted = rev;
    while (this.history.length > 0 && this.history[0]!.rev <= rev) this.history.shift();
  }

  async create<T extends KubeObject>(resource: string, obj: T): Promise<T> {
    const key = keyFor(this.keyOf(resource, obj));
    if (this.data.has(key)) throw new AlreadyExistsError(alreadyExistsMessage(resource, obj.metadata.name ?? ''));
    const o = deepClone(obj);
    this.rev++;
    o.metadata.uid = typeof o.metadata.uid === 'string' && o.metadata.uid !== '' ? o.metadata.uid : randomUUID();
    o.metadata.creationTimestamp = rfc3339(this.now());
    o.metadata.resourceVersion = String(this.rev);
    this.data.set(key, o);
    this.record(resource, 'ADDED', o);
    return deepClone(o);
  }

  async get<T extends KubeObject>(key: ObjectKey): Promise<T> {
    const o = this.data.get(keyFor(key));
    if (!o) throw new NotFoundError(notFoundMessage(key.resource, key.name));
    return deepClone(o) as T;
  }

  /**
   * Lists in key order. Paging (limit/continueFrom) works by key; the memory
   * store keeps no history, so a page reads the current state, not the first
   * page's revision (the etcd store reads that revision).
   */
  async list<T extends KubeObject>(resource: string, opts: ListOptions<T> = {}): Promise<ListResult<T>> {
    const prefix = prefixFor(resource, opts.namespace);
    const start = opts.continueFrom?.key;
    const entries = [...this.data.entries()]
      .filter(([k]) => k.startsWith(prefix) && (start === undefined || k >= start))
      .sort(([a], [b]) => (a < b ? -1 : 1));
    const items: T[] = [];
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : Infinity;
    let i = 0;
    for (; i < entries.length && items.length < limit; i++) {
      const o = deepClone(entries[i]![1]) as T;
      if (!opts.filter || opts.filter(o)) items.push(o);
    }
    const revision = opts.continueFrom?.revision ?? String(this.rev);
    if (i < entries.length) {
      return { items, resourceVersion: revision, next: { key: entries[i]![0], revision }, ...(opts.filter ? {} : { remaining: entries.length - i }) };
    }
    return { items, resourceVersion: revision };
  }

  async update<T extends KubeObject>(resource: string, obj: T): Promise<T> {
    const key = keyFor(this.keyOf(resource, obj));
    const cur = this.data.get(key);
    if (!cur) throw new NotFoundError(notFoundMessage(resource, obj.metadata.name ?? ''));
    const want = obj.metadata.resourceVersion;
    if (want !== undefined && want !== '' && want !== cur.metadata.resourceVersion) {
      throw new ConflictError(`${resource} "${obj.metadata.name}": the object has been modified`);
    }
    const o = deepClone(obj);
    this.rev++;
    o.metadata.uid = cur.metadata.uid;
    o.metadata.creationTimestamp = cur.metadata.creationTimestamp;
    o.metadata.resourceVersion = String(this.rev);
    this.data.set(key, o);
    this.record(resource, 'MODIFIED', o);
    return deepClone(o);
  }

  async guaranteedUpdate<T extends KubeObject>(key: ObjectKey, mutate: (current: T) => T | Promise<T>, opts: GuaranteedUpdateOptions<T> = {}): Promise<T> {
    let cached = opts.cached?.metadata.resourceVersion ? opts.cached : undefined;
    for (;;) {
      const cur = cached ? deepClone(cached) : await this.get<T>(key);
      cached = undefined;
      const next = await mutate(deepClone(cur));
      next.metadata.resourceVersion = cur.metadata.resourceVersion;
      try {
        return await this.update(key.resource, next);
      } catch (e) {
        if (!(e instanceof ConflictError)) throw e;
      }
    }
  }

  async delete<T extends KubeObject>(key: ObjectKey, opts: { resourceVersion?: string } = {}): Promise<T> {
    const k = keyFor(key);
    const cur = this.data.get(k);
    if (!cur) throw new NotFoundError(notFoundMessage(key.resource, key.name));
    if (opts.resourceVersion && opts.resourceVersion !== cur.metadata.resourceVersion) {
      throw new ConflictError(`${key.resource} "${key.name}": the object has been modified`);
    }
    this.data.delete(k);
    this.rev++;
    const last = deepClone(cur);
    last.metadata.resourceVersion = String(this.rev);
    this.record(key.resource, 'DELETED', last);
    return deepClone(cur) as T;
  }

  async *watch<T extends KubeObject>(resource: string, opts: WatchOptions<T> = {}): AsyncIterable<WatchEvent<T>> {
    let from = opts.resourceVersion ? Number(opts.resourceVersion) : this.rev;
    if (from < this.compacted) throw new GoneError(`too old resource version: ${from} (${this.compacted})`);
    const signal = opts.signal;
    while (!signal?.aborted) {
      // checked and waited for in one synchronous step, so no write slips in between
      const next = this.history.find(
        (h) => h.rev > from && h.resource === resource && (opts.namespace === undefined || h.namespace === opts.namespace),
      );
      if (next) {
        from = next.rev;
        const object = deepClone(next.object) as T;
        if (!opts.filter || opts.filter(object)) yield { type: next.type, object };
        continue;
      }
      from = Math.max(from, this.history.at(-1)?.rev ?? from);
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  async currentRevision(): Promise<string> {
    return String(this.rev);
  }

  async close(): Promise<void> {
    for (const w of [...this.waiters]) w();
  }
}
