// Pod (core/v1): the descriptor — defaults, validation, known fields, field
// labels, REST strategy (status reset on create, graceful deletion) and the
// columns kubectl and flotctl print.
import { BadRequestError } from '../errors.js';
import { deepClone, isPlainObject, isTerminalPhase, jsonEqual } from '../helpers.js';
import { rfc3339 } from '../clock.js';
import { ANY, boolFieldPath, column, defineKind, fieldPath, type Schema } from '../kind.js';
import { QUANTITY_SYNTAX_MESSAGE, tryParseQuantity } from '../quantity.js';
import { age, humanDuration } from '../printers/age.js';
import type { Container, Pod, PullPolicy } from '../types.js';
import {
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  envVarNameErrors,
  labelValueErrors,
  portNameErrors,
  qualifiedNameErrors,
} from '../validation-rules.js';
import { configKeyErrors } from './config-keys.js';
import {
  FieldErrors,
  STANDARD_CONTAINER_RESOURCES,
  bool,
  diffPaths,
  int,
  ip,
  nonNegative,
  obj,
  objItems,
  oneOf,
  resourceList,
  str,
  stringArray,
  stringMap,
  timestamp,
  validateConditions,
  validateLabels,
} from '../validation-core.js';
import { FALLBACK } from './common.js';
import { refuseUnsupportedPodFields } from './pod-unsupported.js';
import { validatePodDNS } from './pod-dns.js';
import { validatePodSecurity } from './pod-security.js';
import { validateAffinity } from './pod-affinity.js';
import { defaultContainerProbes, validateContainerProbes } from './pod-probes.js';

type Obj = Record<string, unknown>;

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
export const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30;
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';

// ---------------------------------------------------------------- validation


const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;
const DNS_POLICIES = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] as const;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
const HOST_PATH_TYPES = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] as const;
const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
const SUPPORTED_VOLUME_TYPES = ['emptyDir', 'hostPath', 'configMap', 'secret'];
const KNOWN_VOLUME_TYPES = [
  'awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephfs', 'cinder', 'configMap', 'csi', 'downwardAPI', 'ephemeral',
  'fc', 'flexVolume', 'flocker', 'gcePersistentDisk', 'gitRepo', 'glusterfs', 'image', 'iscsi', 'nfs',
  'persistentVolumeClaim', 'photonPersistentDisk', 'portworxVolume', 'projected', 'quobyte', 'rbd', 'scaleIO',
  'secret', 'storageos', 'vsphereVolume',
];

interface PodContext {
  volumeNames: Set<string>;
  /** resourceFieldRef.containerName values, checked once every container is known. */
  resourceRefs: { name: string; path: string }[];
  containerNames: Map<string, string>;
  hostPorts: Map<string, string>;
  hostNetwork: boolean;
  gracePeriodSeconds?: number;
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
    const value = str(e, env, 'value', `${ep}.value`);
    const from = obj(e, env, 'valueFrom', `${ep}.valueFrom`);
    if (from) {
      if (value !== undefined && value !== '') e.invalid(`${ep}.valueFrom`, '', 'may not be specified when `value` is not empty');
      validateEnvVarSource(e, from, `${ep}.valueFrom`, ctx);
    }
  }
  for (const [src, sp] of objItems(e, c, 'envFrom', `${p}.envFrom`)) {
    const prefix = str(e, src, 'prefix', `${sp}.prefix`);
    if (prefix) e.rule(`${sp}.prefix`, prefix, envVarNameErrors(prefix));
    const refs = (['configMapRef', 'secretRef'] as const).filter((k) => src[k] !== undefined && src[k] !== null);
    if (refs.length === 0) e.invalid(sp, '', 'must specify one of: `configMapRef` or `secretRef`');
    if (refs.length > 1) e.forbidden(`${sp}.${refs[1]}`, 'may not have more than one field specified at a time');
    for (const k of refs) {
      const ref = obj(e, src, k, `${sp}.${k}`);
      if (!ref) continue;
      const name = str(e, ref, 'name', `${sp}.${k}.name`, true);
      if (name) e.rule(`${sp}.${k}.name`, name, dns1123SubdomainErrors(name));
      bool(e, ref, 'optional', `${sp}.${k}.optional`);
    }
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
  validateContainerProbes(e, c, p, { init: p.startsWith('spec.initContainers'), gracePeriodSeconds: ctx.gracePeriodSeconds });
  // A container's own restartPolicy makes an init container a sidecar ("Always", the only value);
  // app containers may not set it, as kube-apiserver says.
  if (c.restartPolicy !== undefined && c.restartPolicy !== null) {
    if (!p.startsWith('spec.initContainers')) e.forbidden(`${p}.restartPolicy`, 'may not be set for non-init containers');
    else if (c.restartPolicy !== 'Always') e.notSupported(`${p}.restartPolicy`, c.restartPolicy, ['Always']);
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
      if (KNOWN_VOLUME_TYPES.includes(k)) e.forbidden(`${p}.${k}`, 'volume type not supported (supported: emptyDir, hostPath, configMap, secret)');
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
    const cm = obj(e, v, 'configMap', `${p}.configMap`);
    if (cm) validateProjection(e, cm, `${p}.configMap`, 'name');
    const secret = obj(e, v, 'secret', `${p}.secret`);
    if (secret) validateProjection(e, secret, `${p}.secret`, 'secretName');
  }
  return names;
}

/** Downward API fields a container's env may read (`fieldRef.fieldPath`). */
export const ENV_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.podIP',
] as const;
const CPU_DIVISORS = ['1m', '1'];
const MEMORY_DIVISORS = ['1', '1k', '1M', '1G', '1T', '1P', '1E', '1Ki', '1Mi', '1Gi', '1Ti', '1Pi', '1Ei'];
/** Downward API resources a container's env may read (`resourceFieldRef.resource`). */
export const ENV_RESOURCE_FIELDS = ['limits.cpu', 'limits.memory', 'limits.ephemeral-storage', 'requests.cpu', 'requests.memory', 'requests.ephemeral-storage'] as const;

function validateEnvVarSource(e: FieldErrors, from: Obj, p: string, ctx: PodContext): void {
  const set = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef', 'fileKeyRef'].filter((k) => from[k] !== undefined && from[k] !== null);
  if (set.length === 0) e.invalid(p, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`');
  if (set.length > 1) e.invalid(p, '', 'may not have more than one field specified at a time');
  if (from.fileKeyRef !== undefined && from.fileKeyRef !== null) e.forbidden(`${p}.fileKeyRef`, 'not supported by Flotilla');
  const fr = obj(e, from, 'fieldRef', `${p}.fieldRef`);
  if (fr) {
    const av = str(e, fr, 'apiVersion', `${p}.fieldRef.apiVersion`);
    if (av !== undefined && av !== '' && av !== 'v1') e.notSupported(`${p}.fieldRef.apiVersion`, av, ['v1']);
    const fp = str(e, fr, 'fieldPath', `${p}.fieldRef.fieldPath`, true);
    if (fp !== undefined) {
      const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fp);
      if (m) e.rule(`${p}.fieldRef.fieldPath`, m[2]!, qualifiedNameErrors(m[2]!));
      else if (!(ENV_FIELD_PATHS as readonly string[]).includes(fp)) {
        // the whole label/annotation maps are for downward API volumes, not env (as in Kubernetes)
        e.notSupported(`${p}.fieldRef.fieldPath`, fp, [...ENV_FIELD_PATHS, "metadata.labels['<KEY>']", "metadata.annotations['<KEY>']"]);
      }
    }
  }
  const rf = obj(e, from, 'resourceFieldRef', `${p}.resourceFieldRef`);
  if (rf) {
    const cn = str(e, rf, 'containerName', `${p}.resourceFieldRef.containerName`);
    if (cn) ctx.resourceRefs.push({ name: cn, path: `${p}.resourceFieldRef.containerName` });
    const r = str(e, rf, 'resource', `${p}.resourceFieldRef.resource`, true);
    if (r !== undefined && !(ENV_RESOURCE_FIELDS as readonly string[]).includes(r)) e.notSupported(`${p}.resourceFieldRef.resource`, r, ENV_RESOURCE_FIELDS);
    const d = rf.divisor;
    if (d !== undefined && d !== null && r !== undefined) {
      const q = typeof d === 'string' || typeof d === 'number' ? tryParseQuantity(d) : undefined;
      const allowed = r.endsWith('.cpu') ? CPU_DIVISORS : MEMORY_DIVISORS;
      if (!q || !allowed.some((a) => tryParseQuantity(a)!.equals(q))) {
        e.invalid(`${p}.resourceFieldRef.divisor`, d, `only divisor's values ${allowed.join(', ')} are supported with the ${r.endsWith('.cpu') ? 'cpu' : 'memory'} resource`);
      }
    }
  }
  for (const k of ['configMapKeyRef', 'secretKeyRef'] as const) {
    const ref = obj(e, from, k, `${p}.${k}`);
    if (!ref) continue;
    const name = str(e, ref, 'name', `${p}.${k}.name`, true);
    if (name) e.rule(`${p}.${k}.name`, name, dns1123SubdomainErrors(name));
    const key = str(e, ref, 'key', `${p}.${k}.key`, true);
    if (key) e.rule(`${p}.${k}.key`, key, configKeyErrors(key));
    bool(e, ref, 'optional', `${p}.${k}.optional`);
  }
}

/** A configMap or secret volume: the object's name, items (key → relative path), modes. */
function validateProjection(e: FieldErrors, src: Obj, p: string, nameField: 'name' | 'secretName'): void {
  const name = str(e, src, nameField, `${p}.${nameField}`, true);
  if (name) e.rule(`${p}.${nameField}`, name, dns1123SubdomainErrors(name));
  bool(e, src, 'optional', `${p}.optional`);
  const mode = int(e, src, 'defaultMode', `${p}.defaultMode`);
  if (mode !== undefined && (mode < 0 || mode > 0o777)) e.invalid(`${p}.defaultMode`, mode, 'must be a number between 0 and 0777 (octal), both inclusive');
  const paths = new Set<string>();
  for (const [item, ip] of objItems(e, src, 'items', `${p}.items`)) {
    const key = str(e, item, 'key', `${ip}.key`, true);
    if (key) e.rule(`${ip}.key`, key, configKeyErrors(key));
    const path = str(e, item, 'path', `${ip}.path`, true);
    if (path !== undefined) {
      if (path.startsWith('/')) e.invalid(`${ip}.path`, path, 'must be a relative path');
      if (path.split('/').includes('..')) e.invalid(`${ip}.path`, path, "must not contain '..'");
      else if (path.startsWith('..')) e.invalid(`${ip}.path`, path, "must not start with '..'");
      if (paths.has(path)) e.duplicate(`${ip}.path`, path);
      paths.add(path);
    }
    const m = int(e, item, 'mode', `${ip}.mode`);
    if (m !== undefined && (m < 0 || m > 0o777)) e.invalid(`${ip}.mode`, m, 'must be a number between 0 and 0777 (octal), both inclusive');
  }
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
  const ctx: PodContext = { volumeNames, resourceRefs: [], containerNames: new Map(), hostPorts: new Map(), hostNetwork };
  if (typeof spec.terminationGracePeriodSeconds === 'number') ctx.gracePeriodSeconds = spec.terminationGracePeriodSeconds;
  if (spec.containers === undefined || spec.containers === null || (Array.isArray(spec.containers) && spec.containers.length === 0)) {
    e.required('spec.containers');
  }
  for (const [c, p] of objItems(e, spec, 'initContainers', 'spec.initContainers')) validateContainer(e, c, p, ctx);
  for (const [c, p] of objItems(e, spec, 'containers', 'spec.containers')) validateContainer(e, c, p, ctx);
  for (const r of ctx.resourceRefs) if (!ctx.containerNames.has(r.name)) e.notFound(r.path, r.name);

  oneOf(e, spec, 'restartPolicy', 'spec.restartPolicy', RESTART_POLICIES);
  oneOf(e, spec, 'dnsPolicy', 'spec.dnsPolicy', DNS_POLICIES);
  validatePodDNS(e, spec);
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
  // kube-apiserver checks only the type; the 64-character FQDN limit is the kubelet's, at sandbox creation.
  bool(e, spec, 'setHostnameAsFQDN', 'spec.setHostnameAsFQDN');
  const scheduler = str(e, spec, 'schedulerName', 'spec.schedulerName');
  if (scheduler) e.rule('spec.schedulerName', scheduler, dns1123SubdomainErrors(scheduler));
  int(e, spec, 'priority', 'spec.priority');
  refuseUnsupportedPodFields(e, spec);
  validatePodSecurity(e, spec);
  validateAffinity(e, spec);
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


export const POD_SPEC_UPDATE_FORBIDDEN =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';


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

// ---------------------------------------------------------------- defaults

/**
 * The pull policy Kubernetes picks when none is given: `Always` for `:latest`
 * or an untagged reference, `IfNotPresent` for any other tag or a digest.
 */
export function defaultPullPolicy(image: string): PullPolicy {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) return 'Always';
  return lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultPod(pod: Obj): void {
  const spec = pod.spec;
  if (isPlainObject(spec)) {
    spec.restartPolicy ??= 'Always';
    spec.terminationGracePeriodSeconds ??= DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS;
    spec.dnsPolicy ??= 'ClusterFirst';
    spec.schedulerName ??= DEFAULT_SCHEDULER_NAME;
    const hostNetwork = spec.hostNetwork === true;
    for (const key of ['containers', 'initContainers'] as const) {
      const list = spec[key];
      if (!Array.isArray(list)) continue;
      for (const c of list) if (isPlainObject(c)) defaultContainer(c, hostNetwork);
    }
    if (Array.isArray(spec.volumes)) {
      for (const v of spec.volumes) {
        if (!isPlainObject(v)) continue;
        // a volume without a source is an emptyDir, as in Kubernetes
        if (Object.keys(v).every((k) => k === 'name')) v.emptyDir = {};
        if (isPlainObject(v.hostPath)) v.hostPath.type ??= '';
        // configMap and secret volumes: files 0644 unless told otherwise
        if (isPlainObject(v.configMap)) v.configMap.defaultMode ??= 0o644;
        if (isPlainObject(v.secret)) v.secret.defaultMode ??= 0o644;
      }
    }
    if (Array.isArray(spec.tolerations)) {
      for (const t of spec.tolerations) {
        // an empty key with no operator means "tolerate everything"
        if (isPlainObject(t) && t.operator === undefined) t.operator = t.key === undefined || t.key === '' ? 'Exists' : 'Equal';
      }
    }
  }
  if (pod.status === undefined) pod.status = {};
  const status = pod.status;
  if (isPlainObject(status)) {
    status.phase ??= 'Pending';
    if (isPlainObject(spec) && status.qosClass === undefined) {
      const qos = qosClassOf(pod as unknown as Pod);
      if (qos) status.qosClass = qos;
    }
  }
}

function defaultContainer(c: Obj, hostNetwork: boolean): void {
  if (typeof c.image === 'string' && c.image !== '') c.imagePullPolicy ??= defaultPullPolicy(c.image);
  c.terminationMessagePath ??= DEFAULT_TERMINATION_MESSAGE_PATH;
  c.terminationMessagePolicy ??= 'File';
  defaultContainerProbes(c);
  if (Array.isArray(c.ports)) {
    for (const p of c.ports) {
      if (!isPlainObject(p)) continue;
      p.protocol ??= 'TCP';
      if (hostNetwork && p.hostPort === undefined && typeof p.containerPort === 'number') p.hostPort = p.containerPort;
    }
  }
  if (Array.isArray(c.env)) {
    for (const env of c.env) {
      // fieldRef.apiVersion defaults to v1, as Kubernetes does
      const vf = isPlainObject(env) ? env.valueFrom : undefined;
      if (isPlainObject(vf) && isPlainObject(vf.fieldRef)) vf.fieldRef.apiVersion ??= 'v1';
    }
  }
  if (c.resources === undefined) c.resources = {};
  const res = c.resources;
  if (isPlainObject(res)) {
    for (const k of ['requests', 'limits'] as const) {
      // JSON numbers (`cpu: 1`) become canonical quantity strings
      const list = res[k];
      if (!isPlainObject(list)) continue;
      for (const [name, v] of Object.entries(list)) {
        if (typeof v === 'number') {
          const q = tryParseQuantity(v);
          if (q) list[name] = q.toString();
        }
      }
    }
    // a resource with only a limit requests its limit
    if (isPlainObject(res.limits)) {
      const limits = res.limits;
      if (res.requests === undefined) res.requests = {};
      if (isPlainObject(res.requests)) {
        const requests = res.requests;
        for (const [name, v] of Object.entries(limits)) if (requests[name] === undefined) requests[name] = v;
        if (Object.keys(requests).length === 0) delete res.requests;
      }
    }
  }
}

/**
 * The pod's QoS class as Kubernetes computes it: Guaranteed when every container
 * has cpu and memory limits equal to its requests, BestEffort when none sets any
 * request or limit, Burstable otherwise. Undefined when the spec is malformed.
 */
export function qosClassOf(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' | undefined {
  const containers = [...(Array.isArray(pod.spec?.containers) ? pod.spec.containers : []), ...(Array.isArray(pod.spec?.initContainers) ? pod.spec.initContainers : [])];
  if (containers.length === 0) return undefined;
  let any = false;
  let guaranteed = true;
  for (const c of containers as Container[]) {
    if (!isPlainObject(c)) return undefined;
    const limits = isPlainObject(c.resources?.limits) ? c.resources!.limits! : {};
    const requests = { ...limits, ...(isPlainObject(c.resources?.requests) ? c.resources!.requests! : {}) };
    for (const name of ['cpu', 'memory']) {
      const l = tryParseQuantity(limits[name]);
      const r = tryParseQuantity(requests[name]);
      if ((l && !l.isZero()) || (r && !r.isZero())) any = true;
      if (!l || !r || !l.equals(r)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

// ---------------------------------------------------------------- known fields

const KEY_TO_PATH: Schema = [{ key: ANY, path: ANY, mode: ANY }];

const ENV_VAR: Schema = {
  name: ANY,
  value: ANY,
  valueFrom: {
    fieldRef: { apiVersion: ANY, fieldPath: ANY },
    resourceFieldRef: { containerName: ANY, resource: ANY, divisor: ANY },
    configMapKeyRef: { name: ANY, key: ANY, optional: ANY },
    secretKeyRef: { name: ANY, key: ANY, optional: ANY },
    fileKeyRef: ANY,
  },
};

const CONTAINER: Schema = {
  name: ANY,
  image: ANY,
  imagePullPolicy: ANY,
  command: ANY,
  args: ANY,
  workingDir: ANY,
  ports: [{ name: ANY, containerPort: ANY, hostPort: ANY, hostIP: ANY, protocol: ANY }],
  env: [ENV_VAR],
  envFrom: [{ prefix: ANY, configMapRef: { name: ANY, optional: ANY }, secretRef: { name: ANY, optional: ANY } }],
  resources: { requests: ANY, limits: ANY, claims: ANY },
  resizePolicy: ANY,
  restartPolicy: ANY,
  volumeMounts: [{ name: ANY, mountPath: ANY, readOnly: ANY, subPath: ANY, subPathExpr: ANY, mountPropagation: ANY, recursiveReadOnly: ANY }],
  volumeDevices: ANY,
  livenessProbe: ANY,
  readinessProbe: ANY,
  startupProbe: ANY,
  lifecycle: ANY,
  terminationMessagePath: ANY,
  terminationMessagePolicy: ANY,
  securityContext: ANY,
  stdin: ANY,
  stdinOnce: ANY,
  tty: ANY,
};

const VOLUME: Schema = {
  name: ANY,
  emptyDir: { medium: ANY, sizeLimit: ANY },
  hostPath: { path: ANY, type: ANY },
  configMap: { name: ANY, items: KEY_TO_PATH, defaultMode: ANY, optional: ANY },
  secret: { secretName: ANY, items: KEY_TO_PATH, defaultMode: ANY, optional: ANY },
  // known volume types Flotilla refuses in validation with a clear message
  ...Object.fromEntries(KNOWN_VOLUME_TYPES.filter((k) => k !== 'configMap' && k !== 'secret').map((k) => [k, ANY])),
};

const POD_SPEC: Schema = {
  containers: [CONTAINER],
  initContainers: [CONTAINER],
  ephemeralContainers: ANY,
  volumes: [VOLUME],
  restartPolicy: ANY,
  terminationGracePeriodSeconds: ANY,
  activeDeadlineSeconds: ANY,
  dnsPolicy: ANY,
  dnsConfig: ANY,
  nodeSelector: ANY,
  nodeName: ANY,
  serviceAccountName: ANY,
  serviceAccount: ANY,
  automountServiceAccountToken: ANY,
  hostNetwork: ANY,
  hostPID: ANY,
  hostIPC: ANY,
  hostUsers: ANY,
  shareProcessNamespace: ANY,
  securityContext: ANY,
  imagePullSecrets: ANY,
  hostname: ANY,
  subdomain: ANY,
  setHostnameAsFQDN: ANY,
  affinity: ANY,
  schedulerName: ANY,
  tolerations: [{ key: ANY, operator: ANY, value: ANY, effect: ANY, tolerationSeconds: ANY }],
  hostAliases: ANY,
  priorityClassName: ANY,
  priority: ANY,
  preemptionPolicy: ANY,
  readinessGates: ANY,
  runtimeClassName: ANY,
  enableServiceLinks: ANY,
  overhead: ANY,
  topologySpreadConstraints: ANY,
  os: ANY,
  schedulingGates: ANY,
  resourceClaims: ANY,
  resources: ANY,
};

const CONTAINER_STATE: Schema = {
  waiting: { reason: ANY, message: ANY },
  running: { startedAt: ANY },
  terminated: { exitCode: ANY, signal: ANY, reason: ANY, message: ANY, startedAt: ANY, finishedAt: ANY, containerID: ANY },
};

const CONTAINER_STATUS: Schema = {
  name: ANY,
  state: CONTAINER_STATE,
  lastState: CONTAINER_STATE,
  ready: ANY,
  restartCount: ANY,
  image: ANY,
  imageID: ANY,
  containerID: ANY,
  started: ANY,
  allocatedResources: ANY,
  resources: ANY,
  volumeMounts: ANY,
  user: ANY,
  allocatedResourcesStatus: ANY,
  stopSignal: ANY,
};

const POD_STATUS: Schema = {
  phase: ANY,
  conditions: [{ type: ANY, status: ANY, lastProbeTime: ANY, lastTransitionTime: ANY, reason: ANY, message: ANY, observedGeneration: ANY }],
  message: ANY,
  reason: ANY,
  nominatedNodeName: ANY,
  hostIP: ANY,
  hostIPs: ANY,
  podIP: ANY,
  podIPs: [{ ip: ANY }],
  startTime: ANY,
  initContainerStatuses: [CONTAINER_STATUS],
  containerStatuses: [CONTAINER_STATUS],
  ephemeralContainerStatuses: ANY,
  qosClass: ANY,
  resize: ANY,
  resourceClaimStatuses: ANY,
  observedGeneration: ANY,
};

// ---------------------------------------------------------------- printing

/**
 * READY, STATUS and RESTARTS of a pod, computed as kubectl's pod printer does:
 * sidecars (init containers with restartPolicy Always) count in READY; while
 * the pod initializes STATUS tells the init container's state (`Init:1/2`,
 * `Init:Error`, `Init:CrashLoopBackOff`…) and RESTARTS counts init restarts.
 */
export function podColumns(pod: Pod): { ready: number; total: number; reason: string; restarts: number; lastRestart?: number } {
  const status = pod.status ?? {};
  const inits = Array.isArray(pod.spec?.initContainers) ? pod.spec.initContainers : [];
  const sidecars = new Set(inits.filter((c) => (c as { restartPolicy?: string }).restartPolicy === 'Always').map((c) => c.name));
  const total = (Array.isArray(pod.spec?.containers) ? pod.spec.containers.length : 0) + sidecars.size;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let last: number | undefined;
  let lastSidecar: number | undefined;
  const later = (a: number | undefined, at: string | undefined) => {
    const t = at ? Date.parse(at) : NaN;
    return Number.isNaN(t) || (a !== undefined && a >= t) ? a : t;
  };
  let reason: string = status.reason || status.phase || 'Pending';
  if (status.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated';

  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i]!;
    const sidecar = sidecars.has(c.name);
    restarts += c.restartCount ?? 0;
    last = later(last, c.lastState?.terminated?.finishedAt);
    if (sidecar) {
      sidecarRestarts += c.restartCount ?? 0;
      lastSidecar = later(lastSidecar, c.lastState?.terminated?.finishedAt);
    }
    const t = c.state?.terminated;
    const w = c.state?.waiting;
    if (t && t.exitCode === 0) continue;
    if (sidecar && c.started === true) {
      if (c.ready) ready++;
      continue;
    }
    initializing = true;
    if (t) {
      if (t.reason) reason = `Init:${t.reason}`;
      else if (t.signal) reason = `Init:Signal:${t.signal}`;
      else reason = `Init:ExitCode:${t.exitCode}`;
    } else if (w && w.reason && w.reason !== 'PodInitializing') {
      reason = `Init:${w.reason}`;
    } else {
      reason = `Init:${i}/${inits.length}`;
    }
    break;
  }
  const initializedTrue = status.conditions?.some((c) => c.type === 'Initialized' && c.status === 'True') === true;
  if (!initializing || initializedTrue) {
    restarts = sidecarRestarts;
    last = lastSidecar;
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i]!;
      restarts += c.restartCount ?? 0;
      last = later(last, c.lastState?.terminated?.finishedAt);
      const w = c.state?.waiting;
      const t = c.state?.terminated;
      if (w?.reason) reason = w.reason;
      else if (t?.reason) reason = t.reason;
      else if (t) reason = t.signal ? `Signal:${t.signal}` : `ExitCode:${t.exitCode}`;
      else if (c.ready && c.state?.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) {
      const podReady = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      reason = podReady ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata.deletionTimestamp && status.phase !== 'Succeeded' && status.phase !== 'Failed') reason = 'Terminating';
  return { ready, total, reason, restarts, ...(last !== undefined ? { lastRestart: last } : {}) };
}

/** The STATUS column of a pod, with kubectl's precedence of reasons. */
export function podStatusReason(pod: Pod): string {
  return podColumns(pod).reason;
}

/** READY as `ready/total` (sidecars included, as kubectl counts them). */
export function podReady(pod: Pod): string {
  const c = podColumns(pod);
  return `${c.ready}/${c.total}`;
}

/** RESTARTS as `3` or, when the last restart is known, `3 (2m ago)`. */
export function podRestarts(pod: Pod, now: number): string {
  const c = podColumns(pod);
  return c.restarts === 0 || c.lastRestart === undefined ? String(c.restarts) : `${c.restarts} (${humanDuration(now - c.lastRestart)} ago)`;
}

/** READINESS GATES as `ready/total`, `<none>` without gates. */
function podReadinessGates(pod: Pod): string {
  const gates = (pod.spec as { readinessGates?: { conditionType?: string }[] } | undefined)?.readinessGates;
  if (!Array.isArray(gates) || gates.length === 0) return '<none>';
  const ok = gates.filter((g) => pod.status?.conditions?.some((c) => c.type === g.conditionType && c.status === 'True')).length;
  return `${ok}/${gates.length}`;
}

// ---------------------------------------------------------------- the descriptor

export const podKind = defineKind(
  {
    group: '',
    version: 'v1',
    kind: 'Pod',
    plural: 'pods',
    shortNames: ['po'],
    namespaced: true,
    categories: ['all'],
    subresources: ['status', 'binding', 'log', 'eviction'],
    defaults: defaultPod,
    validate: (e, o) => validatePod(e, o),
    validateUpdate: validatePodUpdate,
    schema: { spec: POD_SPEC, status: POD_STATUS },
    fieldLabels: {
      'spec.nodeName': fieldPath('spec', 'nodeName'),
      'spec.restartPolicy': fieldPath('spec', 'restartPolicy'),
      'spec.schedulerName': fieldPath('spec', 'schedulerName'),
      'spec.serviceAccountName': fieldPath('spec', 'serviceAccountName'),
      'spec.hostNetwork': boolFieldPath('spec', 'hostNetwork'),
      'status.phase': fieldPath('status', 'phase'),
      'status.podIP': fieldPath('status', 'podIP'),
      'status.nominatedNodeName': fieldPath('status', 'nominatedNodeName'),
    },
    mergeKeys: {
      containers: 'name',
      initContainers: 'name',
      ephemeralContainers: 'name',
      volumes: 'name',
      env: 'name',
      ports: 'containerPort',
      volumeMounts: 'mountPath',
      imagePullSecrets: 'name',
      podIPs: 'ip',
      hostAliases: 'ip',
    },
    strategy: {
      prepareForCreate(o) {
        // a new pod is Pending whatever the body says; its QoS class is computed
        const status = isPlainObject(o.status) ? o.status : {};
        o.status = { phase: 'Pending', ...(status.qosClass ? { qosClass: status.qosClass } : {}) };
      },
      delete(cur, opts, nowMs) {
        const pod = cur as unknown as Pod;
        const grace = opts.gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS;
        if (grace < 0) throw new BadRequestError(`gracePeriodSeconds must not be negative, got ${grace}`);
        // A pod on a node is stopped by its agent, which removes it once the containers are gone.
        const bound = Boolean(pod.spec?.nodeName) && !isTerminalPhase(pod.status?.phase);
        if (!bound || grace === 0) return {};
        const prev = pod.metadata.deletionGracePeriodSeconds;
        if (pod.metadata.deletionTimestamp && prev !== undefined && prev <= grace) return { mark: cur };
        const next = deepClone(cur) as unknown as Pod;
        next.metadata.deletionTimestamp = rfc3339(nowMs + grace * 1000);
        next.metadata.deletionGracePeriodSeconds = grace;
        return { mark: next as unknown as Obj };
      },
      // a graceful deletion ends when the node confirms (grace period 0), or at once when unbound
      deletionDone: (o) => {
        const pod = o as unknown as Pod;
        return (pod.metadata.deletionGracePeriodSeconds ?? 0) === 0 || !pod.spec?.nodeName;
      },
    },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Ready'),
        column('Status'),
        column('Restarts'),
        column('Age'),
        column('IP', { priority: 1 }),
        column('Node', { priority: 1 }),
        column('Nominated Node', { priority: 1 }),
        column('Readiness Gates', { priority: 1 }),
      ],
      cells(o, now) {
        const p = o as unknown as Pod;
        return [
          p.metadata.name ?? '',
          podReady(p),
          podStatusReason(p),
          podRestarts(p, now),
          age(p.metadata.creationTimestamp, now),
          p.status?.podIP || '<none>',
          p.spec?.nodeName || '<none>',
          (p.status as { nominatedNodeName?: string } | undefined)?.nominatedNodeName || '<none>',
          podReadinessGates(p),
        ];
      },
    },
  },
  FALLBACK,
);
