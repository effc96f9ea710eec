// A controller-side connection to one node agent's stream port, shared by
// node-streams.ts (which dials and caches them) and node-images.ts (which uses them).
import type * as grpc from '@grpc/grpc-js';

export interface NodeConn {
  key: string;
  target: string;
  client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  /** Why the last TLS handshake was refused by our identity check, for the error message. */
  refused?: string;
}
