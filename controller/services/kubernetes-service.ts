// The `kubernetes` Service in `default`, as kube-apiserver keeps it: the first
// address of the service CIDR, port 443 (https) to the API port, and as its
// endpoints every live controller replica's advertised address. Each replica
// holds a lease of its own (renewed every 10 s, trusted for 15 s, removed on a
// clean stop: kube-apiserver's "lease" endpoint reconciler) and rewrites the
// Endpoints and the EndpointSlice `kubernetes` from the live leases, so a
// replica that dies drops out within the lease time. In-cluster clients reach
// the API through it (https://kubernetes.default.svc).
//   /flotilla/apiserverleases/<ip>   {spec: {ip, port, renewTime}}
import { isIP } from 'node:net';
import {
  componentLogger,
  endpointSliceKind,
  endpointsKind,
  jsonEqual,
  rfc3339,
  serviceKind,
  toFlotillaError,
  type Clock,
  type EndpointSlice,
  type Endpoints,
  type KindDescriptor,
  type KubeObject,
  type Logger,
  type Service,
} from '../../api/index.js';
import type { Store } from '../storage/store.js';

export const LEASE_RESOURCE = 'apiserverleases';
export const KUBERNETES_SERVICE = 'kubernetes';

type Target = { res: KindDescriptor; namespace?: string; name?: string };

export interface KubernetesServiceApi {
  create(t: Target, body: unknown): Promise<KubeObject>;
  get(t: Target): Promise<KubeObject>;
  update(t: Target, body: unknown): Promise<KubeObject>;
}

interface Lease extends KubeObject {
  spec: { ip: string; port: number; renewTime: string };
}

export interface KubernetesServiceOptions {
  api: KubernetesServiceApi;
  store: Store;
  /** The address this replica is reached at (the first advertise address). */
  address: string;
  /** The API port it serves. */
  port: number;
  /** The `kubernetes` Service's cluster IP (first of the service CIDR). */
  clusterIP: string;
  clock: Clock;
  log?: Logger;
  /** Default 10 s. */
  intervalMs?: number;
  /** A lease not renewed for this long is dead. Default 15 s. */
  leaseTtlMs?: number;
}

/** Whether ADDRESS can be an endpoint other hosts reach (not loopback, link-local or unspecified). */
export function publishable(address: string): boolean {
  if (isIP(address) !== 4) return false;
  return !/^(127\.|0\.|169\.254\.)/.test(address);
}

export class KubernetesServiceReconciler {
  private readonly log: Logger;
  private timer: { cancel(): void } | undefined;
  private stopped = false;

  constructor(private readonly o: KubernetesServiceOptions) {
    this.log = o.log ?? componentLogger('kubernetes-service');
  }

  async start(): Promise<void> {
    if (!publishable(this.o.address)) {
      this.log.warn({ address: this.o.address }, 'the advertise address cannot be an endpoint (not an IPv4 address other hosts reach): the kubernetes Service gets no endpoint from this replica; init with --advertise-address');
    }
    await this.pass().catch((e) => this.log.warn({ err: toFlotillaError(e).message }, 'kubernetes Service reconcile failed; retried'));
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.pass()
        .catch((e) => this.log.warn({ err: toFlotillaError(e).message }, 'kubernetes Service reconcile failed; retried'))
        .finally(() => this.schedule());
    }, this.o.intervalMs ?? 10_000);
  }

  /** Removes this replica's lease and its endpoint (a clean stop). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    if (!publishable(this.o.address)) return;
    try {
      await this.o.store.delete({ resource: LEASE_RESOURCE, name: this.o.address });
      await this.writeEndpoints();
    } catch (e) {
      this.log.debug({ err: toFlotillaError(e).message }, 'could not remove this replica from the kubernetes endpoints');
    }
  }

  /** One pass: the Service, this replica's lease, the endpoints from the live leases. */
  async pass(): Promise<void> {
    await this.ensureService();
    if (publishable(this.o.address)) await this.renewLease();
    await this.writeEndpoints();
  }

  private async ensureService(): Promise<void> {
    const t = { res: serviceKind, namespace: 'default', name: KUBERNETES_SERVICE };
    const ports = [{ name: 'https', port: 443, protocol: 'TCP', targetPort: this.o.port }];
    let cur: Service | undefined;
    try {
      cur = (await this.o.api.get(t)) as Service;
    } catch (e) {
      if (toFlotillaError(e).code !== 'NotFound') throw e;
    }
    if (!cur) {
      try {
        await this.o.api.create({ res: serviceKind, namespace: 'default' }, {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: KUBERNETES_SERVICE, namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
          spec: { type: 'ClusterIP', clusterIP: this.o.clusterIP, ports, sessionAffinity: 'None' },
        });
        this.log.info({ clusterIP: this.o.clusterIP }, 'created the kubernetes Service');
      } catch (e) {
        if (toFlotillaError(e).code !== 'AlreadyExists') throw e;
      }
      return;
    }
    // the port set is ours to keep (kube-apiserver resets it too)
    const have = (cur.spec.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP', targetPort: p.targetPort }));
    if (!jsonEqual(have, ports)) await this.o.api.update(t, { ...cur, spec: { ...cur.spec, ports } });
  }

  private async renewLease(): Promise<void> {
    const now = rfc3339(this.o.clock.now());
    const lease: Lease = { apiVersion: 'flotilla.io/v1', kind: 'ApiServerLease', metadata: { name: this.o.address }, spec: { ip: this.o.address, port: this.o.port, renewTime: now } };
    try {
      await this.o.store.create(LEASE_RESOURCE, lease);
    } catch (e) {
      if (toFlotillaError(e).code !== 'AlreadyExists') throw e;
      await this.o.store.guaranteedUpdate<Lease>({ resource: LEASE_RESOURCE, name: this.o.address }, (cur) => ({ ...cur, spec: { ip: this.o.address, port: this.o.port, renewTime: now } }));
    }
  }

  /** The live replicas, sorted by address (their port is this replica's: all serve the same one). */
  private async liveAddresses(): Promise<string[]> {
    const ttl = this.o.leaseTtlMs ?? 15_000;
    const now = this.o.clock.now();
    const leases = (await this.o.store.list<Lease>(LEASE_RESOURCE)).items;
    return leases
      .filter((l) => publishable(l.spec?.ip ?? '') && now - Date.parse(l.spec.renewTime) <= ttl)
      .map((l) => l.spec.ip)
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  }

  private async writeEndpoints(): Promise<void> {
    const ips = await this.liveAddresses();
    const port = { name: 'https', port: this.o.port, protocol: 'TCP' as const };
    const subsets = ips.length > 0 ? [{ addresses: ips.map((ip) => ({ ip })), ports: [port] }] : [];
    await this.upsert<Endpoints>({ res: endpointsKind, namespace: 'default', name: KUBERNETES_SERVICE }, (cur) => jsonEqual(cur?.subsets ?? [], subsets), (cur) => ({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { ...(cur?.metadata ?? {}), name: KUBERNETES_SERVICE, namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
      subsets,
    }));
    const endpoints = ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } }));
    await this.upsert<EndpointSlice>({ res: endpointSliceKind, namespace: 'default', name: KUBERNETES_SERVICE }, (cur) => jsonEqual(cur?.endpoints ?? [], endpoints) && jsonEqual(cur?.ports ?? [], [port]), (cur) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { ...(cur?.metadata ?? {}), name: KUBERNETES_SERVICE, namespace: 'default', labels: { 'kubernetes.io/service-name': KUBERNETES_SERVICE } },
      addressType: 'IPv4',
      endpoints,
      ports: [port],
    }));
  }

  private async upsert<T extends KubeObject>(t: Target, same: (cur: T | undefined) => boolean, build: (cur: T | undefined) => T): Promise<void> {
    let cur: T | undefined;
    try {
      cur = (await this.o.api.get(t)) as T;
    } catch (e) {
      if (toFlotillaError(e).code !== 'NotFound') throw e;
    }
    if (cur && same(cur)) return;
    if (cur) await this.o.api.update(t, build(cur));
    else await this.o.api.create({ res: t.res, namespace: t.namespace! }, build(undefined));
  }
}
