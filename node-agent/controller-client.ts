// The agent's connection to the controller: gRPC with mutual TLS (the node
// credential from joining), typed promise wrappers over the NodeService calls.
import * as grpc from '@grpc/grpc-js';
import { FlotillaError, type EndpointSlice, type ErrorCode, type Event, type KubeObject, type Node, type NodeStatus, type Pod, type PodStatus, type Service } from '../api/index.js';
import { bootstrapServiceDefinition, fromJsonBytes, nodeServiceDefinition, toJsonBytes, type ConfigResource } from '../api/agent-protocol.js';
import { normalizeLeaseBackend, vxlanData, type LeaseAttrs, type LeaseWatchResult, type NetworkConfig, type SubnetLease } from '../netplugin/index.js';
import type { NodeCredential } from './join/credentials.js';

export class ControllerCallError extends FlotillaError {}

/** A lease from the controller; one from a controller of the previous release carries backendType/backendData. */
function leaseOf(b: Buffer): SubnetLease {
  return normalizeLeaseBackend(fromJsonBytes<SubnetLease & { backendType?: unknown; backendData?: unknown }>(b)!);
}

function fromGrpc(e: grpc.ServiceError): FlotillaError {
  const code = (e.metadata?.get('flotilla-code')?.[0] as ErrorCode | undefined) ?? (e.code === grpc.status.UNAVAILABLE ? 'Unavailable' : 'Internal');
  return new ControllerCallError(code, e.details || e.message, { retryable: code === 'Unavailable' || code === 'Conflict' });
}

type Cb<T> = (err: grpc.ServiceError | null, res: T) => void;
type AnyClient = grpc.Client & Record<string, (req: unknown, ...rest: unknown[]) => unknown>;

function call<T>(client: AnyClient, method: string, req: unknown, deadlineMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = client[method]!.bind(client) as (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: Cb<T>) => void;
    fn(req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(fromGrpc(err)) : resolve(res)));
  });
}

export interface PodWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'SYNC';
  pod: Pod;
}

/** A Service or EndpointSlice change from WatchServices, or SYNC (the snapshot is complete). */
export type ServiceWatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; resource: 'services'; object: Service }
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; resource: 'endpointslices'; object: EndpointSlice }
  | { type: 'SYNC'; resourceVersion: string };

export class ControllerClient {
  private readonly client: AnyClient;

  constructor(readonly cred: NodeCredential) {
    const { Client } = nodeServiceDefinition();
    const creds = grpc.credentials.createSsl(Buffer.from(cred.caPem), Buffer.from(cred.keyPem), Buffer.from(cred.certPem));
    this.client = new Client(cred.server, creds, {
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    }) as unknown as AnyClient;
  }

  get nodeName(): string {
    return this.cred.nodeName;
  }

  async registerNode(node: Node): Promise<Node> {
    const r = await call<{ objectJson: Buffer }>(this.client, 'RegisterNode', { nodeJson: toJsonBytes(node) });
    return fromJsonBytes<Node>(r.objectJson)!;
  }

  async heartbeat(status?: NodeStatus): Promise<number> {
    const r = await call<{ leaseDurationSeconds: number }>(this.client, 'Heartbeat', {
      nodeName: this.cred.nodeName,
      statusJson: status ? toJsonBytes(status) : Buffer.alloc(0),
    });
    return r.leaseDurationSeconds;
  }

  async updatePodStatus(pod: Pod, status: PodStatus): Promise<Pod> {
    const r = await call<{ objectJson: Buffer }>(this.client, 'UpdatePodStatus', {
      pod: { namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      statusJson: toJsonBytes(status),
    });
    return fromJsonBytes<Pod>(r.objectJson)!;
  }

  async confirmPodDeleted(pod: Pod): Promise<void> {
    await call(this.client, 'ConfirmPodDeleted', { namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid });
  }

  async recordEvent(ev: Partial<Event>): Promise<void> {
    await call(this.client, 'RecordEvent', { eventJson: toJsonBytes(ev) });
  }

  /**
   * A ConfigMap or Secret that POD (bound to this node) references, or undefined
   * when it does not exist. Refused (Forbidden) when the pod does not reference it.
   */
  async getConfigObject<T extends KubeObject>(resource: ConfigResource, namespace: string, name: string, pod: Pick<Pod, 'metadata'>): Promise<T | undefined> {
    try {
      const r = await call<{ objectJson: Buffer }>(this.client, 'GetConfigObject', {
        resource,
        namespace,
        name,
        pod: { namespace: pod.metadata.namespace ?? namespace, name: pod.metadata.name, uid: pod.metadata.uid ?? '' },
      });
      return fromJsonBytes<T>(r.objectJson);
    } catch (e) {
      if (e instanceof FlotillaError && e.code === 'NotFound') return undefined;
      throw e;
    }
  }

  /** Streams this node's pods: a snapshot (ADDED…, then SYNC), then changes. Ends on error or abort. */
  async *watchPods(signal: AbortSignal): AsyncIterable<PodWatchEvent> {
    const stream = (this.client.WatchPods as unknown as (req: unknown) => grpc.ClientReadableStream<{ type: string; podJson: Buffer }>)({
      nodeName: this.cred.nodeName,
    });
    const onAbort = () => stream.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const msg of stream as AsyncIterable<{ type: string; podJson: Buffer }>) {
        yield { type: msg.type as PodWatchEvent['type'], pod: fromJsonBytes<Pod>(msg.podJson)! };
      }
    } catch (e) {
      if (signal.aborted) return;
      throw fromGrpc(e as grpc.ServiceError);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Every Service and EndpointSlice: a snapshot (ADDED…, then SYNC), then changes. Ends on error, abort, or when the controller starts over. */
  async *watchServices(signal: AbortSignal): AsyncIterable<ServiceWatchEvent> {
    type Msg = { type: string; resource: string; objectJson: Buffer };
    const stream = (this.client.WatchServices as unknown as (req: unknown) => grpc.ClientReadableStream<Msg>)({});
    const onAbort = () => stream.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const m of stream as AsyncIterable<Msg>) {
        if (m.type === 'SYNC') {
          yield { type: 'SYNC', resourceVersion: fromJsonBytes<{ metadata?: { resourceVersion?: string } }>(m.objectJson)?.metadata?.resourceVersion ?? '' };
          continue;
        }
        if (m.type !== 'ADDED' && m.type !== 'MODIFIED' && m.type !== 'DELETED') continue; // a newer controller's event kind
        if (m.resource === 'services') yield { type: m.type, resource: 'services', object: fromJsonBytes<Service>(m.objectJson)! };
        else if (m.resource === 'endpointslices') yield { type: m.type, resource: 'endpointslices', object: fromJsonBytes<EndpointSlice>(m.objectJson)! };
      }
    } catch (e) {
      if (signal.aborted) return;
      throw fromGrpc(e as grpc.ServiceError);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async getNetworkConfig(): Promise<NetworkConfig> {
    const r = await call<{ configJson: Buffer }>(this.client, 'GetNetworkConfig', {});
    return fromJsonBytes<NetworkConfig>(r.configJson)!;
  }

  async acquireSubnetLease(attrs: LeaseAttrs, renew = false): Promise<SubnetLease> {
    const r = await call<{ leaseJson: Buffer }>(this.client, renew ? 'RenewSubnetLease' : 'AcquireSubnetLease', {
      nodeName: this.cred.nodeName,
      publicIp: attrs.publicIP,
      // The request carries the VXLAN backend's fields (the only backend served).
      backendType: attrs.backend.type,
      vtepMac: vxlanData(attrs.backend)?.vtepMAC ?? '',
    });
    return leaseOf(r.leaseJson);
  }

  /** Everyone's subnet leases: a snapshot, then changes (another snapshot after a restart). */
  async *watchSubnetLeases(signal: AbortSignal): AsyncIterable<LeaseWatchResult> {
    type Msg = { type: string; leaseJson: Buffer; leasesJson: Buffer[] };
    const stream = (this.client.WatchSubnetLeases as unknown as (req: unknown) => grpc.ClientReadableStream<Msg>)({});
    const onAbort = () => stream.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const m of stream as AsyncIterable<Msg>) {
        if (m.type === 'snapshot') yield { kind: 'snapshot', leases: m.leasesJson.map(leaseOf) };
        else yield { kind: 'events', events: [{ type: m.type === 'removed' ? 'removed' : 'added', lease: leaseOf(m.leaseJson) }] };
      }
    } catch (e) {
      if (signal.aborted) return;
      throw fromGrpc(e as grpc.ServiceError);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  close(): void {
    this.client.close();
  }
}

/** The Join call on the controller's bootstrap port, trusting only the pinned CA. */
export async function joinCall(
  bootstrapServer: string,
  caPem: string,
  req: { token: string; nodeName: string; csrPem: string },
): Promise<{ certificatePem: string; caPem: string; nodePort: number }> {
  const { Client } = bootstrapServiceDefinition();
  const client = new Client(bootstrapServer, grpc.credentials.createSsl(Buffer.from(caPem))) as unknown as AnyClient;
  try {
    return await call(client, 'Join', req, 30_000);
  } finally {
    client.close();
  }
}
