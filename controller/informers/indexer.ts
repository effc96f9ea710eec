// An informer's cache: objects by key (`namespace/name`, or `name` for
// cluster-scoped objects) plus secondary indexes — an index function maps an
// object to the values it is filed under (its node, its owners' uids…), and
// `byIndex(name, value)` returns the objects filed under a value. Objects are
// shared and frozen: the cache and every consumer hold the same instance.
import type { KubeObject } from '../../api/index.js';

/** The values an object is filed under in one index (none: not in it). */
export type IndexFunc<T> = (obj: T) => readonly string[];

const NONE: readonly string[] = Object.freeze([]);

/** `metadata.namespace` (cluster-scoped objects are in no namespace index). */
export const INDEX_NAMESPACE = 'namespace';
/** `spec.nodeName` (pods bound to a node). */
export const INDEX_NODE = 'node';
/** The uid of every `metadata.ownerReferences` entry. */
export const INDEX_OWNER = 'owner';

export const byNamespace: IndexFunc<KubeObject> = (o) => (o.metadata.namespace ? [o.metadata.namespace] : NONE);
export const byNodeName: IndexFunc<KubeObject> = (o) => {
  const n = (o as { spec?: { nodeName?: unknown } }).spec?.nodeName;
  return typeof n === 'string' && n !== '' ? [n] : NONE;
};
export const byOwnerUid: IndexFunc<KubeObject> = (o) => {
  const refs = o.metadata.ownerReferences;
  if (!refs || refs.length === 0) return NONE;
  return refs.length === 1 ? [refs[0]!.uid] : [...new Set(refs.map((r) => r.uid))];
};

/** The indexes any informer can answer; each is built the first time it is asked for. */
export const STANDARD_INDEXERS: Readonly<Record<string, IndexFunc<KubeObject>>> = Object.freeze({
  [INDEX_NAMESPACE]: byNamespace,
  [INDEX_NODE]: byNodeName,
  [INDEX_OWNER]: byOwnerUid,
});

const EMPTY_KEYS: ReadonlySet<string> = new Set<string>();

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class IndexedCache<T extends KubeObject> {
  private readonly items = new Map<string, T>();
  private readonly fns = new Map<string, IndexFunc<T>>();
  /** index name → value → keys filed under it. */
  private readonly indices = new Map<string, Map<string, Set<string>>>();

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  values(): IterableIterator<T> {
    return this.items.values();
  }

  hasIndex(name: string): boolean {
    return this.fns.has(name);
  }

  /** Adds an index and files every cached object in it. The same name twice must be the same function. */
  addIndex(name: string, fn: IndexFunc<T>): void {
    const had = this.fns.get(name);
    if (had === fn) return;
    if (had) throw new Error(`an index named "${name}" is already registered with another function`);
    this.fns.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.indices.set(name, idx);
    for (const [key, obj] of this.items) for (const v of fn(obj)) file(idx, v, key);
  }

  /** Keys filed under `value` in index `name` (live: do not keep across changes). */
  indexKeys(name: string, value: string): ReadonlySet<string> {
    const idx = this.indices.get(name);
    if (!idx) throw new Error(`no index named "${name}"`);
    return idx.get(value) ?? EMPTY_KEYS;
  }

  /** The objects filed under `value` in index `name`. */
  byIndex(name: string, value: string): T[] {
    const out: T[] = [];
    for (const k of this.indexKeys(name, value)) {
      const o = this.items.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  /** The values index `name` holds (e.g. every node with pods). */
  indexValues(name: string): string[] {
    const idx = this.indices.get(name);
    if (!idx) throw new Error(`no index named "${name}"`);
    return [...idx.keys()];
  }

  /** Stores `obj` under `key`; returns what was there. */
  set(key: string, obj: T): T | undefined {
    const old = this.items.get(key);
    this.items.set(key, obj);
    for (const [name, fn] of this.fns) {
      const idx = this.indices.get(name)!;
      const before = old ? fn(old) : NONE;
      const after = fn(obj);
      if (sameValues(before, after)) continue;
      for (const v of before) if (!after.includes(v)) unfile(idx, v, key);
      for (const v of after) file(idx, v, key);
    }
    return old;
  }

  /** Removes `key`; returns what was there. */
  delete(key: string): T | undefined {
    const old = this.items.get(key);
    if (old === undefined) return undefined;
    this.items.delete(key);
    for (const [name, fn] of this.fns) {
      const idx = this.indices.get(name)!;
      for (const v of fn(old)) unfile(idx, v, key);
    }
    return old;
  }

  clear(): void {
    this.items.clear();
    for (const idx of this.indices.values()) idx.clear();
  }
}

function file(idx: Map<string, Set<string>>, value: string, key: string): void {
  let s = idx.get(value);
  if (!s) idx.set(value, (s = new Set()));
  s.add(key);
}

function unfile(idx: Map<string, Set<string>>, value: string, key: string): void {
  const s = idx.get(value);
  if (!s) return;
  s.delete(key);
  if (s.size === 0) idx.delete(value);
}
