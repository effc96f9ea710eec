// The one boundary where errors of the etcd client (etcd3 classes, raw gRPC
// errors, circuit-breaker rejections) become typed Flotilla errors. Everything
// the store throws passes through `fromEtcdError`.
import {
  FlotillaError,
  GoneError,
  InternalError,
  TimeoutError,
  UnavailableError,
} from '../../api/index.js';

// gRPC status codes (grpc/doc/statuscodes.md).
const GRPC_CANCELLED = 1;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_OUT_OF_RANGE = 11;
const GRPC_UNAVAILABLE = 14;

/** Messages etcd uses for conditions that pass once the cluster has a leader / the member is reachable. */
const TRANSIENT = [
  'etcdserver: no leader',
  'etcdserver: leader changed',
  'etcdserver: request timed out',
  'etcdserver: too many requests',
  'etcdserver: server stopped',
  'etcdserver: not capable',
  'etcdserver: request cancelled',
  'etcdserver: unhealthy cluster',
  'etcdserver: raft proposal dropped',
  'etcdserver: failed to commit proposal',
  'transport is closing',
  'connection refused',
  'No connection established',
  'ECONNREFUSED',
  'ECONNRESET',
  'socket hang up',
];

/** The error's own name (errors made with a plain Error and a name set), else its class name. */
function nameOf(e: unknown): string {
  const own = e instanceof Error ? e.name : undefined;
  if (own && own !== 'Error') return own;
  return (e as { constructor?: { name?: string } })?.constructor?.name ?? '';
}

/**
 * Converts anything the etcd client threw into a FlotillaError.
 * Connection and leader problems become UnavailableError (retryable); request
 * deadlines TimeoutError (retryable); compaction GoneError; oversize requests
 * RequestEntityTooLarge; the rest InternalError.
 */
export function fromEtcdError(e: unknown): FlotillaError {
  if (e instanceof FlotillaError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = typeof (e as { code?: unknown })?.code === 'number' ? ((e as { code: number }).code) : undefined;
  const name = nameOf(e);

  if (message.includes('required revision has been compacted')) {
    return new GoneError('too old resource version: the requested revision has been compacted');
  }
  if (message.includes('request is too large') || message.includes('larger than max')) {
    return new FlotillaError('RequestEntityTooLarge', `etcd rejected the object: ${message}`, { cause: e });
  }
  if (message.includes('database space exceeded')) {
    return new InternalError(`etcd is out of space: ${message}`, { cause: e });
  }
  if (name === 'GRPCDeadlineExceededError' || code === GRPC_DEADLINE_EXCEEDED) {
    return new TimeoutError(`etcd did not answer in time: ${message}`);
  }
  if (
    name === 'GRPCUnavailableError' ||
    name === 'ClientClosedError' ||
    name === 'BrokenCircuitError' ||
    name === 'IsolatedCircuitError' ||
    name === 'EtcdWatchStreamEnded' ||
    name === 'GRPCCancelledError' ||
    code === GRPC_UNAVAILABLE ||
    code === GRPC_CANCELLED ||
    code === GRPC_RESOURCE_EXHAUSTED ||
    TRANSIENT.some((t) => message.includes(t))
  ) {
    return new UnavailableError(`etcd is unavailable: ${message}`, { cause: e, retryAfterSeconds: retryAfterOf(e) });
  }
  if (code === GRPC_OUT_OF_RANGE) {
    return new GoneError(`too old resource version: ${message}`);
  }
  return new InternalError(`etcd: ${message}`, { cause: e });
}

/** How long a client should wait before trying again: the breaker's own figure, else 1 s. */
function retryAfterOf(e: unknown): number {
  const r = (e as { retryAfterSeconds?: unknown })?.retryAfterSeconds;
  return typeof r === 'number' && r > 0 ? r : 1;
}

/** True when the same call may succeed if tried again (a typed error's own marker). */
export function isRetryable(e: unknown): boolean {
  return e instanceof FlotillaError && e.retryable && e.code !== 'Conflict';
}
