// Public entry of native/: the typed wrapper around the node-addon-api addon
// (network namespaces, a netlink socket, mount/umount, mknod/xattrs) and the
// path of the `pause` binary. Every failure is a NativeError (see errors.ts).
//
// Namespace rule: setns/unshare run only on a dedicated thread that the addon
// starts for that one operation; what comes back is a file descriptor (socket,
// file) or a pin file, usable from any thread.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBinding, repoRoot, type RawNetlinkSocket } from './binding.js';
import { NativeError, fromAddonError } from './errors.js';

export const COMPONENT = 'native';
export { NativeError, errnoName, errnoToCode, isErrno, type NativeErrorInfo } from './errors.js';
export { nativeBinding, setNativeBinding, repoRoot, type NativeBinding, type RawNetlinkSocket } from './binding.js';

function call<T>(fn: () => T, context?: string): T {
  try {
    return fn();
  } catch (e) {
    throw fromAddonError(e, context);
  }
}

// --- mount(2) / umount2(2) flags (Linux ABI; checked against the addon's by a test) ---
export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_MANDLOCK = 64;
export const MS_DIRSYNC = 128;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_SILENT = 32768;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MS_RELATIME = 1 << 21;
export const MS_STRICTATIME = 1 << 24;
export const MS_LAZYTIME = 1 << 25;
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const MNT_EXPIRE = 4;
export const UMOUNT_NOFOLLOW = 8;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** All of the above by name, as the addon compiled them from the system headers. */
export function nativeConstants(): Record<string, number> {
  return { ...call(() => nativeBinding().constants) };
}

// --- network namespaces ---

export interface NetnsCreateOptions {
  /**
   * Make the pin's parent directory a shared mount point first (bind-mounting it
   * onto itself when it is not a mount point), as `ip netns` does for /run/netns,
   * so later mount namespaces see the pin's removal. Default true. The caller
   * owns that mount: `umount(dir, MNT_DETACH)` when the directory goes away.
   */
  shareParent?: boolean;
}

/**
 * Creates a new network namespace and pins it by bind-mounting it onto `pinPath`
 * (a file that must not exist yet; its directory must). The namespace lives
 * until netnsDelete(pinPath).
 */
export function netnsCreate(pinPath: string, opts: NetnsCreateOptions = {}): void {
  call(() => nativeBinding().netnsCreate(pinPath, opts.shareParent ?? true), 'netnsCreate');
}

/** Unmounts (MNT_DETACH) and removes a namespace pin. NotFound when missing, Invalid when not a network namespace pin. */
export function netnsDelete(pinPath: string): void {
  call(() => nativeBinding().netnsDelete(pinPath), 'netnsDelete');
}

/** True when `path` is a pinned (bind-mounted) network namespace. */
export function netnsIsPin(path: string): boolean {
  return call(() => nativeBinding().netnsIsPin(path), 'netnsIsPin');
}

/** socket(2) inside the namespace at nsPath (null: the caller's own). Returns an fd (O_CLOEXEC) the caller closes. */
export function socketInNetns(nsPath: string | null, domain: number, type: number, protocol: number): number {
  return call(() => nativeBinding().socketInNetns(nsPath, domain, type, protocol), 'socketInNetns');
}

/**
 * open(2) inside the namespace at nsPath (null: the caller's own), e.g. a
 * /proc/sys/net/... file, which then reads and writes that namespace's values.
 * Returns an fd (O_CLOEXEC) the caller closes (fs.closeSync).
 */
export function openInNetns(nsPath: string | null, path: string, flags: number, mode?: number): number {
  return call(() => nativeBinding().openInNetns(nsPath, path, flags, mode), 'openInNetns');
}

// --- mounts and layer whiteouts ---

/** mount(2). `source`, `fstype`, `data` may be null. Example: overlay with `lowerdir=…,upperdir=…,workdir=…`. */
export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  call(() => nativeBinding().mount(source, target, fstype, flags, data));
}

/** umount2(2); flags such as MNT_DETACH. */
export function umount(target: string, flags = 0): void {
  call(() => nativeBinding().umount(target, flags));
}

/** mknod(2): `mode` includes the file type (fs.constants.S_IFCHR | 0o000 for an overlay whiteout 0/0). */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  call(() => nativeBinding().mknod(path, mode, major, minor));
}

/** lsetxattr(2), e.g. `trusted.overlay.opaque` = `y` on an opaque directory. */
export function lsetxattr(path: string, name: string, value: Buffer | string, flags = 0): void {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  call(() => nativeBinding().lsetxattr(path, name, v, flags));
}

/** lgetxattr(2): the value, or null when the file has no such attribute. */
export function lgetxattr(path: string, name: string): Buffer | null {
  return call(() => nativeBinding().lgetxattr(path, name));
}

/** strerror(3) of an errno, in the kernel's (glibc's) words. */
export function strerror(errno: number): string {
  return call(() => nativeBinding().strerror(errno));
}

// --- netlink socket ---

export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;

export interface NetlinkSocketOptions {
  /** Network namespace pin (e.g. /run/netns/x or /proc/<pid>/ns/net); null/absent: the caller's. */
  netns?: string | null;
  /** Multicast groups bitmask to join at bind. */
  groups?: number;
}

/**
 * A non-blocking netlink socket bound to a kernel-assigned port id, with
 * extended acks (the kernel's error text) and capped acks on. The datagram
 * protocol lives in TypeScript (netplugin/netlink).
 */
export class NetlinkSocket {
  private closed = false;
  private constructor(private readonly raw: RawNetlinkSocket) {}

  /** Opens a socket of `protocol` (NETLINK_ROUTE, …) inside `opts.netns`. */
  static open(protocol: number, opts: NetlinkSocketOptions = {}): NetlinkSocket {
    const Ctor = call(() => nativeBinding().NetlinkSocket, 'netlink');
    return new NetlinkSocket(call(() => new Ctor(opts.netns ?? null, protocol, opts.groups ?? 0), 'netlink'));
  }

  get fd(): number {
    return this.raw.fd;
  }
  get portId(): number {
    return this.raw.portId;
  }
  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one datagram to the kernel. */
  send(msg: Buffer): void {
    call(() => this.raw.send(msg), 'netlink');
  }

  /** One queued datagram, or null when none is queued (never blocks). */
  recv(): Buffer | null {
    return call(() => this.raw.recv(), 'netlink');
  }

  /**
   * Calls `cb` on the main thread whenever datagrams may be queued (drain them
   * with recv() until null); null stops. While watching, the socket keeps the
   * event loop alive, so watch only while replies are awaited.
   */
  onReadable(cb: (() => void) | null): void {
    if (this.closed) return;
    call(() => this.raw.poll(cb), 'netlink');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.raw.close();
  }
}

// --- pause ---

/** Absolute path of the built `pause` binary (native/pause, built by `npm run build`). */
export function pausePath(): string {
  const p = join(repoRoot(), 'native', 'pause');
  if (!existsSync(p)) {
    throw new NativeError({ errno: 2, syscall: 'stat', path: p, kernelMessage: 'pause is not built; run `npm run build:native`' });
  }
  return p;
}
