// What a kind is: one descriptor per kind (api/kinds/<kind>.ts) holds
// everything the API machinery does differently for it — names and scope,
// subresources, defaulting, validation, the known fields, field labels, the
// REST strategy and the table columns. Every switch over kinds (routing,
// discovery, defaulting, validation, unknown-field checks, field selectors,
// printing, namespace cleanup) reads the registry (registry.ts) instead.
import { isPlainObject } from './helpers.js';
import type { FieldErrors } from './validation-core.js';

type Obj = Record<string, unknown>;

/** `ANY`: any value; an object: known fields; a one-element array: a list of that. */
export type Schema = typeof ANY | { readonly [field: string]: Schema } | readonly [Schema];
export const ANY = 'any' as const;

/** Reads a field label's value from an object (strings; absent = ""). */
export type FieldGetter = (obj: Obj) => string;

/** A column of a kind's table, as kubectl's Table columnDefinitions. */
export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  /** 0: always shown; 1: only with `-o wide`. */
  priority: number;
}

export interface Printer {
  columns: readonly ColumnDefinition[];
  /** One cell per column, for an object at `nowMs`. */
  cells(obj: Obj, nowMs: number): unknown[];
}

/** How a delete of an object of this kind proceeds (graceful pods, terminating namespaces). */
export interface DeleteDecision {
  /** The object to store instead of removing it (deletionTimestamp set …); absent: remove now. */
  mark?: Obj;
}

export interface RestStrategy {
  /**
   * Fields the server owns on create, reset after defaulting (a pod starts
   * Pending whatever the body says). Mutates `obj`, a private copy.
   */
  prepareForCreate?(obj: Obj): void;
  /**
   * A (non-status) update: mutate `next` (a private copy) from `old`; with a
   * status subresource the stored status is already carried over.
   */
  prepareForUpdate?(next: Obj, old: Obj): void;
  /**
   * What a DELETE does to `cur` (after finalizer handling): return `mark` to keep
   * the object with a deletionTimestamp (graceful deletion), nothing to remove it.
   * Throws a typed error to refuse (a negative grace period, an undeletable namespace).
   */
  delete?(cur: Obj, opts: { gracePeriodSeconds?: number | undefined }, nowMs: number): DeleteDecision;
  /**
   * Whether an object being deleted whose last finalizer went may be removed
   * now (default yes). A pod waits for its node; a namespace for the namespace
   * controller.
   */
  deletionDone?(obj: Obj): boolean;
}

/** How the `scale` subresource (autoscaling/v1 Scale) reads and writes a kind. */
export interface ScaleAccessors {
  specReplicas(o: Obj): number;
  statusReplicas(o: Obj): number;
  /** The label selector as a string (`app=web`), as Scale.status.selector carries it. */
  selector(o: Obj): string;
  setSpecReplicas(o: Obj, n: number): void;
}

export interface KindDescriptor {
  /** API group; '' is the core group (`/api/v1`). */
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** `group/version`, or `v1` for the core group, as written in apiVersion. */
  apiVersion: string;
  /** REST path segment and etcd key segment, e.g. `pods`. */
  plural: string;
  singular: string;
  shortNames: readonly string[];
  namespaced: boolean;
  categories: readonly string[];
  /** Verbs served, for discovery. */
  verbs: readonly string[];
  /** Subresources served: `status`, `binding`, `log`, later `scale`. */
  subresources: readonly string[];
  /** The rule `metadata.name` follows (DNS-1123 subdomain by default). */
  nameRule(name: string): string[];
  /** Fills what the API server fills before validation (on a private copy). */
  defaults?(obj: Obj): void;
  /** Checks the kind's own fields (metadata is checked for every kind). */
  validate(e: FieldErrors, obj: Obj, md: Obj): void;
  /** The extra rules of an update (immutable fields, …). */
  validateUpdate?(e: FieldErrors, obj: Obj, old: Obj): void;
  /** The known top-level fields besides apiVersion, kind and metadata. */
  schema: { readonly [field: string]: Schema };
  /** Field labels for field selectors, besides metadata.name and metadata.namespace. */
  fieldLabels: Readonly<Record<string, FieldGetter>>;
  /** Strategic-merge keys of this kind's lists, by field name (added to the common ones). */
  mergeKeys: Readonly<Record<string, string>>;
  strategy: RestStrategy;
  printer: Printer;
  /** With `scale` in subresources: how replicas and the selector are read and written. */
  scale?: ScaleAccessors;
}

/** What a kind file declares; the rest is filled by defineKind. */
export interface KindSpec extends Partial<Omit<KindDescriptor, 'group' | 'version' | 'kind' | 'plural' | 'validate' | 'schema' | 'printer' | 'namespaced'>> {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Required: a kind without a validator cannot be defined. */
  validate: KindDescriptor['validate'];
  schema: KindDescriptor['schema'];
  printer?: Printer;
}

export const ALL_VERBS = Object.freeze(['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);

/**
 * A frozen descriptor from a kind file's spec. Throws when a required part is
 * missing, so a kind cannot be registered without a validator or schema.
 */
export function defineKind(spec: KindSpec, fallback: { nameRule: (n: string) => string[]; printer: Printer }): KindDescriptor {
  for (const k of ['group', 'version', 'kind', 'plural'] as const) {
    if (typeof spec[k] !== 'string' || (k !== 'group' && spec[k] === '')) throw new Error(`kind descriptor ${spec.kind ?? '?'}: ${k} is required`);
  }
  if (typeof spec.validate !== 'function') throw new Error(`kind descriptor ${spec.kind}: a validate function is required`);
  if (spec.schema === null || typeof spec.schema !== 'object') throw new Error(`kind descriptor ${spec.kind}: a schema is required`);
  const d: KindDescriptor = {
    group: spec.group,
    version: spec.version,
    kind: spec.kind,
    listKind: spec.listKind ?? `${spec.kind}List`,
    apiVersion: spec.group === '' ? spec.version : `${spec.group}/${spec.version}`,
    plural: spec.plural,
    singular: spec.singular ?? spec.kind.toLowerCase(),
    shortNames: Object.freeze([...(spec.shortNames ?? [])]),
    namespaced: spec.namespaced,
    categories: Object.freeze([...(spec.categories ?? [])]),
    verbs: Object.freeze([...(spec.verbs ?? ALL_VERBS)]),
    subresources: Object.freeze([...(spec.subresources ?? [])]),
    nameRule: spec.nameRule ?? fallback.nameRule,
    ...(spec.defaults ? { defaults: spec.defaults } : {}),
    validate: spec.validate,
    ...(spec.validateUpdate ? { validateUpdate: spec.validateUpdate } : {}),
    schema: spec.schema,
    fieldLabels: Object.freeze({ ...(spec.fieldLabels ?? {}) }),
    mergeKeys: Object.freeze({ ...(spec.mergeKeys ?? {}) }),
    strategy: Object.freeze({ ...(spec.strategy ?? {}) }),
    printer: spec.printer ?? fallback.printer,
    ...(spec.scale ? { scale: spec.scale } : {}),
  };
  return Object.freeze(d);
}

/** A field label getter for a path of keys (`spec.nodeName`). */
export function fieldPath(...keys: string[]): FieldGetter {
  return (obj) => {
    let cur: unknown = obj;
    for (const k of keys) {
      if (!isPlainObject(cur)) return '';
      cur = cur[k];
    }
    if (cur === undefined || cur === null) return '';
    if (typeof cur === 'string') return cur;
    if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
    return '';
  };
}

/** A boolean field label: `true` or `false` (absent = false). */
export function boolFieldPath(...keys: string[]): FieldGetter {
  const get = fieldPath(...keys);
  return (o) => (get(o) === 'true' ? 'true' : 'false');
}

/** A column definition (`format: name` marks the object name column). */
export function column(name: string, opts: { type?: string; priority?: number; format?: string; description?: string } = {}): ColumnDefinition {
  return { name, type: opts.type ?? 'string', format: opts.format ?? '', description: opts.description ?? name, priority: opts.priority ?? 0 };
}
