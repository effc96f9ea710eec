// The two gRPC listeners agents talk to: the bootstrap port (TLS with the
// cluster's serving certificate, no client certificate: Join only) and the node
// port (mutual TLS: a node certificate signed by the cluster CA is required).
import * as grpc from '@grpc/grpc-js';
import { UnavailableError } from '../../api/index.js';
import { bootstrapServiceDefinition, nodeServiceDefinition } from '../../api/agent-protocol.js';
import { bootstrapHandlers, nodeServiceHandlers, type NodeServiceDeps } from './node-service.js';
import { NodePodFeed } from './pod-feed.js';
import { NodeServiceFeed } from './service-feed.js';

export interface AgentServerOptions extends NodeServiceDeps {
  host: string;
  nodePort: number;
  bootstrapPort: number;
  /** The serving certificate and key (the CA is appended to the chain so agents can pin it). */
  servingCertPem: string;
  servingKeyPem: string;
  /** Extra handlers for the node service (subnet leases from the network plugin). */
  extraNodeHandlers?: grpc.UntypedServiceImplementation;
}

export interface AgentServers {
  nodePort: number;
  bootstrapPort: number;
  stop(): Promise<void>;
}

function bind(server: grpc.Server, addr: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(addr, creds, (err, port) => (err ? reject(new UnavailableError(`cannot listen on ${addr}: ${err.message}`)) : resolve(port))),
  );
}

export async function startAgentServers(o: AgentServerOptions): Promise<AgentServers> {
  const chain = Buffer.from(`${o.servingCertPem.trim()}\n${o.ca.certPem.trim()}\n`);
  const key = Buffer.from(o.servingKeyPem);
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;

  const node = new grpc.Server({ 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_permit_without_calls': 1 });
  const podFeed = o.podFeed ?? new NodePodFeed(o.store, o.log);
  const serviceFeed = o.serviceFeed ?? new NodeServiceFeed(o.store, o.log);
  node.addService(nodeServiceDefinition().service, { ...nodeServiceHandlers({ ...o, podFeed, serviceFeed }), ...o.extraNodeHandlers });
  const nodePort = await bind(
    node,
    `${host}:${o.nodePort}`,
    grpc.ServerCredentials.createSsl(Buffer.from(o.ca.certPem), [{ private_key: key, cert_chain: chain }], true),
  );

  const boot = new grpc.Server();
  boot.addService(bootstrapServiceDefinition().service, bootstrapHandlers({ ...o, nodePort }));
  let bootstrapPort: number;
  try {
    bootstrapPort = await bind(boot, `${host}:${o.bootstrapPort}`, grpc.ServerCredentials.createSsl(null, [{ private_key: key, cert_chain: chain }], false));
  } catch (e) {
    node.forceShutdown();
    throw e;
  }

  const shutdown = (s: grpc.Server) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.forceShutdown();
        resolve();
      }, 3_000);
      s.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  return {
    nodePort,
    bootstrapPort,
    async stop() {
      // Streams (pod watches) never end on their own: end them, then force after a short grace.
      podFeed.stop();
      serviceFeed.stop();
      await Promise.all([shutdown(boot), shutdown(node)]);
    },
  };
}
