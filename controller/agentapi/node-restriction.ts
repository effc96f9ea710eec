// The node restriction for ConfigMaps and Secrets, as Kubernetes' node
// authorizer has it: a node may read one only when a pod bound to that node
// references it. Pure: the node service reads the pod the agent names, this
// decides (and says why not, naming the object).
import type { Container, EnvFromSource, EnvVar, Pod } from '../../api/index.js';
import type { ConfigResource } from '../../api/agent-protocol.js';

export interface ConfigObjectRef {
  resource: ConfigResource;
  namespace: string;
  name: string;
}

/** The ConfigMaps and Secrets a pod's spec references, by name (objects of the pod's own namespace). */
export interface PodConfigReferences {
  configmaps: Set<string>;
  secrets: Set<string>;
}

/**
 * Every ConfigMap and Secret a pod uses: env valueFrom and envFrom of its
 * containers, init and ephemeral containers, configMap and secret volumes,
 * and imagePullSecrets (as Kubernetes' VisitPodConfigmapNames/VisitPodSecretNames).
 */
export function podConfigReferences(pod: Pod): PodConfigReferences {
  const out: PodConfigReferences = { configmaps: new Set(), secrets: new Set() };
  const spec = pod.spec as Pod['spec'] & { ephemeralContainers?: Container[] };
  const add = (set: Set<string>, name: unknown) => {
    if (typeof name === 'string' && name !== '') set.add(name);
  };
  for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? []), ...(spec?.ephemeralContainers ?? [])]) {
    for (const e of (c?.env ?? []) as EnvVar[]) {
      add(out.configmaps, e?.valueFrom?.configMapKeyRef?.name);
      add(out.secrets, e?.valueFrom?.secretKeyRef?.name);
    }
    for (const f of (c?.envFrom ?? []) as EnvFromSource[]) {
      add(out.configmaps, f?.configMapRef?.name);
      add(out.secrets, f?.secretRef?.name);
    }
  }
  for (const v of spec?.volumes ?? []) {
    add(out.configmaps, v?.configMap?.name);
    add(out.secrets, v?.secret?.secretName);
  }
  for (const s of spec?.imagePullSecrets ?? []) add(out.secrets, s?.name);
  return out;
}

export type ReadDecision = { allowed: true } | { allowed: false; reason: string };

const SINGULAR: Record<ConfigResource, string> = { configmaps: 'configmap', secrets: 'secret' };

/** How an object is named in messages: `configmap demo/app-config`. */
export function describeConfigRef(ref: ConfigObjectRef): string {
  return `${SINGULAR[ref.resource]} ${ref.namespace}/${ref.name}`;
}

/**
 * May NODE read REF on behalf of POD (the pod the agent named, as stored;
 * undefined when it does not exist)? Only when the pod is bound to the node, is
 * the one asked for (same uid), and references the object.
 */
export function configReadDecision(node: string, ref: ConfigObjectRef, podRef: { name: string; uid?: string }, pod: Pod | undefined): ReadDecision {
  const what = `node "${node}" may not read ${describeConfigRef(ref)}`;
  const podName = `${ref.namespace}/${podRef.name}`;
  if (!pod) return { allowed: false, reason: `${what}: pod ${podName} (named in the request) does not exist` };
  if (pod.spec?.nodeName !== node) return { allowed: false, reason: `${what}: pod ${podName} is not bound to that node` };
  if (podRef.uid && pod.metadata.uid !== podRef.uid) return { allowed: false, reason: `${what}: pod ${podName} with uid ${podRef.uid} does not exist (it was replaced)` };
  const refs = podConfigReferences(pod)[ref.resource];
  if (!refs.has(ref.name)) return { allowed: false, reason: `${what}: no pod bound to that node references it (pod ${podName} does not)` };
  return { allowed: true };
}
