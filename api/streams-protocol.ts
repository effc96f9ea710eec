// Loads the pod streams protocol (api/proto/streams.proto): the node agent
// serves it, the controller calls it. Also the one place where typed errors
// cross it in either direction (gRPC status + a `flotilla-code` trailer).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { FlotillaError, toFlotillaError, type ErrorCode } from './errors.js';

export const STREAMS_PROTO_PATH = fileURLToPath(new URL('./proto/streams.proto', import.meta.url));

/** The agent's stream port, the kubelet's. */
export const DEFAULT_STREAM_PORT = 10250;

/** The subject the controller's client certificate carries; the agent accepts no other caller. */
export const CONTROLLER_CLIENT_CN = 'system:flotilla-controller';
export const CONTROLLER_CLIENT_GROUP = 'system:masters';

export interface StreamPodRef {
  namespace: string;
  name: string;
  uid: string;
}

/** LogsRequest as grpc-js hands it over (`optional` fields absent when unset). */
export interface LogsRequestMsg {
  pod: StreamPodRef;
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  limitBytes?: number;
}

export interface LogChunkMsg {
  data: Buffer;
}

export interface ExecStartMsg {
  pod: StreamPodRef;
  container: string;
  command: string[];
  stdin: boolean;
  tty: boolean;
}

export type ExecInputMsg = { start: ExecStartMsg } | { stdin: Buffer } | { stdinClose: boolean };
export type ExecOutputMsg = { started: boolean } | { stdout: Buffer } | { stderr: Buffer } | { exitCode: number };

/** ImportImage's input and ExportImage's output. */
export interface ImageTarChunkMsg {
  data: Buffer;
  name?: string;
}

export interface ImportImageResponseMsg {
  images: string[];
}

export interface ExportImageRequestMsg {
  image: string;
}

/** One image of a node's store, as ListImages answers. */
export interface NodeImageMsg {
  name: string;
  digest: string;
  size: number;
}

export interface ListImagesResponseMsg {
  images: NodeImageMsg[];
}

/** The largest image tar a node accepts (and the API server passes on): 2 GiB. */
export const MAX_IMAGE_TAR_BYTES = 2 * 1024 * 1024 * 1024;

/** Bytes per message of an image tar stream. */
export const IMAGE_TAR_CHUNK_BYTES = 1024 * 1024;

let cached: grpc.ServiceClientConstructor | undefined;

/** The PodStreams definition (for server.addService) and client constructor. */
export function podStreamsDefinition(): { service: grpc.ServiceDefinition; Client: grpc.ServiceClientConstructor } {
  if (!cached) {
    const def = protoLoader.loadSync(STREAMS_PROTO_PATH, {
      keepCase: false,
      longs: Number,
      enums: String,
      // Unset `optional` fields stay absent instead of becoming 0.
      defaults: false,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { flotilla: { streams: { v1: { PodStreams: grpc.ServiceClientConstructor } } } };
    cached = pkg.flotilla.streams.v1.PodStreams;
  }
  return { service: cached.service, Client: cached };
}

const GRPC_CODE: Record<ErrorCode, grpc.status> = {
  BadRequest: grpc.status.INVALID_ARGUMENT,
  Invalid: grpc.status.INVALID_ARGUMENT,
  NotFound: grpc.status.NOT_FOUND,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  Conflict: grpc.status.ABORTED,
  Gone: grpc.status.OUT_OF_RANGE,
  Unauthorized: grpc.status.UNAUTHENTICATED,
  Forbidden: grpc.status.PERMISSION_DENIED,
  RequestEntityTooLarge: grpc.status.RESOURCE_EXHAUSTED,
  UnsupportedMediaType: grpc.status.INVALID_ARGUMENT,
  MethodNotAllowed: grpc.status.UNIMPLEMENTED,
  NotSupported: grpc.status.UNIMPLEMENTED,
  Timeout: grpc.status.DEADLINE_EXCEEDED,
  TooManyRequests: grpc.status.RESOURCE_EXHAUSTED,
  Unavailable: grpc.status.UNAVAILABLE,
  Internal: grpc.status.INTERNAL,
};

/** A typed error as a gRPC status (what a handler passes to its callback or emits). */
export function streamErrorToGrpc(e: unknown): grpc.StatusObject & Error {
  const fe = toFlotillaError(e);
  const metadata = new grpc.Metadata();
  metadata.set('flotilla-code', fe.code);
  return Object.assign(new Error(fe.message), { code: GRPC_CODE[fe.code], details: fe.message, metadata });
}

/** An error crossing the streams protocol, with the code the other side gave it. */
export class NodeStreamError extends FlotillaError {}

/**
 * A gRPC failure as a typed error. Without a `flotilla-code` trailer the peer
 * never answered (TLS refused, connection lost): that is Unavailable.
 */
export function streamErrorFromGrpc(e: unknown, what: string): FlotillaError {
  if (e instanceof FlotillaError) return e;
  const se = e as Partial<grpc.ServiceError>;
  const code = se.metadata?.get('flotilla-code')?.[0] as ErrorCode | undefined;
  if (code && code in GRPC_CODE) return new NodeStreamError(code, se.details || se.message || what, { retryable: code === 'Unavailable' });
  if (se.code === grpc.status.CANCELLED) return new NodeStreamError('Unavailable', `${what}: cancelled`, { retryable: true });
  return new NodeStreamError('Unavailable', `${what}: ${se.details || se.message || 'connection failed'}`, { retryable: true, cause: e });
}
