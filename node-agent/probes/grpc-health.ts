// The gRPC health protocol (grpc.health.v1.Health/Check) with @grpc/grpc-js.
// The two messages are tiny, so they are encoded by hand from the published
// field numbers instead of loading a .proto:
//   message HealthCheckRequest  { string service = 1; }
//   message HealthCheckResponse { ServingStatus status = 1; }
//   enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
import * as grpc from '@grpc/grpc-js';
import net from 'node:net';
import type { ProbeResult } from './result.js';

export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatus = (typeof SERVING_STATUS)[number];

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function readVarint(b: Buffer, at: number): [number, number] {
  let n = 0;
  let shift = 0;
  for (;;) {
    if (at >= b.length) throw new Error('truncated varint');
    const byte = b[at++]!;
    n += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [n, at];
    shift += 7;
  }
}

/** Skips the value of a field of WIRETYPE at AT; returns the next offset. */
function skip(b: Buffer, at: number, wire: number): number {
  if (wire === 0) return readVarint(b, at)[1];
  if (wire === 1) return at + 8;
  if (wire === 5) return at + 4;
  if (wire === 2) {
    const [len, next] = readVarint(b, at);
    return next + len;
  }
  throw new Error(`unsupported wire type ${wire}`);
}

/** Reads field 1 of M as a string (wire type 2) or a number (wire type 0). */
function field1(b: Buffer): string | number | undefined {
  let at = 0;
  let found: string | number | undefined;
  while (at < b.length) {
    const [key, next] = readVarint(b, at);
    const num = Math.floor(key / 8);
    const wire = key & 7;
    if (num === 1 && wire === 2) {
      const [len, start] = readVarint(b, next);
      found = b.subarray(start, start + len).toString('utf8');
      at = start + len;
    } else if (num === 1 && wire === 0) {
      const [v, after] = readVarint(b, next);
      found = v;
      at = after;
    } else at = skip(b, next, wire);
  }
  return found;
}

export const encodeRequest = (r: { service: string }): Buffer => {
  const s = Buffer.from(r.service, 'utf8');
  return s.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint(s.length)]), s]);
};
export const decodeRequest = (b: Buffer): { service: string } => {
  const v = field1(b);
  return { service: typeof v === 'string' ? v : '' };
};
export const encodeResponse = (r: { status: ServingStatus }): Buffer => {
  const n = SERVING_STATUS.indexOf(r.status);
  return n <= 0 ? Buffer.alloc(0) : Buffer.from([0x08, ...varint(n)]);
};
export const decodeResponse = (b: Buffer): { status: ServingStatus } => {
  const v = field1(b);
  return { status: typeof v === 'number' ? (SERVING_STATUS[v] ?? 'UNKNOWN') : 'UNKNOWN' };
};

/** The service definition, for a client here and for a server (tests serve it). */
export const HEALTH_SERVICE: grpc.ServiceDefinition = {
  check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeRequest,
    requestDeserialize: decodeRequest,
    responseSerialize: encodeResponse,
    responseDeserialize: decodeResponse,
  },
};

const HealthClient = grpc.makeGenericClientConstructor(HEALTH_SERVICE, 'grpc.health.v1.Health');

/** One Check; SERVING is success. Failures are worded as the kubelet words them. */
export function grpcHealthCheck(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeResult> {
  const addr = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  const client = new HealthClient(addr, grpc.credentials.createInsecure());
  const secs = `${timeoutMs / 1000}s`;
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    client.waitForReady(deadline, (err) => {
      if (err) {
        client.close();
        resolve({ ok: false, message: `timeout: failed to connect service ${JSON.stringify(addr)} within ${secs}` });
        return;
      }
      (client as unknown as { check: (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status: ServingStatus }) => void) => void }).check(
        { service },
        new grpc.Metadata(),
        { deadline },
        (e, r) => {
          client.close();
          if (e) {
            if (e.code === grpc.status.UNIMPLEMENTED) resolve({ ok: false, message: `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${e.details}` });
            else if (e.code === grpc.status.DEADLINE_EXCEEDED) resolve({ ok: false, message: `timeout: health rpc did not complete within ${secs}` });
            else resolve({ ok: false, message: `error: health rpc probe failed: ${e.details || e.message}` });
            return;
          }
          const status = r?.status ?? 'UNKNOWN';
          resolve(status === 'SERVING' ? { ok: true, message: 'service is SERVING' } : { ok: false, message: `service unhealthy (responded with ${JSON.stringify(status)})` });
        },
      );
    });
  });
}
