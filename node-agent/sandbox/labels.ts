// Labels the node runtime writes on every container it creates (kept in the
// container's meta.json by the ContainerManager). They are the only thing a
// restarted agent has to rebuild its view of pods from disk, so every fact the
// sync loop needs about an instance is here: whose pod, which container, which
// sandbox, how many restarts, the spec hash it was made from. Pure: formatting
// and parsing are table-tested.
import type { RuntimeContainer } from '../sync/types.js';

export const LABELS = {
  podUid: 'io.kubernetes.pod.uid',
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  containerName: 'io.kubernetes.container.name',
  kind: 'flotilla.io/kind',
  sandboxId: 'flotilla.io/sandbox-id',
  restartCount: 'flotilla.io/restart-count',
  specHash: 'flotilla.io/spec-hash',
  image: 'flotilla.io/image',
  imageId: 'flotilla.io/image-id',
} as const;

/** A pod's pause container is `sandbox`; everything the pod spec names is `container`. */
export type ContainerKind = 'sandbox' | 'container';

/** Name the pause container carries in the container-name label (as the kubelet's `POD`). */
export const SANDBOX_CONTAINER_NAME = 'POD';

export interface PodRef {
  uid: string;
  name: string;
  namespace: string;
}

export interface ContainerLabels {
  pod: PodRef;
  kind: ContainerKind;
  containerName: string;
  sandboxId: string;
  restartCount: number;
  specHash: string;
  image: string;
  imageId?: string;
}

export function formatLabels(l: ContainerLabels): Record<string, string> {
  const out: Record<string, string> = {
    [LABELS.podUid]: l.pod.uid,
    [LABELS.podName]: l.pod.name,
    [LABELS.podNamespace]: l.pod.namespace,
    [LABELS.containerName]: l.containerName,
    [LABELS.kind]: l.kind,
    [LABELS.sandboxId]: l.sandboxId,
    [LABELS.restartCount]: String(l.restartCount),
    [LABELS.specHash]: l.specHash,
    [LABELS.image]: l.image,
  };
  if (l.imageId) out[LABELS.imageId] = l.imageId;
  return out;
}

/**
 * The labels of a container this runtime made, or undefined for anything else
 * (a container created by hand under the same run dir, or a half-written
 * record): such containers are never mistaken for a pod's.
 */
export function parseLabels(raw: Record<string, string> | undefined): ContainerLabels | undefined {
  if (!raw) return undefined;
  const uid = raw[LABELS.podUid];
  const kind = raw[LABELS.kind];
  const containerName = raw[LABELS.containerName];
  const sandboxId = raw[LABELS.sandboxId];
  const restartCount = Number(raw[LABELS.restartCount] ?? '0');
  if (!uid || !containerName || !sandboxId) return undefined;
  if (kind !== 'sandbox' && kind !== 'container') return undefined;
  if (!Number.isInteger(restartCount) || restartCount < 0) return undefined;
  return {
    pod: { uid, name: raw[LABELS.podName] ?? '', namespace: raw[LABELS.podNamespace] ?? '' },
    kind,
    containerName,
    sandboxId,
    restartCount,
    specHash: raw[LABELS.specHash] ?? '',
    image: raw[LABELS.image] ?? '',
    ...(raw[LABELS.imageId] ? { imageId: raw[LABELS.imageId] } : {}),
  };
}

/** One instance of a pod's container as found on disk: labels plus when it was created. */
export interface Instance<T> {
  labels: ContainerLabels;
  createdAt: number;
  value: T;
}

/**
 * Instances of each container name, newest first: by restart count, then by
 * creation time (two instances with one count happen when a start failed after
 * create and was retried).
 */
export function instancesByName<T>(instances: Instance<T>[]): Map<string, Instance<T>[]> {
  const out = new Map<string, Instance<T>[]>();
  for (const i of instances) {
    if (i.labels.kind !== 'container') continue;
    const list = out.get(i.labels.containerName) ?? [];
    list.push(i);
    out.set(i.labels.containerName, list);
  }
  for (const list of out.values()) {
    list.sort((a, b) => b.labels.restartCount - a.labels.restartCount || b.createdAt - a.createdAt);
  }
  return out;
}

/** The RuntimeContainer fields that come from labels (the state comes from the runtime). */
export function runtimeContainerBase(l: ContainerLabels, id: string): Pick<RuntimeContainer, 'name' | 'id' | 'sandboxId' | 'restartCount' | 'image' | 'imageID' | 'specHash'> {
  return {
    name: l.containerName,
    id,
    sandboxId: l.sandboxId,
    restartCount: l.restartCount,
    image: l.image,
    ...(l.imageId ? { imageID: l.imageId } : {}),
    specHash: l.specHash,
  };
}
