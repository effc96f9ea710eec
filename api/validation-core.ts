// The building blocks of validation, shared by every kind file (api/kinds/):
// typed accessors, metadata, labels, quantities, conditions. Validation of untrusted objects: every field is type-checked before use, so
// garbage produces field errors, never a TypeError. Errors read like
// Kubernetes: `spec.containers[0].image: Required value`, gathered into
// InvalidError `Pod "web" is invalid: …`.
import { isIP } from 'node:net';
import { BadRequestError, InvalidError, type FieldCause } from './errors.js';
import { isPlainObject, jsonEqual } from './helpers.js';
import { quoteValue } from './quote.js';
import { QUANTITY_SYNTAX_MESSAGE, tryParseQuantity, type Quantity } from './quantity.js';
import {
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  envVarNameErrors,
  isRFC3339,
  labelValueErrors,
  portNameErrors,
  qualifiedNameErrors,
} from './validation-rules.js';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------- field errors

/** Kubernetes cause types (`reason` of a FieldCause) and how each reads. */
const ERROR_TYPES = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueTypeInvalid: 'Invalid value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueNotFound: 'Not found',
} as const;
export type FieldErrorReason = keyof typeof ERROR_TYPES;

/** How a bad value is shown inside a message: strings quoted, numbers bare, all cut to a sane length (api/quote.ts). */
export function formatFieldValue(v: unknown): string {
  return quoteValue(v);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/** Builds the errors of one validation pass; field paths are plain strings. */
export class FieldErrors {
  readonly causes: FieldCause[] = [];

  add(reason: FieldErrorReason, field: string, detail?: string, value?: { v: unknown }): void {
    let message: string = ERROR_TYPES[reason];
    if (value) message += `: ${formatFieldValue(value.v)}`;
    if (detail) message += `: ${detail}`;
    this.causes.push({ field, reason, message });
  }
  required(field: string, detail?: string): void {
    this.add('FieldValueRequired', field, detail);
  }
  invalid(field: string, value: unknown, detail?: string): void {
    this.add('FieldValueInvalid', field, detail, { v: value });
  }
  duplicate(field: string, value: unknown): void {
    this.add('FieldValueDuplicate', field, undefined, { v: value });
  }
  notSupported(field: string, value: unknown, supported: readonly string[]): void {
    this.add('FieldValueNotSupported', field, `supported values: ${[...supported].sort().map((s) => JSON.stringify(s)).join(', ')}`, { v: value });
  }
  forbidden(field: string, detail: string): void {
    this.add('FieldValueForbidden', field, detail);
  }
  notFound(field: string, value: unknown): void {
    this.add('FieldValueNotFound', field, undefined, { v: value });
  }
  tooLong(field: string, max: number): void {
    this.add('FieldValueTooLong', field, `must have at most ${max} bytes`);
  }
  /** `field: Invalid value: "string": must be an array` */
  wrongType(field: string, value: unknown, want: 'an object' | 'an array' | 'a string' | 'a boolean' | 'an integer' | 'a number'): void {
    this.add('FieldValueTypeInvalid', field, `must be ${want}`, { v: typeName(value) });
  }
  /** Runs a string rule and adds one Invalid error per message. */
  rule(field: string, value: string, errs: string[]): void {
    for (const e of errs) this.invalid(field, value, e);
  }
}

/** One cause as Kubernetes prints it: `spec.containers[0].image: Required value`. */
export function formatCause(c: FieldCause): string {
  return c.field ? `${c.field}: ${c.message}` : c.message;
}

/**
 * The InvalidError for a kind/name and its causes:
 * `Pod "web" is invalid: spec.containers[0].image: Required value`;
 * several causes are listed in brackets, joined with `, `, as Kubernetes does.
 */
export function invalidError(kind: string, name: string, causes: FieldCause[], group = ''): InvalidError {
  const list = causes.map(formatCause);
  const body = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  // kube-apiserver qualifies a kind of a named group: `DaemonSet.apps "x" is invalid`
  const qualified = group ? `${kind}.${group}` : kind;
  return new InvalidError(`${qualified} ${quoteValue(name)} is invalid: ${body}`, causes, { kind, name, ...(group ? { group } : {}) });
}

// ---------------------------------------------------------------- typed accessors

export function str(e: FieldErrors, o: Obj, key: string, path: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) e.required(path);
    return undefined;
  }
  if (typeof v !== 'string') {
    e.wrongType(path, v, 'a string');
    return undefined;
  }
  if (required && v === '') {
    e.required(path);
    return undefined;
  }
  return v;
}

export function bool(e: FieldErrors, o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    e.wrongType(path, v, 'a boolean');
    return undefined;
  }
  return v;
}

export function int(e: FieldErrors, o: Obj, key: string, path: string, required = false): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) e.required(path);
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    e.wrongType(path, v, 'an integer');
    return undefined;
  }
  return v;
}

export function obj(e: FieldErrors, o: Obj, key: string, path: string, required = false): Obj | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) e.required(path);
    return undefined;
  }
  if (!isPlainObject(v)) {
    e.wrongType(path, v, 'an object');
    return undefined;
  }
  return v;
}

export function arr(e: FieldErrors, o: Obj, key: string, path: string): unknown[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    e.wrongType(path, v, 'an array');
    return undefined;
  }
  return v;
}

/** The elements of an array field that are objects; others are reported. */
export function objItems(e: FieldErrors, o: Obj, key: string, path: string): [Obj, string][] {
  const list = arr(e, o, key, path);
  if (!list) return [];
  const out: [Obj, string][] = [];
  list.forEach((x, i) => {
    const p = `${path}[${i}]`;
    if (isPlainObject(x)) out.push([x, p]);
    else e.wrongType(p, x, 'an object');
  });
  return out;
}

export function stringArray(e: FieldErrors, o: Obj, key: string, path: string): string[] | undefined {
  const list = arr(e, o, key, path);
  if (!list) return undefined;
  const out: string[] = [];
  list.forEach((x, i) => {
    if (typeof x === 'string') out.push(x);
    else e.wrongType(`${path}[${i}]`, x, 'a string');
  });
  return out;
}

/** A map of string to string (labels, annotations, nodeSelector). */
export function stringMap(e: FieldErrors, o: Obj, key: string, path: string): Record<string, string> | undefined {
  const m = obj(e, o, key, path);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === 'string') out[k] = v;
    else e.wrongType(`${path}[${k}]`, v, 'a string');
  }
  return out;
}

export function oneOf(e: FieldErrors, o: Obj, key: string, path: string, allowed: readonly string[]): string | undefined {
  const v = str(e, o, key, path);
  if (v !== undefined && !allowed.includes(v)) {
    e.notSupported(path, v, allowed);
    return undefined;
  }
  return v;
}

export function timestamp(e: FieldErrors, o: Obj, key: string, path: string): void {
  const v = str(e, o, key, path);
  if (v !== undefined && v !== '' && !isRFC3339(v)) e.invalid(path, v, 'must be an RFC 3339 timestamp');
}

export function ip(e: FieldErrors, o: Obj, key: string, path: string): void {
  const v = str(e, o, key, path);
  if (v !== undefined && v !== '' && isIP(v) === 0) e.invalid(path, v, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)');
}

export function nonNegative(e: FieldErrors, o: Obj, key: string, path: string): number | undefined {
  const v = int(e, o, key, path);
  if (v !== undefined && v < 0) e.invalid(path, v, 'must be greater than or equal to 0');
  return v;
}

// ---------------------------------------------------------------- metadata

export type NameRule = (v: string) => string[];

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;
/** A UID as the server assigns them (RFC 4122 text form). */
const UID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function validateMetadata(e: FieldErrors, o: Obj, res: { namespaced: boolean }, nameRule: NameRule): Obj {
  if (o.metadata !== undefined && o.metadata !== null && !isPlainObject(o.metadata)) {
    e.wrongType('metadata', o.metadata, 'an object');
    return {};
  }
  const md = isPlainObject(o.metadata) ? o.metadata : {};
  const name = str(e, md, 'name', 'metadata.name');
  const generateName = str(e, md, 'generateName', 'metadata.generateName');
  const absent = (v: unknown): boolean => v === undefined || v === null || v === '';
  if (name === undefined || name === '') {
    if (absent(md.name) && absent(md.generateName)) e.required('metadata.name', 'name or generateName is required');
  } else {
    e.rule('metadata.name', name, nameRule(name));
  }
  if (generateName) {
    // the generated suffix is five characters; the prefix must be a valid name once it is added
    e.rule('metadata.generateName', generateName, nameRule(`${generateName}x`));
  }
  const ns = str(e, md, 'namespace', 'metadata.namespace');
  if (res.namespaced) {
    if (ns === undefined || ns === '') e.required('metadata.namespace');
    else e.rule('metadata.namespace', ns, dns1123LabelErrors(ns));
  } else if (ns !== undefined && ns !== '') {
    e.forbidden('metadata.namespace', 'not allowed on this type');
  }
  str(e, md, 'uid', 'metadata.uid');
  str(e, md, 'resourceVersion', 'metadata.resourceVersion');
  nonNegative(e, md, 'generation', 'metadata.generation');
  timestamp(e, md, 'creationTimestamp', 'metadata.creationTimestamp');
  timestamp(e, md, 'deletionTimestamp', 'metadata.deletionTimestamp');
  nonNegative(e, md, 'deletionGracePeriodSeconds', 'metadata.deletionGracePeriodSeconds');
  validateLabels(e, stringMap(e, md, 'labels', 'metadata.labels'), 'metadata.labels');
  const annotations = stringMap(e, md, 'annotations', 'metadata.annotations');
  if (annotations) {
    let total = 0;
    for (const [k, v] of Object.entries(annotations)) {
      e.rule('metadata.annotations', k, qualifiedNameErrors(k.toLowerCase()));
      total += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    if (total > TOTAL_ANNOTATION_SIZE_LIMIT) e.tooLong('metadata.annotations', TOTAL_ANNOTATION_SIZE_LIMIT);
  }
  const finalizers = stringArray(e, md, 'finalizers', 'metadata.finalizers');
  finalizers?.forEach((f, i) => e.rule(`metadata.finalizers[${i}]`, f, qualifiedNameErrors(f)));
  const controllers: string[] = [];
  for (const [ref, p] of objItems(e, md, 'ownerReferences', 'metadata.ownerReferences')) {
    str(e, ref, 'apiVersion', `${p}.apiVersion`, true);
    const kind = str(e, ref, 'kind', `${p}.kind`, true);
    if (kind === 'List') e.invalid(`${p}.kind`, kind, 'kind must not be List');
    const name = str(e, ref, 'name', `${p}.name`, true);
    const uid = str(e, ref, 'uid', `${p}.uid`, true);
    if (uid && !UID.test(uid)) e.invalid(`${p}.uid`, uid, 'must be a UID as the server assigns them (e.g. 8d3c5b4e-1f2a-4b6c-9d0e-1234567890ab)');
    if (bool(e, ref, 'controller', `${p}.controller`) === true) controllers.push(`${kind ?? ''}/${name ?? ''}`);
    bool(e, ref, 'blockOwnerDeletion', `${p}.blockOwnerDeletion`);
  }
  if (controllers.length > 1) {
    e.invalid('metadata.ownerReferences', controllers.join(', '), `Only one reference can have Controller set to true. Found "true" in references for ${controllers.join(' and ')}`);
  }
  return md;
}

export function validateLabels(e: FieldErrors, labels: Record<string, string> | undefined, path: string): void {
  if (!labels) return;
  for (const [k, v] of Object.entries(labels)) {
    e.rule(path, k, qualifiedNameErrors(k));
    e.rule(`${path}[${k}]`, v, labelValueErrors(v));
  }
}

// ---------------------------------------------------------------- resources (quantities)

export const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];

export function isValidResourceName(name: string, standard: readonly string[]): boolean {
  if (standard.includes(name) || name.startsWith('hugepages-')) return true;
  // extended resources must be fully qualified (`example.com/gpu`)
  return name.includes('/') && qualifiedNameErrors(name).length === 0;
}

/** Validates a ResourceList and returns its parsed quantities. */
export function resourceList(e: FieldErrors, o: Obj, key: string, path: string, standard: readonly string[]): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  const m = obj(e, o, key, path);
  if (!m) return out;
  for (const [name, v] of Object.entries(m)) {
    const p = `${path}[${name}]`;
    if (!isValidResourceName(name, standard)) {
      e.invalid(p, name, 'must be a standard resource type or fully qualified');
      continue;
    }
    if (typeof v !== 'string' && typeof v !== 'number') {
      e.wrongType(p, v, 'a string');
      continue;
    }
    const q = tryParseQuantity(v);
    if (!q) {
      e.invalid(p, v, QUANTITY_SYNTAX_MESSAGE);
      continue;
    }
    if (q.sign() < 0) {
      e.invalid(p, String(v), 'must be greater than or equal to 0');
      continue;
    }
    out.set(name, q);
  }
  return out;
}


// ---------------------------------------------------------------- conditions, CIDRs

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

export function validateConditions(e: FieldErrors, status: Obj, path: string): void {
  const seen = new Set<string>();
  for (const [c, p] of objItems(e, status, 'conditions', path)) {
    const type = str(e, c, 'type', `${p}.type`, true);
    if (type !== undefined) {
      if (seen.has(type)) e.duplicate(`${p}.type`, type);
      seen.add(type);
    }
    const s = str(e, c, 'status', `${p}.status`, true);
    if (s !== undefined && !(CONDITION_STATUSES as readonly string[]).includes(s)) e.notSupported(`${p}.status`, s, CONDITION_STATUSES);
    str(e, c, 'reason', `${p}.reason`);
    str(e, c, 'message', `${p}.message`);
    for (const k of ['lastTransitionTime', 'lastHeartbeatTime']) timestamp(e, c, k, `${p}.${k}`);
    if (c.lastProbeTime !== null) timestamp(e, c, 'lastProbeTime', `${p}.lastProbeTime`);
  }
}


export function validateCIDR(e: FieldErrors, path: string, v: string): void {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  const ok = m !== null && m.slice(1, 5).every((x) => Number(x) <= 255) && Number(m[5]) <= 32;
  const v6 = /^[0-9a-fA-F:]+\/\d{1,3}$/.test(v) && v.includes(':') && Number(v.split('/')[1]) <= 128;
  if (!ok && !v6) e.invalid(path, v, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)');
}


// ---------------------------------------------------------------- updates

export function validateMetadataUpdate(e: FieldErrors, md: Obj, oldMd: Obj): void {
  for (const k of ['name', 'namespace']) {
    const nv = md[k] ?? '';
    const ov = oldMd[k] ?? '';
    if (nv !== ov) e.invalid(`metadata.${k}`, nv, 'field is immutable');
  }
  if (md.uid !== undefined && md.uid !== '' && oldMd.uid !== undefined && md.uid !== oldMd.uid) {
    e.invalid('metadata.uid', md.uid, 'field is immutable');
  }
  if (md.creationTimestamp !== undefined && oldMd.creationTimestamp !== undefined && md.creationTimestamp !== oldMd.creationTimestamp) {
    e.invalid('metadata.creationTimestamp', md.creationTimestamp, 'field is immutable');
  }
  if (md.generateName !== undefined && oldMd.generateName !== undefined && md.generateName !== oldMd.generateName) {
    e.invalid('metadata.generateName', md.generateName, 'field is immutable');
  }
}


/** The paths at which two JSON values differ: leaves, lists of scalars, lists of different length. */
export function diffPaths(a: unknown, b: unknown, path: string): string[] {
  if (jsonEqual(a, b)) return [];
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffPaths(a[k], b[k], `${path}.${k}`));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every(isPlainObject) && b.every(isPlainObject)) {
    return a.flatMap((x, i) => diffPaths(x, b[i], `${path}[${i}]`));
  }
  return [path];
}

