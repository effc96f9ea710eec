// Sysctls of a network namespace: /proc/sys/net/... opened inside that
// namespace by the addon (on its dedicated thread), then read or written here.
import { closeSync, constants, readSync, writeSync } from 'node:fs';
import { InvalidError } from '../../api/errors.js';
import { NativeError, openInNetns } from '../../native/index.js';

/**
 * `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`. A name with slashes
 * is taken as a path as is, so interface names with dots stay intact:
 * `net/ipv4/conf/flannel.1/rp_filter`.
 */
export function sysctlPath(name: string): string {
  if (!/^[A-Za-z0-9_.\-/@:]+$/.test(name)) {
    throw new InvalidError(`not a sysctl name: ${JSON.stringify(name)}`);
  }
  const rel = name.includes('/') ? name.replace(/^\/+/, '') : name.replace(/\./g, '/');
  if (rel.split('/').some((p) => p === '..' || p === '')) throw new InvalidError(`not a sysctl name: ${JSON.stringify(name)}`);
  return `/proc/sys/${rel}`;
}

export interface SysctlOptions {
  /** Namespace pin; absent/null: the caller's own namespace. */
  netns?: string | null;
}

export function writeSysctl(name: string, value: string | number, opts: SysctlOptions = {}): void {
  const path = sysctlPath(name);
  const fd = openInNetns(opts.netns ?? null, path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeSync(fd, `${value}\n`);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const errno = typeof err.errno === 'number' ? Math.abs(err.errno) : 5;
    throw new NativeError({ errno, syscall: 'write', path, kernelMessage: err.message, context: `sysctl ${name}=${value}` }, { cause: e });
  } finally {
    closeSync(fd);
  }
}

export function readSysctl(name: string, opts: SysctlOptions = {}): string {
  const path = sysctlPath(name);
  const fd = openInNetns(opts.netns ?? null, path, constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, null);
    return buf.toString('utf8', 0, n).trim();
  } finally {
    closeSync(fd);
  }
}
