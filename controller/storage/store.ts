// The storage seam of the control plane. The real implementation sits over
// etcd (`etcd-store.ts`); key layout as in the design:
//   /flotilla/<resource>/<namespace>/<name>   namespaced
//   /flotilla/<resource>/<name>               cluster-scoped
// metadata.resourceVersion is the etcd mod revision (decimal string).
import type { KubeObject, WatchEvent } from '../../api/meta.js';

export interface ObjectKey {
  /** Plural lower-case resource, e.g. `pods`, `nodes`, `events`. */
  resource: string;
  /** Omitted for cluster-scoped resources. */
  namespace?: string;
  name: string;
}

export interface ListOptions<T> {
  /** Namespace to list; omitted = all namespaces (or a cluster-scoped resource). */
  namespace?: string;
  /** Keep only objects for which this returns true (label/field selectors compile to this). */
  filter?: (obj: T) => boolean;
  /** At most this many items (after the filter); `next` then says where the rest starts. */
  limit?: number;
  /**
   * Go on from a previous page: the first storage key to read and the revision
   * the first page was read at (every page reads that revision: one consistent
   * list). GoneError when that revision was compacted.
   */
  continueFrom?: ListPosition;
  /** Read at exactly this revision (resourceVersionMatch=Exact); GoneError when compacted. */
  revision?: string;
}

/** Where a paged list goes on: a storage key (inclusive) at a revision. */
export interface ListPosition {
  key: string;
  revision: string;
}

export interface ListResult<T> {
  items: T[];
  /** The etcd revision the list was read at: a watch from here misses nothing. */
  resourceVersion: string;
  /** Set when a `limit` cut the list short: where the next page starts. */
  next?: ListPosition;
  /** With `next` and no filter: how many objects are left after this page. */
  remaining?: number;
}

export interface WatchOptions<T> {
  namespace?: string;
  /** Start after this revision; omitted = from now. */
  resourceVersion?: string;
  filter?: (obj: T) => boolean;
  signal?: AbortSignal;
}

export interface GuaranteedUpdateOptions<T> {
  /** The object as the caller last saw it (e.g. from a watch): saves the first read when current. */
  cached?: T;
}

export interface Store {
  /**
   * Creates the object. Sets metadata.uid, creationTimestamp and resourceVersion.
   * Throws AlreadyExistsError when the key exists. Nothing is written on error.
   */
  create<T extends KubeObject>(resource: string, obj: T): Promise<T>;

  /** Throws NotFoundError. */
  get<T extends KubeObject>(key: ObjectKey): Promise<T>;

  list<T extends KubeObject>(resource: string, opts?: ListOptions<T>): Promise<ListResult<T>>;

  /**
   * Replaces the object. When obj.metadata.resourceVersion is set the write is a
   * compare-and-swap on it (ConflictError on mismatch); NotFoundError when absent.
   * uid and creationTimestamp are carried over from the stored object.
   */
  update<T extends KubeObject>(resource: string, obj: T): Promise<T>;

  /**
   * Read-modify-write with retries on conflict: `mutate` gets the latest object
   * and returns the new one. With `opts.cached` (a copy the caller holds, with
   * its resourceVersion) the first attempt starts from that copy instead of a
   * read; if it is stale the write conflicts and the latest object is read, so
   * `mutate` never decides on an object that is not current when written.
   */
  guaranteedUpdate<T extends KubeObject>(key: ObjectKey, mutate: (current: T) => T | Promise<T>, opts?: GuaranteedUpdateOptions<T>): Promise<T>;

  /**
   * Removes the object and returns it as it was last stored. With
   * `resourceVersion` the delete is a compare-and-swap (ConflictError on mismatch).
   */
  delete<T extends KubeObject>(key: ObjectKey, opts?: { resourceVersion?: string }): Promise<T>;

  /**
   * Events after opts.resourceVersion, in revision order. DELETED events carry the
   * last stored object with resourceVersion = the deletion's revision. Throws
   * GoneError (HTTP 410) when that revision was compacted. Ends when signal aborts.
   */
  watch<T extends KubeObject>(resource: string, opts?: WatchOptions<T>): AsyncIterable<WatchEvent<T>>;

  /** The current etcd revision. */
  currentRevision(): Promise<string>;

  close(): Promise<void>;
}

export function keyFor(key: ObjectKey): string {
  return key.namespace === undefined
    ? `/flotilla/${key.resource}/${key.name}`
    : `/flotilla/${key.resource}/${key.namespace}/${key.name}`;
}
