// Loads the agent protocol (api/proto/agent.proto) for @grpc/grpc-js. Both the
// controller (server) and the node agent (client) get their stubs from here.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const AGENT_PROTO_PATH = fileURLToPath(new URL('./proto/agent.proto', import.meta.url));

let cached: grpc.GrpcObject | undefined;

function load(): grpc.GrpcObject {
  if (!cached) {
    const def = protoLoader.loadSync(AGENT_PROTO_PATH, {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    cached = grpc.loadPackageDefinition(def);
  }
  return cached;
}

type Pkg = { flotilla: { agent: { v1: Record<'NodeService' | 'Bootstrap', grpc.ServiceClientConstructor> } } };

/** The NodeService definition (for server.addService) and client constructor. */
export function nodeServiceDefinition(): { service: grpc.ServiceDefinition; Client: grpc.ServiceClientConstructor } {
  const Client = (load() as unknown as Pkg).flotilla.agent.v1.NodeService;
  return { service: Client.service, Client };
}

/** The Bootstrap (join) service definition and client constructor. */
export function bootstrapServiceDefinition(): { service: grpc.ServiceDefinition; Client: grpc.ServiceClientConstructor } {
  const Client = (load() as unknown as Pkg).flotilla.agent.v1.Bootstrap;
  return { service: Client.service, Client };
}

/** Encodes an object for a `bytes …_json` field. */
export function toJsonBytes(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

/** Decodes a `bytes …_json` field; empty bytes decode to undefined. */
export function fromJsonBytes<T>(b: Buffer | Uint8Array | undefined | null): T | undefined {
  if (!b || b.length === 0) return undefined;
  return JSON.parse(Buffer.from(b).toString('utf8')) as T;
}

/** The resources GetConfigObject serves: what pods consume as env and volumes. */
export const CONFIG_RESOURCES = ['configmaps', 'secrets'] as const;
export type ConfigResource = (typeof CONFIG_RESOURCES)[number];
