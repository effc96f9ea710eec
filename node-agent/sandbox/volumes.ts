// A pod's volumes on the host. emptyDir: a directory under the pod's state dir,
// made when the sandbox is made and shared by all its containers (medium
// Memory: a tmpfs mounted there). hostPath: the host path itself, checked
// against its `type` when a container that mounts it starts, as the kubelet
// does, so a missing path is a clear container error instead of a runtime failure.
// configMap and secret: a directory under the pod's state dir (a tmpfs for
// secrets, so they never touch the disk) holding the files the agent resolved,
// written atomically (atomic-writer.ts), mounted read-only into containers.
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import type { Pod, Volume } from '../../api/index.js';
import * as native from '../../native/index.js';
import { ContainerStartError } from '../pod-runtime.js';
import type { ResolvedVolume } from '../runtime/index.js';
import { writeVolumeAtomically, type VolumeFiles } from './atomic-writer.js';
import type { NodeLayout } from './layout.js';

export interface PodVolume {
  name: string;
  kind: 'emptyDir' | 'hostPath' | 'configMap' | 'secret';
  /** Where it is on the host. */
  path: string;
  /** A tmpfs: emptyDir medium Memory, and every secret volume. */
  memory?: boolean;
  hostPathType?: string;
  /** securityContext.fsGroup of the pod: emptyDir, configMap and secret volumes are owned by that group. */
  fsGroup?: number;
}

/** Where each of the pod's volumes lives on this host. Pure. */
export function podVolumes(pod: Pod, layout: NodeLayout): PodVolume[] {
  const uid = pod.metadata.uid!;
  const fsGroup = pod.spec.securityContext?.fsGroup;
  const g = fsGroup !== undefined ? { fsGroup } : {};
  return (pod.spec.volumes ?? []).map((v: Volume): PodVolume => {
    if (v.hostPath) return { name: v.name, kind: 'hostPath', path: v.hostPath.path, hostPathType: v.hostPath.type ?? '' };
    if (v.configMap) return { name: v.name, kind: 'configMap', path: layout.volumeDir(uid, v.name), ...g };
    if (v.secret) return { name: v.name, kind: 'secret', path: layout.volumeDir(uid, v.name), memory: true, ...g };
    return { name: v.name, kind: 'emptyDir', path: layout.volumeDir(uid, v.name), ...(v.emptyDir?.medium === 'Memory' ? { memory: true } : {}), ...g };
  });
}

/**
 * The kubelet's volume ownership for fsGroup: every file and directory of the
 * volume gets group GID; directories are setgid (new files inherit the group)
 * and group-writable; files get group read (and write, unless the volume is
 * read-only: configMap and secret). hostPath volumes are never touched.
 * fsGroupChangePolicy is not consulted, as in the kubelet: its emptyDir,
 * configMap, secret, projected and downwardAPI plugins pass no policy to the
 * ownership change (only persistent volumes honour OnRootMismatch), so new
 * files written into these volumes always get the group.
 */
export function applyFsGroup(v: PodVolume): void {
  if (v.fsGroup === undefined || v.kind === 'hostPath') return;
  const gid = v.fsGroup;
  const readOnly = v.kind === 'configMap' || v.kind === 'secret';
  const walk = (p: string) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) {
      fs.lchownSync(p, st.uid, gid);
      return;
    }
    fs.chownSync(p, st.uid, gid);
    if (st.isDirectory()) {
      fs.chmodSync(p, (st.mode & 0o7777) | 0o2000 | (readOnly ? 0o050 : 0o070));
      for (const e of fs.readdirSync(p)) walk(`${p}/${e}`);
    } else {
      fs.chmodSync(p, (st.mode & 0o7777) | (readOnly ? 0o040 : 0o060));
    }
  };
  walk(v.path);
}

/** The volumes map buildOciSpec takes: configMap and secret volumes are always read-only, as the kubelet mounts them. */
export function resolvedVolumes(vols: PodVolume[]): Record<string, ResolvedVolume> {
  return Object.fromEntries(
    vols.map((v) => [v.name, { hostPath: v.path, ...(v.kind === 'configMap' || v.kind === 'secret' ? { readOnly: true } : {}) }]),
  );
}

/** Whether PATH is a mount point (another device than its parent's). */
function isMountPoint(path: string): boolean {
  try {
    return fs.statSync(path).dev !== fs.statSync(dirname(path)).dev;
  } catch {
    return false;
  }
}

/**
 * Brings a configMap or secret volume to FILES: its directory made (for a
 * secret, a tmpfs mounted on it first; where the mount is refused, a plain
 * directory — `tmpfs` says which), then the atomic write. Idempotent.
 */
export function setUpConfigVolume(v: PodVolume, files: VolumeFiles, now: number): { written: boolean; tmpfs: boolean } {
  fs.mkdirSync(v.path, { recursive: true, mode: 0o755 });
  let tmpfs = false;
  if (v.memory) {
    tmpfs = isMountPoint(v.path);
    if (!tmpfs) {
      try {
        native.mount('tmpfs', v.path, 'tmpfs', native.MS_NOSUID | native.MS_NODEV, 'mode=0755');
        tmpfs = true;
      } catch {
        /* no mount allowed here (not root): the files go to disk */
      }
    }
  }
  const written = writeVolumeAtomically(v.path, files, now);
  applyFsGroup(v);
  return { written, tmpfs };
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
