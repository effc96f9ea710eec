// The few syscalls the image store needs that Node lacks, behind one small
// interface so the unpacker and snapshotter are testable with a fake. The real
// implementation is the native addon (`native/index.ts`); when it cannot be
// loaded, a fallback runs the equivalent tools (mknod(1),
// mount(8), umount(8), python3's os.setxattr) as child processes: used where
// the addon is not built (a plain `tsc` build), and for comparison in tests.
import { execFileSync } from 'node:child_process';
import * as native from '../../native/index.js';

export interface NativeOps {
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags?: number): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
}

export const S_IFMT = 0o170000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
/** umount2 flag: lazy detach. */
export const MNT_DETACH = 2;

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`${cmd} ${args.join(' ')}: ${stderr || (e as Error).message}`);
  }
}

/** The child-process fallback (used until the native addon provides the calls). */
export const shellNativeOps: NativeOps = {
  mount(source, target, fstype, _flags, data) {
    run('mount', ['-t', fstype, ...(data ? ['-o', data] : []), source, target]);
  },
  umount(target, flags = 0) {
    run('umount', [...(flags & MNT_DETACH ? ['-l'] : []), target]);
  },
  mknod(path, mode, major, minor) {
    const t = mode & S_IFMT;
    const kind = t === S_IFCHR ? 'c' : t === S_IFBLK ? 'b' : t === S_IFIFO ? 'p' : undefined;
    if (!kind) throw new Error(`mknod ${path}: unsupported file type ${t.toString(8)}`);
    run('mknod', ['-m', (mode & 0o7777).toString(8), path, kind, ...(kind === 'p' ? [] : [String(major), String(minor)])]);
  },
  lsetxattr(path, name, value) {
    run('python3', [
      '-c',
      'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)',
      path,
      name,
      value.toString('hex'),
    ]);
  },
};

/** The native addon's calls (typed NativeError on failure). */
export const addonNativeOps: NativeOps = {
  mount: (source, target, fstype, flags, data) => native.mount(source, target, fstype, flags, data),
  umount: (target, flags = 0) => native.umount(target, flags),
  mknod: (path, mode, major, minor) => native.mknod(path, mode, major, minor),
  lsetxattr: (path, name, value) => native.lsetxattr(path, name, value),
};

/**
 * The native addon when it is built and loads here, else the child-process
 * fallback. `source` says which one was chosen.
 */
export async function loadNativeOps(): Promise<NativeOps & { source: 'native' | 'shell' }> {
  try {
    native.nativeBinding();
    return { source: 'native', ...addonNativeOps };
  } catch {
    return { source: 'shell', ...shellNativeOps };
  }
}
