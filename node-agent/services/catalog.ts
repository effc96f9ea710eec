// What the agent knows of the cluster's Services: the Services and their
// EndpointSlices, kept current from the controller over the agent's mTLS
// connection (agents never talk to etcd). The service proxy (netplugin/proxy)
// and the node's DNS server (node-agent/dns) both read it; neither makes an
// API round trip per packet or query.
import type { EndpointSlice, Service } from '../../api/index.js';

/** The annotation of a Service the agent answers itself on every node (kube-dns): the proxy programs no rules for it. */
export const NODE_LOCAL_ANNOTATION = 'flotilla.io/served-by';
export const NODE_LOCAL_VALUE = 'node-agent';

export interface ServiceCatalog {
  /** True once the first complete list of Services and EndpointSlices has arrived. */
  synced(): boolean;
  /** Every Service, all namespaces. */
  services(): readonly Service[];
  /** One Service, or undefined. */
  service(namespace: string, name: string): Service | undefined;
  /** The EndpointSlices of a Service (label kubernetes.io/service-name). */
  slicesFor(namespace: string, name: string): readonly EndpointSlice[];
  /** Called after every change (coalesced by the caller as it needs); returns an unsubscribe function. */
  onChange(cb: () => void): () => void;
}

/** A ServiceCatalog held in memory and fed by calls: the agent's feed fills it; unit tests use it as it is. */
export class MemoryServiceCatalog implements ServiceCatalog {
  private readonly svcs = new Map<string, Service>();
  private readonly slices = new Map<string, EndpointSlice>();
  private readonly listeners = new Set<() => void>();
  private isSynced = false;

  synced(): boolean {
    return this.isSynced;
  }

  services(): readonly Service[] {
    return [...this.svcs.values()];
  }

  service(namespace: string, name: string): Service | undefined {
    return this.svcs.get(`${namespace}/${name}`);
  }

  slicesFor(namespace: string, name: string): readonly EndpointSlice[] {
    return [...this.slices.values()].filter((s) => s.metadata.namespace === namespace && s.metadata.labels?.['kubernetes.io/service-name'] === name);
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Replaces everything (a full list), then marks the catalog synced. */
  replace(services: readonly Service[], slices: readonly EndpointSlice[]): void {
    this.svcs.clear();
    this.slices.clear();
    for (const s of services) this.svcs.set(key(s), s);
    for (const s of slices) this.slices.set(key(s), s);
    this.isSynced = true;
    this.changed();
  }

  upsertService(s: Service): void {
    this.svcs.set(key(s), s);
    this.changed();
  }

  deleteService(namespace: string, name: string): void {
    if (this.svcs.delete(`${namespace}/${name}`)) this.changed();
  }

  upsertSlice(s: EndpointSlice): void {
    this.slices.set(key(s), s);
    this.changed();
  }

  deleteSlice(namespace: string, name: string): void {
    if (this.slices.delete(`${namespace}/${name}`)) this.changed();
  }

  private changed(): void {
    for (const cb of this.listeners) {
      try {
        cb();
      } catch {
        // a listener's failure is its own
      }
    }
  }
}

const key = (o: { metadata: { namespace?: string; name?: string } }) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
