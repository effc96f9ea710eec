// A container's environment as the kubelet makes it (makeEnvironmentVariables):
// envFrom first, in order (keys that are not valid variable names skipped and
// reported), then env in order — a `value` is expanded with $(VAR) against what
// came before, a `valueFrom` is read from a ConfigMap or Secret key, the pod's
// fields (downward API) or a container's resources. Pure: the objects are
// fetched beforehand (containerConfigReferences says which) and passed in.
import {
  envVarNameErrors,
  parseQuantity,
  type ConfigMap,
  type Container,
  type EnvVarSource,
  type Pod,
  type ResourceList,
  type Secret,
} from '../../api/index.js';
import { expandVars, type ResolvedEnvVar } from '../runtime/index.js';

/** The ConfigMaps and Secrets of a pod's namespace, by name, as read (undefined: it does not exist). */
export interface ConfigObjects {
  configmaps: ReadonlyMap<string, ConfigMap | undefined>;
  secrets: ReadonlyMap<string, Secret | undefined>;
}

/** What the downward API reads that is not in the pod object the agent holds. */
export interface DownwardContext {
  /** The pod's IP (the node's for hostNetwork pods). */
  podIP?: string;
  /** The node's IP. */
  hostIP?: string;
  /** The node's allocatable cpu, memory, ephemeral-storage: the value of a limit that is not set. */
  allocatable: ResourceList;
}

/** Keys of an envFrom source skipped because they are not valid variable names (an InvalidEnvironmentVariableNames event). */
export interface InvalidEnvNames {
  /** `configMap` or `secret`, as the kubelet's message words it. */
  kind: 'configMap' | 'secret';
  namespace: string;
  name: string;
  /** The names as they would have been (prefix + key), sorted. */
  keys: string[];
}

export type EnvResult = { ok: true; env: ResolvedEnvVar[]; invalid: InvalidEnvNames[] } | { ok: false; message: string };

/** The names of the ConfigMaps and Secrets a container's env and envFrom read. */
export function containerConfigReferences(c: Pick<Container, 'env' | 'envFrom'>): { configmaps: Set<string>; secrets: Set<string> } {
  const out = { configmaps: new Set<string>(), secrets: new Set<string>() };
  for (const f of c.envFrom ?? []) {
    if (f.configMapRef?.name) out.configmaps.add(f.configMapRef.name);
    if (f.secretRef?.name) out.secrets.add(f.secretRef.name);
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.configMapKeyRef?.name) out.configmaps.add(e.valueFrom.configMapKeyRef.name);
    if (e.valueFrom?.secretKeyRef?.name) out.secrets.add(e.valueFrom.secretKeyRef.name);
  }
  return out;
}

/** A Secret's value as the text a variable holds. */
function secretValue(v: string): string {
  return Buffer.from(v, 'base64').toString('utf8');
}

/** labels/annotations as the downward API formats a whole map: `key="value"` lines, sorted. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

/** A pod field of `fieldRef.fieldPath` (the forms api/kinds/pod.ts accepts), or an error message. */
export function podFieldValue(pod: Pod, fieldPath: string, ctx: DownwardContext): { value: string } | { error: string } {
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (sub) {
    const map = sub[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return { value: map?.[sub[2]!] ?? '' };
  }
  switch (fieldPath) {
    case 'metadata.name':
      return { value: pod.metadata.name ?? '' };
    case 'metadata.namespace':
      return { value: pod.metadata.namespace ?? '' };
    case 'metadata.uid':
      return { value: pod.metadata.uid ?? '' };
    case 'metadata.labels':
      return { value: formatMap(pod.metadata.labels) };
    case 'metadata.annotations':
      return { value: formatMap(pod.metadata.annotations) };
    case 'spec.nodeName':
      return { value: pod.spec.nodeName ?? '' };
    case 'spec.serviceAccountName':
      return { value: pod.spec.serviceAccountName ?? '' };
    case 'status.podIP':
      return { value: ctx.podIP ?? '' };
    case 'status.hostIP':
      return { value: ctx.hostIP ?? '' };
    default:
      return { error: `unsupported fieldPath: ${fieldPath}` };
  }
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n === b > 0n ? q + 1n : q;
}

/**
 * `resourceFieldRef`: the container's (or the named container's) limit or
 * request, divided by `divisor` and rounded up, as the kubelet's
 * ExtractContainerResourceValue. A limit that is not set is the node's
 * allocatable (defaultPodLimitsForDownwardAPI); a request that is not set is 0.
 */
export function resourceFieldValue(
  pod: Pod,
  container: Pick<Container, 'name' | 'resources'>,
  ref: NonNullable<EnvVarSource['resourceFieldRef']>,
  allocatable: ResourceList,
): { value: string } | { error: string } {
  let target: Pick<Container, 'name' | 'resources'> | undefined = container;
  if (ref.containerName) {
    target = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].find((c) => c.name === ref.containerName);
    if (!target) return { error: `container ${ref.containerName} not found in pod ${pod.metadata.namespace}/${pod.metadata.name}` };
  }
  const m = /^(limits|requests)\.(cpu|memory|ephemeral-storage)$/.exec(ref.resource);
  if (!m) return { error: `unsupported container resource: ${ref.resource}` };
  const [, which, resource] = m as unknown as [string, 'limits' | 'requests', string];
  const set = target.resources?.[which]?.[resource];
  const raw = set ?? (which === 'limits' ? allocatable[resource] : undefined) ?? '0';
  let divisor = ref.divisor !== undefined && ref.divisor !== null && ref.divisor !== '' ? parseQuantity(ref.divisor) : parseQuantity('1');
  if (divisor.isZero()) divisor = parseQuantity('1');
  const q = parseQuantity(raw);
  // cpu in millicores (MilliValue), memory and storage in bytes (Value), as Kubernetes divides them.
  const v = resource === 'cpu' ? ceilDiv(q.milliValue(), divisor.milliValue()) : ceilDiv(q.value(), divisor.value());
  return { value: v.toString() };
}

/**
 * The container's environment (its own variables only: the image's are merged
 * under them when the OCI spec is built). An error names the object and key,
 * as the kubelet words it: `configmap "app-config" not found`, `couldn't find
 * key mode in ConfigMap demo/app-config`.
 */
export function resolveEnv(pod: Pod, container: Pick<Container, 'name' | 'env' | 'envFrom' | 'resources'>, objects: ConfigObjects, ctx: DownwardContext): EnvResult {
  const ns = pod.metadata.namespace ?? '';
  const vars = new Map<string, string>();
  const invalid: InvalidEnvNames[] = [];

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    let kind: InvalidEnvNames['kind'];
    let name: string;
    let entries: [string, string][];
    if (from.configMapRef) {
      kind = 'configMap';
      name = from.configMapRef.name;
      const cm = objects.configmaps.get(name);
      if (!cm) {
        if (from.configMapRef.optional === true) continue;
        return { ok: false, message: `configmap "${name}" not found` };
      }
      // binaryData is not text: envFrom takes `data` only, as Kubernetes does.
      entries = Object.entries(cm.data ?? {});
    } else if (from.secretRef) {
      kind = 'secret';
      name = from.secretRef.name;
      const s = objects.secrets.get(name);
      if (!s) {
        if (from.secretRef.optional === true) continue;
        return { ok: false, message: `secret "${name}" not found` };
      }
      entries = Object.entries(s.data ?? {}).map(([k, v]) => [k, secretValue(v)]);
    } else {
      continue;
    }
    const bad: string[] = [];
    for (const [k, v] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const n = prefix + k;
      if (envVarNameErrors(n).length > 0) bad.push(n);
      else vars.set(n, v);
    }
    if (bad.length > 0) invalid.push({ kind, namespace: ns, name, keys: bad.sort() });
  }

  for (const e of container.env ?? []) {
    let value = e.value ?? '';
    if (value !== '') {
      value = expandVars(value, vars);
    } else if (e.valueFrom) {
      const vf = e.valueFrom;
      if (vf.fieldRef) {
        const r = podFieldValue(pod, vf.fieldRef.fieldPath, ctx);
        if ('error' in r) return { ok: false, message: r.error };
        value = r.value;
      } else if (vf.resourceFieldRef) {
        const r = resourceFieldValue(pod, container, vf.resourceFieldRef, ctx.allocatable);
        if ('error' in r) return { ok: false, message: r.error };
        value = r.value;
      } else if (vf.configMapKeyRef) {
        const { name, key } = vf.configMapKeyRef;
        const optional = vf.configMapKeyRef.optional === true;
        const cm = objects.configmaps.get(name);
        if (!cm) {
          if (optional) continue;
          return { ok: false, message: `configmap "${name}" not found` };
        }
        const v = cm.data?.[key];
        if (v === undefined) {
          if (optional) continue;
          return { ok: false, message: `couldn't find key ${key} in ConfigMap ${ns}/${name}` };
        }
        value = v;
      } else if (vf.secretKeyRef) {
        const { name, key } = vf.secretKeyRef;
        const optional = vf.secretKeyRef.optional === true;
        const s = objects.secrets.get(name);
        if (!s) {
          if (optional) continue;
          return { ok: false, message: `secret "${name}" not found` };
        }
        const v = s.data?.[key];
        if (v === undefined) {
          if (optional) continue;
          return { ok: false, message: `couldn't find key ${key} in Secret ${ns}/${name}` };
        }
        value = secretValue(v);
      }
    }
    vars.set(e.name, value);
  }
  return { ok: true, env: [...vars].map(([name, value]) => ({ name, value })), invalid };
}

/** The kubelet's InvalidEnvironmentVariableNames event message. */
export function invalidEnvNamesMessage(i: InvalidEnvNames): string {
  return `Keys [${i.keys.join(', ')}] from the EnvFrom ${i.kind} ${i.namespace}/${i.name} were skipped since they are considered invalid environment variable names.`;
}
