// `apply`'s three-way patch, with kubectl's last-applied-configuration semantics:
//   original = what was applied last time (the annotation),
//   modified = what is being applied now (the file, carrying its new annotation),
//   current  = the live object.
// Fields that were applied before and are gone from the file are deleted (null,
// or `$patch: delete` for a keyed list item); fields of the file that differ from
// the live object are set. Lists with a merge key (containers by name, ports by
// containerPort, … as the server's STRATEGIC_MERGE_KEYS say) are patched item by item with a `$setElementOrder/<field>`
// directive, other lists are replaced whole: a strategic merge patch.
// An empty patch means `unchanged`. Pure: table-tested in test/unit/cli-apply-patch.test.ts.

import { STRATEGIC_MERGE_KEYS, STRATEGIC_MERGE_PRIMITIVE_LISTS } from '../api/index.js';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/**
 * The merge key of the list at `path`, if it is a keyed list. The keys are the
 * server's own (api's STRATEGIC_MERGE_KEYS, by field name), so the patch we
 * compute means to the server what we meant.
 */
export function mergeKeyFor(path: string[]): string | undefined {
  const field = path[path.length - 1];
  return field === undefined ? undefined : STRATEGIC_MERGE_KEYS[field];
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** JSON with object keys sorted, so the same config always gives the same annotation. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (isObject(v)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) out[k] = sort(v[k]);
      return out;
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

/**
 * The object to send for `apply`: the manifest with its own serialisation
 * (without the annotation itself) in the last-applied annotation.
 */
export function withLastApplied(manifest: JsonObject): JsonObject {
  const copy = JSON.parse(JSON.stringify(manifest)) as JsonObject;
  const meta = (isObject(copy.metadata) ? copy.metadata : {}) as JsonObject;
  const annotations = isObject(meta.annotations) ? { ...meta.annotations } : {};
  delete annotations[LAST_APPLIED_ANNOTATION];
  const bare = { ...copy, metadata: { ...meta } } as JsonObject;
  if (Object.keys(annotations).length > 0) (bare.metadata as JsonObject).annotations = annotations;
  else delete (bare.metadata as JsonObject).annotations;
  const applied = canonicalJson(bare) + '\n';
  return { ...copy, metadata: { ...meta, annotations: { ...annotations, [LAST_APPLIED_ANNOTATION]: applied } } };
}

/** The configuration applied last time, from the live object's annotation; undefined when absent or unreadable. */
export function lastAppliedOf(live: JsonObject): JsonObject | undefined {
  const meta = live.metadata;
  if (!isObject(meta) || !isObject(meta.annotations)) return undefined;
  const text = meta.annotations[LAST_APPLIED_ANNOTATION];
  if (typeof text !== 'string' || text === '') return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The strategic merge patch that takes `current` to `modified`, deleting what
 * `original` had and `modified` dropped. `{}` when there is nothing to change.
 */
export function threeWayMergePatch(original: JsonObject | undefined, modified: JsonObject, current: JsonObject): JsonObject {
  return diffMaps(original, modified, current, []) ?? {};
}

function diffMaps(original: JsonObject | undefined, modified: JsonObject, current: JsonObject | undefined, path: string[]): JsonObject | undefined {
  const patch: JsonObject = {};
  // deletions: applied before, dropped from the file, still live
  for (const k of Object.keys(original ?? {})) {
    if (!(k in modified) && current !== undefined && k in current && current[k] !== null) patch[k] = null;
  }
  for (const [k, m] of Object.entries(modified)) {
    const c = current?.[k];
    const o = original?.[k];
    const here = [...path, k];
    if (isObject(m) && isObject(c)) {
      const sub = diffMaps(isObject(o) ? o : undefined, m, c, here);
      if (sub !== undefined) patch[k] = sub;
      continue;
    }
    const key = Array.isArray(m) ? mergeKeyFor(here) : undefined;
    if (key !== undefined && Array.isArray(m) && Array.isArray(c) && m.every((x) => isObject(x) && key in x)) {
      const items = diffKeyedList(Array.isArray(o) ? o : [], m as JsonObject[], c, key, here);
      if (items !== undefined) {
        patch[`$setElementOrder/${k}`] = (m as JsonObject[]).map((x) => ({ [key]: x[key]! }));
        patch[k] = items;
      }
      continue;
    }
    if (STRATEGIC_MERGE_PRIMITIVE_LISTS.has(k) && Array.isArray(m) && Array.isArray(c)) {
      // a union list (finalizers): add what is new, delete what was applied and dropped
      const added = m.filter((x) => !c.some((y) => deepEqual(x, y)));
      const removed = (Array.isArray(o) ? o : []).filter((x) => !m.some((y) => deepEqual(x, y)) && c.some((y) => deepEqual(x, y)));
      if (added.length > 0) patch[k] = added;
      if (removed.length > 0) patch[`$deleteFromPrimitiveList/${k}`] = removed;
      continue;
    }
    if (!deepEqual(m, c)) patch[k] = m;
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

function diffKeyedList(original: Json[], modified: JsonObject[], current: Json[], key: string, path: string[]): JsonObject[] | undefined {
  const byKey = (list: Json[], k: Json): JsonObject | undefined =>
    list.find((x): x is JsonObject => isObject(x) && deepEqual(x[key], k));
  const items: JsonObject[] = [];
  for (const o of original) {
    if (!isObject(o) || !(key in o)) continue;
    if (!byKey(modified, o[key]!) && byKey(current, o[key]!)) items.push({ [key]: o[key]!, $patch: 'delete' });
  }
  for (const m of modified) {
    const c = byKey(current, m[key]!);
    if (!c) {
      items.push(m);
      continue;
    }
    const sub = diffMaps(byKey(original, m[key]!), m, c, [...path, '[]']);
    if (sub !== undefined) items.push({ [key]: m[key]!, ...sub });
  }
  return items.length === 0 ? undefined : items;
}
