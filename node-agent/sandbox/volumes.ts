// A pod's volumes on the host. emptyDir: a directory under the pod's state dir,
// made when the sandbox is made and shared by all its containers (medium
// Memory: a tmpfs mounted there). hostPath: the host path itself, checked
// against its `type` when a container that mounts it starts, as the kubelet
// does, so a missing path is a clear container error instead of a runtime failure.
import * as fs from 'node:fs';
import type { Pod, Volume } from '../../api/index.js';
import { ContainerStartError } from '../pod-runtime.js';
import type { ResolvedVolume } from '../runtime/index.js';
import type { NodeLayout } from './layout.js';

export interface PodVolume {
  name: string;
  kind: 'emptyDir' | 'hostPath';
  /** Where it is on the host. */
  path: string;
  /** emptyDir medium Memory: a tmpfs. */
  memory?: boolean;
  hostPathType?: string;
}

/** Where each of the pod's volumes lives on this host. Pure. */
export function podVolumes(pod: Pod, layout: NodeLayout): PodVolume[] {
  const uid = pod.metadata.uid!;
  return (pod.spec.volumes ?? []).map((v: Volume): PodVolume => {
    if (v.hostPath) return { name: v.name, kind: 'hostPath', path: v.hostPath.path, hostPathType: v.hostPath.type ?? '' };
    return { name: v.name, kind: 'emptyDir', path: layout.volumeDir(uid, v.name), ...(v.emptyDir?.medium === 'Memory' ? { memory: true } : {}) };
  });
}

/** The volumes map buildOciSpec takes. */
export function resolvedVolumes(vols: PodVolume[]): Record<string, ResolvedVolume> {
  return Object.fromEntries(vols.map((v) => [v.name, { hostPath: v.path }]));
}

function hostPathError(v: PodVolume, why: string): ContainerStartError {
  return new ContainerStartError('CreateContainerConfigError', `hostPath volume "${v.name}": ${v.path} ${why}`);
}

/**
 * Checks (and for the *OrCreate types makes) a hostPath volume. An unset type
 * still demands that the path exists: a bind mount of a missing path would
 * only fail inside the runtime with a less helpful message.
 */
export function ensureHostPath(v: PodVolume): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(v.path);
  } catch {
    st = undefined;
  }
  switch (v.hostPathType ?? '') {
    case 'DirectoryOrCreate':
      if (!st) fs.mkdirSync(v.path, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) throw hostPathError(v, 'is not a directory');
      return;
    case 'FileOrCreate':
      if (!st) fs.writeFileSync(v.path, '', { mode: 0o644 });
      else if (!st.isFile()) throw hostPathError(v, 'is not a file');
      return;
    case 'Directory':
      if (!st) throw hostPathError(v, 'does not exist');
      if (!st.isDirectory()) throw hostPathError(v, 'is not a directory');
      return;
    case 'File':
      if (!st) throw hostPathError(v, 'does not exist');
      if (!st.isFile()) throw hostPathError(v, 'is not a file');
      return;
    case 'Socket':
      if (!st?.isSocket()) throw hostPathError(v, 'is not a socket');
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw hostPathError(v, 'is not a character device');
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw hostPathError(v, 'is not a block device');
      return;
    default:
      if (!st) throw hostPathError(v, 'does not exist');
  }
}
