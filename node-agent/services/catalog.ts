// What the agent knows of the cluster's Services: the Services and their
// EndpointSlices, kept current from the controller over the agent's mTLS
// connection (agents never talk to etcd). The service proxy (netplugin/proxy)
// and the node's DNS server (node-agent/dns) both read it; neither makes an
// API round trip per packet or query.
import type { EndpointSlice, Service } from '../../api/index.js';

/** The annotation of a Service the agent answers itself on every node (kube-dns), defined with the Service kind. */
export { NODE_LOCAL_ANNOTATION, NODE_LOCAL_VALUE } from '../../api/index.js';

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
  /** Slice keys by `namespace/service` (label kubernetes.io/service-name): the proxy asks for every Service's slices on each sync. */
  private readonly slicesBySvc = new Map<string, Set<string>>();
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
    const keys = this.slicesBySvc.get(`${namespace}/${name}`);
    return keys ? [...keys].map((k) => this.slices.get(k)!) : [];
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Replaces everything (a full list), then marks the catalog synced. */
  replace(services: readonly Service[], slices: readonly EndpointSlice[]): void {
    this.svcs.clear();
    this.slices.clear();
    this.slicesBySvc.clear();
    for (const s of services) this.svcs.set(key(s), s);
    for (const s of slices) this.putSlice(s);
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
    this.dropSlice(key(s));
    this.putSlice(s);
    this.changed();
  }

  deleteSlice(namespace: string, name: string): void {
    if (this.dropSlice(`${namespace}/${name}`)) this.changed();
  }

  private putSlice(s: EndpointSlice): void {
    const k = key(s);
    this.slices.set(k, s);
    const svc = sliceService(s);
    if (svc === undefined) return;
    let set = this.slicesBySvc.get(svc);
    if (!set) this.slicesBySvc.set(svc, (set = new Set()));
    set.add(k);
  }

  private dropSlice(k: string): boolean {
    const old = this.slices.get(k);
    if (!old) return false;
    this.slices.delete(k);
    const svc = sliceService(old);
    const set = svc === undefined ? undefined : this.slicesBySvc.get(svc);
    if (set) {
      set.delete(k);
      if (set.size === 0) this.slicesBySvc.delete(svc!);
    }
    return true;
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
/** `namespace/service` a slice belongs to, or undefined without the label. */
function sliceService(s: EndpointSlice): string | undefined {
  const name = s.metadata.labels?.['kubernetes.io/service-name'];
  return name === undefined ? undefined : `${s.metadata.namespace ?? ''}/${name}`;
}
