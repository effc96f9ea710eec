// Patches: JSON merge patch (RFC 7386), Kubernetes strategic merge patch, and
// JSON patch (RFC 6902). All return new objects and never mutate their inputs.
import { BadRequestError } from './errors.js';
import { plainValue } from './quote.js';
import { deepClone, isPlainObject } from './helpers.js';
import { REGISTRY } from './kinds/index.js';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------- JSON merge patch

/**
 * RFC 7386: objects merge key by key, `null` removes a key, anything else
 * (arrays included) replaces the target value.
 */
export function applyJsonMergePatch<T = unknown>(target: unknown, patch: unknown): T {
  return mergePatch(target, patch) as T;
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return deepClone(patch);
  const out: Obj = isPlainObject(target) ? deepClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ---------------------------------------------------------------- strategic merge patch

/**
 * Merge keys of the lists in Flotilla's types, by field name. Lists named here
 * merge element by element on that key; other lists are replaced whole (as in
 * Kubernetes for atomic lists: command, args, tolerations, taints, …).
 */
/** Merge keys every kind shares (metadata and conditions lists). */
const COMMON_MERGE_KEYS: Readonly<Record<string, string>> = { ownerReferences: 'uid', conditions: 'type' };

/** The merge keys of one kind: the common ones plus its descriptor's (api/kinds/). */
export function mergeKeysOf(kind: string | undefined): Readonly<Record<string, string>> {
  const d = kind === undefined ? undefined : REGISTRY.all().find((k) => k.kind === kind);
  return d ? { ...COMMON_MERGE_KEYS, ...d.mergeKeys } : STRATEGIC_MERGE_KEYS;
}

/**
 * Merge keys of the lists of every registered kind, by field name: lists named
 * here merge element by element on that key; other lists are replaced whole
 * (as in Kubernetes for atomic lists: command, args, tolerations, …).
 */
export const STRATEGIC_MERGE_KEYS: Readonly<Record<string, string>> = Object.freeze(
  Object.assign({}, COMMON_MERGE_KEYS, ...REGISTRY.all().map((k) => k.mergeKeys)),
);

let activeKeys: Readonly<Record<string, string>> = STRATEGIC_MERGE_KEYS;

/** Lists of scalars whose patch strategy is merge (union), by field name. */
export const STRATEGIC_MERGE_PRIMITIVE_LISTS: ReadonlySet<string> = new Set(['finalizers']);

const DIRECTIVE = '$patch';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';
const SET_ORDER_PREFIX = '$setElementOrder/';
const RETAIN_KEYS = '$retainKeys';

/**
 * Kubernetes strategic merge patch over Flotilla's types: maps merge, `null`
 * deletes, lists with a merge key (the kind's, default all kinds') merge by that key,
 * other lists are replaced. Directives: `$patch: replace|delete|merge` in maps
 * and list elements, `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`,
 * `$retainKeys`. Throws BadRequestError on a malformed patch.
 */
export function applyStrategicMergePatch<T = unknown>(target: unknown, patch: unknown, mergeKeys: Readonly<Record<string, string>> = STRATEGIC_MERGE_KEYS): T {
  if (!isPlainObject(patch)) throw new BadRequestError('strategic merge patch must be a JSON object');
  // the walk is synchronous: the keys in force are set for its duration
  const saved = activeKeys;
  activeKeys = mergeKeys;
  try {
    const result = strategicMergeMap(isPlainObject(target) ? target : {}, patch, '');
    return (result ?? {}) as T;
  } finally {
    activeKeys = saved;
  }
}

/** Merges a patch map into a target map; returns undefined when the map is deleted. */
function strategicMergeMap(target: Obj, patch: Obj, path: string): Obj | undefined {
  const directive = patch[DIRECTIVE];
  if (directive !== undefined) {
    if (directive === 'delete') return undefined;
    if (directive === 'replace') {
      const out: Obj = {};
      for (const [k, v] of Object.entries(patch)) if (k !== DIRECTIVE && v !== null) out[k] = deepClone(v);
      return out;
    }
    if (directive !== 'merge') throw new BadRequestError(`unknown patch type: ${JSON.stringify(directive)} in map at ${path || '<root>'}`);
  }
  const out: Obj = deepClone(target);
  const retain = patch[RETAIN_KEYS];
  if (retain !== undefined) {
    if (!Array.isArray(retain) || !retain.every((x) => typeof x === 'string')) {
      throw new BadRequestError(`$retainKeys must be a list of strings at ${path || '<root>'}`);
    }
    for (const k of Object.keys(out)) if (!retain.includes(k) && !(k in patch)) delete out[k];
  }
  const orders: [string, unknown][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === DIRECTIVE || k === RETAIN_KEYS) continue;
    if (k.startsWith(SET_ORDER_PREFIX)) {
      orders.push([k.slice(SET_ORDER_PREFIX.length), v]);
      continue;
    }
    if (k.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      const field = k.slice(DELETE_PRIMITIVE_PREFIX.length);
      if (!Array.isArray(v)) throw new BadRequestError(`${k} must be a list`);
      const cur = out[field];
      if (Array.isArray(cur)) out[field] = cur.filter((x) => !v.some((d) => jsonEqualScalar(d, x)));
      continue;
    }
    const childPath = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
    } else if (isPlainObject(v)) {
      const merged = strategicMergeMap(isPlainObject(out[k]) ? (out[k] as Obj) : {}, v, childPath);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else if (Array.isArray(v)) {
      out[k] = strategicMergeList(k, Array.isArray(out[k]) ? (out[k] as unknown[]) : [], v, childPath);
    } else {
      out[k] = v;
    }
  }
  for (const [field, order] of orders) {
    if (!Array.isArray(order)) throw new BadRequestError(`${SET_ORDER_PREFIX}${field} must be a list`);
    const cur = out[field];
    if (Array.isArray(cur)) out[field] = applyElementOrder(field, cur, order);
  }
  return out;
}

function jsonEqualScalar(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function strategicMergeList(field: string, target: unknown[], patch: unknown[], path: string): unknown[] {
  // a `{$patch: replace}` element replaces the whole list with the other elements
  const replace = patch.some((x) => isPlainObject(x) && x[DIRECTIVE] === 'replace' && Object.keys(x).length === 1);
  if (replace) return patch.filter((x) => !(isPlainObject(x) && x[DIRECTIVE] === 'replace')).map((x) => deepClone(x));

  const key = activeKeys[field];
  if (key !== undefined && (patch.every((x) => isPlainObject(x)) && target.every((x) => isPlainObject(x)))) {
    const out = target.map((x) => deepClone(x)) as Obj[];
    for (const p of patch as Obj[]) {
      const kv = p[key];
      if (kv === undefined) {
        throw new BadRequestError(`map: ${JSON.stringify(p)} does not contain declared merge key: ${key}`);
      }
      const idx = out.findIndex((x) => jsonEqualScalar(x[key], kv));
      if (p[DIRECTIVE] === 'delete') {
        if (idx >= 0) out.splice(idx, 1);
        continue;
      }
      if (idx >= 0) {
        const merged = strategicMergeMap(out[idx]!, p, `${path}[${key}=${String(kv)}]`);
        if (merged === undefined) out.splice(idx, 1);
        else out[idx] = merged;
      } else {
        const added = strategicMergeMap({}, p, `${path}[${key}=${String(kv)}]`);
        if (added !== undefined) out.push(added);
      }
    }
    return out;
  }
  if (STRATEGIC_MERGE_PRIMITIVE_LISTS.has(field)) {
    const out = target.map((x) => deepClone(x));
    for (const p of patch) if (!out.some((x) => jsonEqualScalar(x, p))) out.push(deepClone(p));
    return out;
  }
  return patch.map((x) => deepClone(x));
}

function applyElementOrder(field: string, list: unknown[], order: unknown[]): unknown[] {
  const key = activeKeys[field];
  const idOf = (x: unknown): unknown => (key !== undefined && isPlainObject(x) ? x[key] : x);
  const ordered: unknown[] = [];
  const rest = [...list];
  for (const o of order) {
    const want = key !== undefined && isPlainObject(o) ? o[key] : o;
    const i = rest.findIndex((x) => jsonEqualScalar(idOf(x), want));
    if (i >= 0) ordered.push(rest.splice(i, 1)[0]);
  }
  return [...ordered, ...rest];
}

// ---------------------------------------------------------------- JSON patch

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

function parsePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw new BadRequestError(`JSON pointer "${ptr}" must start with "/"`);
  return ptr
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(tok: string, len: number, allowEnd: boolean, ptr: string): number {
  if (allowEnd && tok === '-') return len;
  if (!/^(0|[1-9]\d*)$/.test(tok)) throw new BadRequestError(`JSON pointer "${ptr}": "${tok}" is not an array index`);
  const i = Number(tok);
  if (i > len || (!allowEnd && i >= len)) throw new BadRequestError(`JSON pointer "${ptr}": index ${i} is out of bounds`);
  return i;
}

/** The container holding the last token of `ptr`, and that token. */
function resolveParent(doc: unknown, ptr: string): { parent: unknown; last: string } {
  const toks = parsePointer(ptr);
  if (toks.length === 0) throw new BadRequestError('JSON pointer "" addresses the whole document');
  let cur = doc;
  for (const t of toks.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false, ptr)];
    else if (isPlainObject(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else throw new BadRequestError(`JSON pointer "${ptr}": path does not exist`);
  }
  return { parent: cur, last: toks[toks.length - 1]! };
}

function getAt(doc: unknown, ptr: string): unknown {
  let cur = doc;
  for (const t of parsePointer(ptr)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false, ptr)];
    else if (isPlainObject(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else throw new BadRequestError(`JSON pointer "${ptr}": path does not exist`);
  }
  return cur;
}

function addAt(doc: unknown, ptr: string, value: unknown): unknown {
  if (ptr === '') return value;
  const { parent, last } = resolveParent(doc, ptr);
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true, ptr), 0, value);
  else if (isPlainObject(parent)) parent[last] = value;
  else throw new BadRequestError(`JSON pointer "${ptr}": parent is not an object or array`);
  return doc;
}

function removeAt(doc: unknown, ptr: string): unknown {
  const { parent, last } = resolveParent(doc, ptr);
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, false, ptr);
    return parent.splice(i, 1)[0];
  }
  if (isPlainObject(parent) && Object.prototype.hasOwnProperty.call(parent, last)) {
    const v = parent[last];
    delete parent[last];
    return v;
  }
  throw new BadRequestError(`JSON pointer "${ptr}": path does not exist`);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * RFC 6902 JSON patch. Operations apply in order to a copy; any failure
 * (bad pointer, failed `test`) throws BadRequestError and nothing is applied.
 */
export function applyJsonPatch<T = unknown>(target: unknown, ops: unknown): T {
  if (!Array.isArray(ops)) throw new BadRequestError('JSON patch must be a list of operations');
  let doc = deepClone(target);
  ops.forEach((raw, i) => {
    if (!isPlainObject(raw)) throw new BadRequestError(`JSON patch operation ${i} is not an object`);
    const op = raw.op;
    const path = raw.path;
    if (typeof path !== 'string') throw new BadRequestError(`JSON patch operation ${i}: "path" is missing`);
    const needValue = op === 'add' || op === 'replace' || op === 'test';
    if (needValue && !Object.prototype.hasOwnProperty.call(raw, 'value')) {
      throw new BadRequestError(`JSON patch operation ${i} (${plainValue(op)}): "value" is missing`);
    }
    switch (op) {
      case 'add':
        doc = addAt(doc, path, deepClone(raw.value));
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'replace':
        if (path === '') doc = deepClone(raw.value);
        else {
          removeAt(doc, path);
          doc = addAt(doc, path, deepClone(raw.value));
        }
        break;
      case 'move':
      case 'copy': {
        const from = raw.from;
        if (typeof from !== 'string') throw new BadRequestError(`JSON patch operation ${i} (${op}): "from" is missing`);
        if (op === 'move' && path.startsWith(`${from}/`)) throw new BadRequestError(`JSON patch operation ${i}: cannot move "${from}" into itself`);
        const v = op === 'move' ? removeAt(doc, from) : deepClone(getAt(doc, from));
        doc = addAt(doc, path, v);
        break;
      }
      case 'test':
        if (!deepEqual(getAt(doc, path), raw.value)) throw new BadRequestError(`JSON patch test operation failed at "${path}"`);
        break;
      default:
        throw new BadRequestError(`JSON patch operation ${i}: unknown op ${JSON.stringify(op)}`);
    }
  });
  return doc as T;
}
