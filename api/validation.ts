// Validation of untrusted objects: every field is type-checked before use, so
// garbage produces field errors, never a TypeError. Errors read like
// Kubernetes: `spec.containers[0].image: Required value`, gathered into
// InvalidError `Pod "web" is invalid: …`.
import { isIP } from 'node:net';
import { BadRequestError, InvalidError, type FieldCause } from './errors.js';
import { isPlainObject } from './helpers.js';
import { resourceForObject, type ResourceInfo } from './resources.js';
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

/** How a bad value is shown inside a message: strings quoted, numbers bare. */
export function formatFieldValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function typeName(v: unknown): string {
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
export function invalidError(kind: string, name: string, causes: FieldCause[]): InvalidError {
  const list = causes.map(formatCause);
  const body = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  return new InvalidError(`${kind} ${JSON.stringify(name)} is invalid: ${body}`, causes, { kind, name });
}

// ---------------------------------------------------------------- typed accessors

function str(e: FieldErrors, o: Obj, key: string, path: string, required = false): string | undefined {
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

function bool(e: FieldErrors, o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    e.wrongType(path, v, 'a boolean');
    return undefined;
  }
  return v;
}

function int(e: FieldErrors, o: Obj, key: string, path: string, required = false): number | undefined {
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

function obj(e: FieldErrors, o: Obj, key: string, path: string, required = false): Obj | undefined {
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

function arr(e: FieldErrors, o: Obj, key: string, path: string): unknown[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    e.wrongType(path, v, 'an array');
    return undefined;
  }
  return v;
}

/** The elements of an array field that are objects; others are reported. */
function objItems(e: FieldErrors, o: Obj, key: string, path: string): [Obj, string][] {
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

function stringArray(e: FieldErrors, o: Obj, key: string, path: string): string[] | undefined {
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
function stringMap(e: FieldErrors, o: Obj, key: string, path: string): Record<string, string> | undefined {
  const m = obj(e, o, key, path);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === 'string') out[k] = v;
    else e.wrongType(`${path}[${k}]`, v, 'a string');
  }
  return out;
}

function oneOf(e: FieldErrors, o: Obj, key: string, path: string, allowed: readonly string[]): string | undefined {
  const v = str(e, o, key, path);
  if (v !== undefined && !allowed.includes(v)) {
    e.notSupported(path, v, allowed);
    return undefined;
  }
  return v;
}

function timestamp(e: FieldErrors, o: Obj, key: string, path: string): void {
  const v = str(e, o, key, path);
  if (v !== undefined && v !== '' && !isRFC3339(v)) e.invalid(path, v, 'must be an RFC 3339 timestamp');
}

function ip(e: FieldErrors, o: Obj, key: string, path: string): void {
  const v = str(e, o, key, path);
  if (v !== undefined && v !== '' && isIP(v) === 0) e.invalid(path, v, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)');
}

function nonNegative(e: FieldErrors, o: Obj, key: string, path: string): number | undefined {
  const v = int(e, o, key, path);
  if (v !== undefined && v < 0) e.invalid(path, v, 'must be greater than or equal to 0');
  return v;
}

// ---------------------------------------------------------------- metadata

type NameRule = (v: string) => string[];

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

function validateMetadata(e: FieldErrors, o: Obj, res: ResourceInfo, nameRule: NameRule): Obj {
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
  for (const [ref, p] of objItems(e, md, 'ownerReferences', 'metadata.ownerReferences')) {
    str(e, ref, 'apiVersion', `${p}.apiVersion`, true);
    str(e, ref, 'kind', `${p}.kind`, true);
    str(e, ref, 'name', `${p}.name`, true);
    str(e, ref, 'uid', `${p}.uid`, true);
    bool(e, ref, 'controller', `${p}.controller`);
  }
  return md;
}

function validateLabels(e: FieldErrors, labels: Record<string, string> | undefined, path: string): void {
  if (!labels) return;
  for (const [k, v] of Object.entries(labels)) {
    e.rule(path, k, qualifiedNameErrors(k));
    e.rule(`${path}[${k}]`, v, labelValueErrors(v));
  }
}

// ---------------------------------------------------------------- resources (quantities)

const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];

function isValidResourceName(name: string, standard: readonly string[]): boolean {
  if (standard.includes(name) || name.startsWith('hugepages-')) return true;
  // extended resources must be fully qualified (`example.com/gpu`)
  return name.includes('/') && qualifiedNameErrors(name).length === 0;
}

/** Validates a ResourceList and returns its parsed quantities. */
function resourceList(e: FieldErrors, o: Obj, key: string, path: string, standard: readonly string[]): Map<string, Quantity> {
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

// ---------------------------------------------------------------- Pod

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;
const DNS_POLICIES = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] as const;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
const HOST_PATH_TYPES = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] as const;
const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
const SUPPORTED_VOLUME_TYPES = ['emptyDir', 'hostPath'];
const KNOWN_VOLUME_TYPES = [
  'awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephfs', 'cinder', 'configMap', 'csi', 'downwardAPI', 'ephemeral',
  'fc', 'flexVolume', 'flocker', 'gcePersistentDisk', 'gitRepo', 'glusterfs', 'image', 'iscsi', 'nfs',
  'persistentVolumeClaim', 'photonPersistentDisk', 'portworxVolume', 'projected', 'quobyte', 'rbd', 'scaleIO',
  'secret', 'storageos', 'vsphereVolume',
];

interface PodContext {
  volumeNames: Set<string>;
  containerNames: Map<string, string>;
  hostPorts: Map<string, string>;
  hostNetwork: boolean;
}

function validateContainer(e: FieldErrors, c: Obj, p: string, ctx: PodContext): void {
  const name = str(e, c, 'name', `${p}.name`, true);
  if (name !== undefined) {
    const errs = dns1123LabelErrors(name);
    e.rule(`${p}.name`, name, errs);
    if (errs.length === 0) {
      if (ctx.containerNames.has(name)) e.duplicate(`${p}.name`, name);
      else ctx.containerNames.set(name, p);
    }
  }
  const image = str(e, c, 'image', `${p}.image`, true);
  if (image !== undefined && image.trim() !== image) e.invalid(`${p}.image`, image, 'must not have leading or trailing whitespace');
  oneOf(e, c, 'imagePullPolicy', `${p}.imagePullPolicy`, PULL_POLICIES);
  stringArray(e, c, 'command', `${p}.command`);
  stringArray(e, c, 'args', `${p}.args`);
  str(e, c, 'workingDir', `${p}.workingDir`);
  str(e, c, 'terminationMessagePath', `${p}.terminationMessagePath`);
  oneOf(e, c, 'terminationMessagePolicy', `${p}.terminationMessagePolicy`, ['File', 'FallbackToLogsOnError']);
  bool(e, c, 'stdin', `${p}.stdin`);
  bool(e, c, 'tty', `${p}.tty`);

  for (const [env, ep] of objItems(e, c, 'env', `${p}.env`)) {
    const n = str(e, env, 'name', `${ep}.name`, true);
    if (n !== undefined) e.rule(`${ep}.name`, n, envVarNameErrors(n));
    str(e, env, 'value', `${ep}.value`);
  }

  const portNames = new Set<string>();
  const portKeys = new Set<string>();
  for (const [port, pp] of objItems(e, c, 'ports', `${p}.ports`)) {
    const pn = str(e, port, 'name', `${pp}.name`);
    if (pn !== undefined && pn !== '') {
      const errs = portNameErrors(pn);
      e.rule(`${pp}.name`, pn, errs);
      if (errs.length === 0) {
        if (portNames.has(pn)) e.duplicate(`${pp}.name`, pn);
        portNames.add(pn);
      }
    }
    const cp = int(e, port, 'containerPort', `${pp}.containerPort`, true);
    if (cp !== undefined && (cp < 1 || cp > 65535)) e.invalid(`${pp}.containerPort`, cp, 'must be between 1 and 65535, inclusive');
    const hp = int(e, port, 'hostPort', `${pp}.hostPort`);
    if (hp !== undefined && hp !== 0 && (hp < 1 || hp > 65535)) e.invalid(`${pp}.hostPort`, hp, 'must be between 1 and 65535, inclusive');
    const proto = oneOf(e, port, 'protocol', `${pp}.protocol`, PROTOCOLS) ?? 'TCP';
    ip(e, port, 'hostIP', `${pp}.hostIP`);
    if (cp !== undefined && cp >= 1 && cp <= 65535) {
      const key = `${cp}/${proto}`;
      if (portKeys.has(key)) e.duplicate(`${pp}.containerPort`, key);
      portKeys.add(key);
      if (ctx.hostNetwork && hp !== undefined && hp !== cp) {
        e.invalid(`${pp}.hostPort`, hp, '`hostPort` must match `containerPort` when `hostNetwork` is true');
      }
    }
    if (hp !== undefined && hp >= 1 && hp <= 65535) {
      const key = `${hp}/${proto}`;
      if (ctx.hostPorts.has(key)) e.duplicate(`${pp}.hostPort`, key);
      else ctx.hostPorts.set(key, pp);
    }
  }

  const resources = obj(e, c, 'resources', `${p}.resources`);
  if (resources) {
    const limits = resourceList(e, resources, 'limits', `${p}.resources.limits`, STANDARD_CONTAINER_RESOURCES);
    const requests = resourceList(e, resources, 'requests', `${p}.resources.requests`, STANDARD_CONTAINER_RESOURCES);
    for (const [name, req] of requests) {
      const lim = limits.get(name);
      if (lim && req.cmp(lim) > 0) {
        e.invalid(`${p}.resources.requests[${name}]`, req.toString(), `must be less than or equal to ${name} limit of ${lim.toString()}`);
      }
    }
  }

  const mountPaths = new Set<string>();
  for (const [m, mp] of objItems(e, c, 'volumeMounts', `${p}.volumeMounts`)) {
    const vn = str(e, m, 'name', `${mp}.name`, true);
    if (vn !== undefined && !ctx.volumeNames.has(vn)) e.notFound(`${mp}.name`, vn);
    const path = str(e, m, 'mountPath', `${mp}.mountPath`, true);
    if (path !== undefined) {
      if (mountPaths.has(path)) e.invalid(`${mp}.mountPath`, path, 'must be unique');
      mountPaths.add(path);
    }
    bool(e, m, 'readOnly', `${mp}.readOnly`);
    const sub = str(e, m, 'subPath', `${mp}.subPath`);
    if (sub) {
      if (sub.startsWith('/')) e.invalid(`${mp}.subPath`, sub, 'must be a relative path');
      if (sub.split('/').includes('..')) e.invalid(`${mp}.subPath`, sub, "must not contain '..'");
    }
  }
}

function validateVolumes(e: FieldErrors, spec: Obj): Set<string> {
  const names = new Set<string>();
  for (const [v, p] of objItems(e, spec, 'volumes', 'spec.volumes')) {
    const name = str(e, v, 'name', `${p}.name`, true);
    if (name !== undefined) {
      const errs = dns1123LabelErrors(name);
      e.rule(`${p}.name`, name, errs);
      if (names.has(name)) e.duplicate(`${p}.name`, name);
      names.add(name);
    }
    const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] !== undefined && v[k] !== null);
    const unsupported = sources.filter((k) => !SUPPORTED_VOLUME_TYPES.includes(k));
    for (const k of unsupported) {
      if (KNOWN_VOLUME_TYPES.includes(k)) e.forbidden(`${p}.${k}`, 'volume type not supported (supported: emptyDir, hostPath)');
    }
    const supported = sources.filter((k) => SUPPORTED_VOLUME_TYPES.includes(k));
    if (supported.length === 0 && unsupported.every((k) => !KNOWN_VOLUME_TYPES.includes(k))) {
      e.required(p, 'must specify a volume type');
    } else if (supported.length > 1) {
      e.forbidden(`${p}.${supported[1]}`, 'may not specify more than 1 volume type');
    }
    const empty = obj(e, v, 'emptyDir', `${p}.emptyDir`);
    if (empty) {
      oneOf(e, empty, 'medium', `${p}.emptyDir.medium`, ['', 'Memory']);
      resourceLikeQuantity(e, empty, 'sizeLimit', `${p}.emptyDir.sizeLimit`);
    }
    const hostPath = obj(e, v, 'hostPath', `${p}.hostPath`);
    if (hostPath) {
      const hp = str(e, hostPath, 'path', `${p}.hostPath.path`, true);
      if (hp !== undefined) {
        if (!hp.startsWith('/')) e.invalid(`${p}.hostPath.path`, hp, 'must be an absolute path');
        if (hp.split('/').includes('..')) e.invalid(`${p}.hostPath.path`, hp, "must not contain '..'");
      }
      oneOf(e, hostPath, 'type', `${p}.hostPath.type`, HOST_PATH_TYPES);
    }
  }
  return names;
}

function resourceLikeQuantity(e: FieldErrors, o: Obj, key: string, path: string): void {
  const v = o[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' && typeof v !== 'number') return e.wrongType(path, v, 'a string');
  const q = tryParseQuantity(v);
  if (!q) e.invalid(path, v, QUANTITY_SYNTAX_MESSAGE);
  else if (q.sign() < 0) e.invalid(path, String(v), 'must be greater than or equal to 0');
}

function validateTolerations(e: FieldErrors, spec: Obj): void {
  for (const [t, p] of objItems(e, spec, 'tolerations', 'spec.tolerations')) {
    const key = str(e, t, 'key', `${p}.key`);
    if (key) e.rule(`${p}.key`, key, qualifiedNameErrors(key));
    const op = oneOf(e, t, 'operator', `${p}.operator`, ['Exists', 'Equal']);
    const value = str(e, t, 'value', `${p}.value`);
    if (!key && op === 'Equal') {
      e.invalid(`${p}.operator`, op, 'operator must be Exists when `key` is empty, which means "match all values and all keys"');
    }
    if (op === 'Exists' && value) e.invalid(`${p}.operator`, value, "value must be empty when `operator` is 'Exists'");
    if (op !== 'Exists' && value) e.rule(`${p}.value`, value, labelValueErrors(value));
    const effect = str(e, t, 'effect', `${p}.effect`);
    if (effect !== undefined && effect !== '' && !(TAINT_EFFECTS as readonly string[]).includes(effect)) {
      e.notSupported(`${p}.effect`, effect, TAINT_EFFECTS);
    }
    const secs = int(e, t, 'tolerationSeconds', `${p}.tolerationSeconds`);
    if (secs !== undefined && effect !== 'NoExecute') {
      e.invalid(`${p}.effect`, effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set");
    }
  }
}

function validatePodSpec(e: FieldErrors, spec: Obj): void {
  const hostNetwork = bool(e, spec, 'hostNetwork', 'spec.hostNetwork') ?? false;
  const volumeNames = validateVolumes(e, spec);
  const ctx: PodContext = { volumeNames, containerNames: new Map(), hostPorts: new Map(), hostNetwork };
  if (spec.containers === undefined || spec.containers === null || (Array.isArray(spec.containers) && spec.containers.length === 0)) {
    e.required('spec.containers');
  }
  for (const [c, p] of objItems(e, spec, 'initContainers', 'spec.initContainers')) validateContainer(e, c, p, ctx);
  for (const [c, p] of objItems(e, spec, 'containers', 'spec.containers')) validateContainer(e, c, p, ctx);

  oneOf(e, spec, 'restartPolicy', 'spec.restartPolicy', RESTART_POLICIES);
  oneOf(e, spec, 'dnsPolicy', 'spec.dnsPolicy', DNS_POLICIES);
  nonNegative(e, spec, 'terminationGracePeriodSeconds', 'spec.terminationGracePeriodSeconds');
  const ads = int(e, spec, 'activeDeadlineSeconds', 'spec.activeDeadlineSeconds');
  if (ads !== undefined && (ads < 1 || ads > 2147483647)) {
    e.invalid('spec.activeDeadlineSeconds', ads, 'must be between 1 and 2147483647, inclusive');
  }
  const nodeName = str(e, spec, 'nodeName', 'spec.nodeName');
  if (nodeName) e.rule('spec.nodeName', nodeName, dns1123SubdomainErrors(nodeName));
  validateLabels(e, stringMap(e, spec, 'nodeSelector', 'spec.nodeSelector'), 'spec.nodeSelector');
  validateTolerations(e, spec);
  bool(e, spec, 'shareProcessNamespace', 'spec.shareProcessNamespace');
  bool(e, spec, 'enableServiceLinks', 'spec.enableServiceLinks');
  const hostname = str(e, spec, 'hostname', 'spec.hostname');
  if (hostname) e.rule('spec.hostname', hostname, dns1123LabelErrors(hostname));
  const subdomain = str(e, spec, 'subdomain', 'spec.subdomain');
  if (subdomain) e.rule('spec.subdomain', subdomain, dns1123LabelErrors(subdomain));
  const scheduler = str(e, spec, 'schedulerName', 'spec.schedulerName');
  if (scheduler) e.rule('spec.schedulerName', scheduler, dns1123SubdomainErrors(scheduler));
  int(e, spec, 'priority', 'spec.priority');
}

function validateContainerStatuses(e: FieldErrors, status: Obj, key: string): void {
  for (const [cs, p] of objItems(e, status, key, `status.${key}`)) {
    str(e, cs, 'name', `${p}.name`, true);
    bool(e, cs, 'ready', `${p}.ready`);
    nonNegative(e, cs, 'restartCount', `${p}.restartCount`);
    str(e, cs, 'image', `${p}.image`);
    str(e, cs, 'imageID', `${p}.imageID`);
    str(e, cs, 'containerID', `${p}.containerID`);
    bool(e, cs, 'started', `${p}.started`);
    for (const which of ['state', 'lastState']) {
      const st = obj(e, cs, which, `${p}.${which}`);
      if (!st) continue;
      const sp = `${p}.${which}`;
      const set = ['waiting', 'running', 'terminated'].filter((k) => st[k] !== undefined && st[k] !== null);
      if (set.length > 1) e.forbidden(`${sp}.${set[1]}`, 'may not specify more than 1 container state');
      const w = obj(e, st, 'waiting', `${sp}.waiting`);
      if (w) {
        str(e, w, 'reason', `${sp}.waiting.reason`);
        str(e, w, 'message', `${sp}.waiting.message`);
      }
      const r = obj(e, st, 'running', `${sp}.running`);
      if (r) timestamp(e, r, 'startedAt', `${sp}.running.startedAt`);
      const t = obj(e, st, 'terminated', `${sp}.terminated`);
      if (t) {
        int(e, t, 'exitCode', `${sp}.terminated.exitCode`, true);
        int(e, t, 'signal', `${sp}.terminated.signal`);
        str(e, t, 'reason', `${sp}.terminated.reason`);
        str(e, t, 'message', `${sp}.terminated.message`);
        timestamp(e, t, 'startedAt', `${sp}.terminated.startedAt`);
        timestamp(e, t, 'finishedAt', `${sp}.terminated.finishedAt`);
      }
    }
  }
}

function validateConditions(e: FieldErrors, status: Obj, path: string): void {
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

function validatePodStatus(e: FieldErrors, status: Obj): void {
  oneOf(e, status, 'phase', 'status.phase', POD_PHASES);
  validateConditions(e, status, 'status.conditions');
  str(e, status, 'message', 'status.message');
  str(e, status, 'reason', 'status.reason');
  ip(e, status, 'hostIP', 'status.hostIP');
  ip(e, status, 'podIP', 'status.podIP');
  for (const [x, p] of objItems(e, status, 'podIPs', 'status.podIPs')) {
    if (x.ip === undefined || x.ip === null || x.ip === '') e.required(`${p}.ip`);
    else ip(e, x, 'ip', `${p}.ip`);
  }
  timestamp(e, status, 'startTime', 'status.startTime');
  oneOf(e, status, 'qosClass', 'status.qosClass', ['Guaranteed', 'Burstable', 'BestEffort']);
  validateContainerStatuses(e, status, 'containerStatuses');
  validateContainerStatuses(e, status, 'initContainerStatuses');
}

function validatePod(e: FieldErrors, o: Obj): void {
  if (o.spec === undefined || o.spec === null) {
    e.required('spec.containers');
  } else {
    const spec = obj(e, o, 'spec', 'spec');
    if (spec) validatePodSpec(e, spec);
  }
  const status = obj(e, o, 'status', 'status');
  if (status) validatePodStatus(e, status);
}

// ---------------------------------------------------------------- Node, Namespace, Event

const NODE_INFO_STRINGS = [
  'machineID', 'systemUUID', 'bootID', 'kernelVersion', 'osImage', 'containerRuntimeVersion',
  'kubeletVersion', 'kubeProxyVersion', 'operatingSystem', 'architecture',
];

function validateNode(e: FieldErrors, o: Obj): void {
  const spec = obj(e, o, 'spec', 'spec');
  if (spec) {
    const cidr = str(e, spec, 'podCIDR', 'spec.podCIDR');
    if (cidr) validateCIDR(e, 'spec.podCIDR', cidr);
    stringArray(e, spec, 'podCIDRs', 'spec.podCIDRs')?.forEach((c, i) => validateCIDR(e, `spec.podCIDRs[${i}]`, c));
    bool(e, spec, 'unschedulable', 'spec.unschedulable');
    str(e, spec, 'providerID', 'spec.providerID');
    const seen = new Set<string>();
    for (const [t, p] of objItems(e, spec, 'taints', 'spec.taints')) {
      const key = str(e, t, 'key', `${p}.key`, true);
      if (key !== undefined) e.rule(`${p}.key`, key, qualifiedNameErrors(key));
      const value = str(e, t, 'value', `${p}.value`);
      if (value) e.rule(`${p}.value`, value, labelValueErrors(value));
      const effect = str(e, t, 'effect', `${p}.effect`, true);
      if (effect !== undefined && !(TAINT_EFFECTS as readonly string[]).includes(effect)) e.notSupported(`${p}.effect`, effect, TAINT_EFFECTS);
      timestamp(e, t, 'timeAdded', `${p}.timeAdded`);
      if (key !== undefined && effect !== undefined) {
        const k = `${key}:${effect}`;
        if (seen.has(k)) e.duplicate(p, k);
        seen.add(k);
      }
    }
  }
  const status = obj(e, o, 'status', 'status');
  if (status) {
    resourceList(e, status, 'capacity', 'status.capacity', ['cpu', 'memory', 'pods', 'ephemeral-storage']);
    resourceList(e, status, 'allocatable', 'status.allocatable', ['cpu', 'memory', 'pods', 'ephemeral-storage']);
    str(e, status, 'phase', 'status.phase');
    validateConditions(e, status, 'status.conditions');
    for (const [a, p] of objItems(e, status, 'addresses', 'status.addresses')) {
      str(e, a, 'type', `${p}.type`, true);
      str(e, a, 'address', `${p}.address`, true);
    }
    const info = obj(e, status, 'nodeInfo', 'status.nodeInfo');
    if (info) for (const k of NODE_INFO_STRINGS) str(e, info, k, `status.nodeInfo.${k}`);
  }
}

function validateCIDR(e: FieldErrors, path: string, v: string): void {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  const ok = m !== null && m.slice(1, 5).every((x) => Number(x) <= 255) && Number(m[5]) <= 32;
  const v6 = /^[0-9a-fA-F:]+\/\d{1,3}$/.test(v) && v.includes(':') && Number(v.split('/')[1]) <= 128;
  if (!ok && !v6) e.invalid(path, v, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)');
}

function validateNamespace(e: FieldErrors, o: Obj): void {
  const spec = obj(e, o, 'spec', 'spec');
  if (spec) stringArray(e, spec, 'finalizers', 'spec.finalizers')?.forEach((f, i) => e.rule(`spec.finalizers[${i}]`, f, qualifiedNameErrors(f)));
  const status = obj(e, o, 'status', 'status');
  if (status) oneOf(e, status, 'phase', 'status.phase', ['Active', 'Terminating']);
}

function validateEvent(e: FieldErrors, o: Obj, md: Obj): void {
  const ref = obj(e, o, 'involvedObject', 'involvedObject', true);
  if (ref) {
    for (const k of ['kind', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']) str(e, ref, k, `involvedObject.${k}`);
    const ns = str(e, ref, 'namespace', 'involvedObject.namespace');
    const kind = ref.kind;
    const clusterScoped = kind === 'Node' || kind === 'Namespace';
    if (!clusterScoped && ns && typeof md.namespace === 'string' && md.namespace !== '' && ns !== md.namespace) {
      e.invalid('involvedObject.namespace', ns, 'does not match event.namespace');
    }
  }
  str(e, o, 'reason', 'reason');
  str(e, o, 'message', 'message');
  oneOf(e, o, 'type', 'type', ['Normal', 'Warning']);
  nonNegative(e, o, 'count', 'count');
  timestamp(e, o, 'firstTimestamp', 'firstTimestamp');
  timestamp(e, o, 'lastTimestamp', 'lastTimestamp');
  if (o.eventTime !== null) timestamp(e, o, 'eventTime', 'eventTime');
  const source = obj(e, o, 'source', 'source');
  if (source) {
    str(e, source, 'component', 'source.component');
    str(e, source, 'host', 'source.host');
  }
  str(e, o, 'reportingComponent', 'reportingComponent');
  str(e, o, 'reportingInstance', 'reportingInstance');
  str(e, o, 'action', 'action');
}

// ---------------------------------------------------------------- updates

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

export const POD_SPEC_UPDATE_FORBIDDEN =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function validateMetadataUpdate(e: FieldErrors, md: Obj, oldMd: Obj): void {
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

function validatePodUpdate(e: FieldErrors, o: Obj, old: Obj): void {
  const spec = isPlainObject(o.spec) ? o.spec : undefined;
  const oldSpec = isPlainObject(old.spec) ? old.spec : undefined;
  if (!spec || !oldSpec) return;
  // activeDeadlineSeconds may be set, or lowered, never raised or removed
  const ads = spec.activeDeadlineSeconds;
  const oldAds = oldSpec.activeDeadlineSeconds;
  if (typeof oldAds === 'number') {
    if (ads === undefined || ads === null) e.invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value');
    else if (typeof ads === 'number' && ads > oldAds) e.invalid('spec.activeDeadlineSeconds', ads, 'must be less than or equal to previous value');
  }
  // tolerations may only be added to
  const tol = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  const oldTol = Array.isArray(oldSpec.tolerations) ? oldSpec.tolerations : [];
  oldTol.forEach((t, i) => {
    if (!tol.some((x) => jsonEqual(x, t))) e.forbidden(`spec.tolerations[${i}]`, 'existing toleration can not be modified except its tolerationSeconds');
  });
  // everything else must stay: compare with the mutable fields copied over from the new spec
  const mutated: Obj = { ...oldSpec };
  for (const key of ['containers', 'initContainers'] as const) {
    const cur = spec[key];
    const prev = oldSpec[key];
    if (Array.isArray(cur) && Array.isArray(prev) && cur.length === prev.length) {
      mutated[key] = prev.map((c, i) => {
        const nc = cur[i];
        return isPlainObject(c) && isPlainObject(nc) ? { ...c, image: nc.image } : c;
      });
    }
  }
  mutated.activeDeadlineSeconds = spec.activeDeadlineSeconds;
  mutated.tolerations = spec.tolerations;
  if (typeof oldSpec.terminationGracePeriodSeconds === 'number' && oldSpec.terminationGracePeriodSeconds < 0 && spec.terminationGracePeriodSeconds === 1) {
    mutated.terminationGracePeriodSeconds = 1;
  }
  if (!jsonEqual(mutated, spec)) {
    const changed = diffPaths(mutated, spec, 'spec');
    const shown = changed.slice(0, 5).join(', ') + (changed.length > 5 ? `, … (${changed.length - 5} more)` : '');
    e.forbidden('spec', `${POD_SPEC_UPDATE_FORBIDDEN}; changed: ${shown}`);
  }
}

/** The paths at which two JSON values differ: leaves, lists of scalars, lists of different length. */
function diffPaths(a: unknown, b: unknown, path: string): string[] {
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

function validateNodeUpdate(e: FieldErrors, o: Obj, old: Obj): void {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  const oldSpec = isPlainObject(old.spec) ? old.spec : {};
  const oldCidr = oldSpec.podCIDR ?? '';
  if (oldCidr !== '' && (spec.podCIDR ?? '') !== oldCidr) {
    e.forbidden('spec.podCIDR', 'node updates may not change podCIDR except from "" to valid');
  }
}

// ---------------------------------------------------------------- entry points

/**
 * Validates an object of any registered kind; with `old`, also the rules of an
 * update (immutable fields). Returns every cause found, empty when valid.
 * Throws BadRequestError when `obj` is not a mapping or its kind/apiVersion is
 * missing or not registered (a 400, not a 422).
 */
export function validateObject(obj: unknown, old?: unknown): FieldCause[] {
  const res = resourceForObject(obj);
  const o = obj as Obj;
  const e = new FieldErrors();
  const nameRule: NameRule = res.kind === 'Namespace' ? dns1123LabelErrors : dns1123SubdomainErrors;
  const md = validateMetadata(e, o, res, nameRule);
  switch (res.kind) {
    case 'Pod':
      validatePod(e, o);
      break;
    case 'Node':
      validateNode(e, o);
      break;
    case 'Namespace':
      validateNamespace(e, o);
      break;
    case 'Event':
      validateEvent(e, o, md);
      break;
    default:
      break;
  }
  if (old !== undefined && old !== null) {
    if (!isPlainObject(old)) throw new BadRequestError('the existing object is not a mapping');
    if (old.kind !== undefined && old.kind !== o.kind) e.invalid('kind', o.kind, 'field is immutable');
    const oldMd = isPlainObject(old.metadata) ? old.metadata : {};
    validateMetadataUpdate(e, md, oldMd);
    if (res.kind === 'Pod') validatePodUpdate(e, o, old);
    if (res.kind === 'Node') validateNodeUpdate(e, o, old);
  }
  return e.causes;
}

/** Like validateObject, but throws InvalidError `Pod "web" is invalid: …` when anything is wrong. */
export function assertValid(obj: unknown, old?: unknown): void {
  const causes = validateObject(obj, old);
  if (causes.length === 0) return;
  const o = obj as Obj;
  const md = isPlainObject(o.metadata) ? o.metadata : {};
  const name = typeof md.name === 'string' ? md.name : typeof md.generateName === 'string' ? md.generateName : '';
  throw invalidError(String(o.kind), name, causes);
}
