// NativeError: every failure of the addon, typed. `code` follows the errno
// (ENOENT → NotFound, EEXIST → AlreadyExists, EPERM/EACCES → Forbidden, …) and
// the message carries the syscall, the path and the kernel's own words.
import { constants as osConstants } from 'node:os';
import { FlotillaError, type ErrorCode } from '../api/errors.js';

const errnoNames = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.errno)) if (!errnoNames.has(n)) errnoNames.set(n, name);

/** Symbolic name of an errno number (`ENOENT`), or `E<n>` when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** Maps an errno to the project's stable error code. */
export function errnoToCode(errno: number): ErrorCode {
  switch (errnoName(errno)) {
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
    case 'ESRCH':
    case 'EADDRNOTAVAIL':
    case 'ENODATA':
      return 'NotFound';
    case 'EEXIST':
    case 'EADDRINUSE':
      return 'AlreadyExists';
    case 'EPERM':
    case 'EACCES':
    case 'EROFS':
      return 'Forbidden';
    case 'EINVAL':
    case 'ERANGE':
    case 'ENAMETOOLONG':
    case 'ENOTDIR':
    case 'EISDIR':
    case 'EAFNOSUPPORT':
    case 'ENETUNREACH':
      return 'Invalid';
    case 'EBUSY':
      return 'Conflict';
    case 'EAGAIN':
    case 'ENOBUFS':
    case 'ENOMEM':
    case 'EINTR':
      return 'Unavailable';
    case 'ETIMEDOUT':
      return 'Timeout';
    case 'EOPNOTSUPP':
    case 'EPROTONOSUPPORT':
    case 'ENOSYS':
    case 'ENOTSUP':
      return 'NotSupported';
    default:
      return 'Internal';
  }
}

export interface NativeErrorInfo {
  errno: number;
  /** The syscall (or netlink request such as `RTM_NEWLINK`) that failed. */
  syscall: string;
  /** The path or object involved, when there is one. */
  path?: string | null;
  /** The kernel's message: strerror(errno), or the netlink extended-ack text. */
  kernelMessage: string;
  /** Optional text put in front of the message (for example the operation). */
  context?: string;
}

export class NativeError extends FlotillaError {
  readonly errno: number;
  /** `ENOENT`, `EEXIST`, … */
  readonly errnoCode: string;
  readonly syscall: string;
  readonly path: string | null;
  readonly kernelMessage: string;

  constructor(info: NativeErrorInfo, opts: { cause?: unknown } = {}) {
    const name = errnoName(info.errno);
    const where = info.path ? ` ${info.path}` : '';
    const prefix = info.context ? `${info.context}: ` : '';
    super(errnoToCode(info.errno), `${prefix}${info.syscall}${where}: ${info.kernelMessage} (${name})`, {
      retryable: ['EAGAIN', 'EBUSY', 'EINTR', 'ENOBUFS', 'ETIMEDOUT'].includes(name),
      details: { errno: info.errno, errnoCode: name, syscall: info.syscall, path: info.path ?? null },
      cause: opts.cause,
    });
    this.errno = info.errno;
    this.errnoCode = name;
    this.syscall = info.syscall;
    this.path = info.path ?? null;
    this.kernelMessage = info.kernelMessage;
  }
}

/** True for a NativeError with the given errno name (`'ENOENT'`). */
export function isErrno(e: unknown, name: string): e is NativeError {
  return e instanceof NativeError && e.errnoCode === name;
}

interface RawNativeError {
  native: true;
  errno: number;
  syscall: string;
  path: string | null;
  kernelMessage: string;
}

function isRaw(e: unknown): e is RawNativeError {
  return typeof e === 'object' && e !== null && (e as { native?: unknown }).native === true;
}

/** Converts what the addon threw into a NativeError (anything else is re-thrown as is). */
export function fromAddonError(e: unknown, context?: string): unknown {
  if (!isRaw(e)) return e;
  return new NativeError(
    { errno: e.errno, syscall: e.syscall, path: e.path, kernelMessage: e.kernelMessage, context },
    { cause: e },
  );
}
