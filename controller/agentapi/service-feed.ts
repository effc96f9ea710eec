// One watch of Services and EndpointSlices for every agent: every node needs
// every Service (its proxy programs them all, its DNS server answers for all),
// so the feed reads the process's shared services and endpointslices informers
// (the endpoints controller's caches) and fans each change out to every
// subscribed agent, instead of one etcd watch per agent. A subscriber gets a
// snapshot (every Service, every slice, then SYNC) and then the changes in the
// order the informers deliver them. When either informer lists again (after a
// compaction or a failed watch) what changed meanwhile is not known as events:
// the feed ends every subscription and each agent starts over from a snapshot.
import { UnavailableError, type EndpointSlice, type Logger, type Service } from '../../api/index.js';
import { InformerFactory, type SharedInformer } from '../informers/index.js';
import type { Store } from '../storage/store.js';

export type ServiceFeedResource = 'services' | 'endpointslices';

export type ServiceFeedEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; resource: 'services'; object: Service }
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; resource: 'endpointslices'; object: EndpointSlice }
  | { type: 'SYNC'; resourceVersion: string };

export interface ServiceSubscription {
  /** Ends the subscription; the feed stops calling `send`. */
  close(): void;
}

interface Subscriber {
  send(ev: ServiceFeedEvent): void;
  end(err?: unknown): void;
}

interface Held {
  ac: AbortController;
  services: SharedInformer<Service>;
  slices: SharedInformer<EndpointSlice>;
}

export class NodeServiceFeed {
  private readonly informers: InformerFactory;
  private readonly subscribers = new Set<Subscriber>();
  private held: Held | undefined;

  /** `source`: the process's informers (shared with the endpoints controller), or a Store for a feed of its own. */
  constructor(
    source: Store | InformerFactory,
    private readonly log: Logger,
  ) {
    this.informers = source instanceof InformerFactory ? source : new InformerFactory({ store: source, log });
  }

  /** Holds both informers from the first subscriber on, until stop(). */
  private async start(): Promise<Held> {
    if (!this.held) {
      const ac = new AbortController();
      const services = this.informers.informerFor<Service>('services');
      const slices = this.informers.informerFor<EndpointSlice>('endpointslices');
      // Registering on a synced informer calls onSynced at once: subscribers is still empty then.
      const relisted = (what: string) => () => {
        if (this.subscribers.size === 0) return;
        this.log.info({ resource: what }, "listed again (compaction or a failed watch): restarting the agents' service streams");
        this.endAll();
      };
      services.addEventHandler(
        {
          onAdd: (s) => this.fanOut({ type: 'ADDED', resource: 'services', object: s }),
          onUpdate: (_, s) => this.fanOut({ type: 'MODIFIED', resource: 'services', object: s }),
          onDelete: (s) => this.fanOut({ type: 'DELETED', resource: 'services', object: s }),
          onSynced: relisted('services'),
        },
        { signal: ac.signal },
      );
      slices.addEventHandler(
        {
          onAdd: (s) => this.fanOut({ type: 'ADDED', resource: 'endpointslices', object: s }),
          onUpdate: (_, s) => this.fanOut({ type: 'MODIFIED', resource: 'endpointslices', object: s }),
          onDelete: (s) => this.fanOut({ type: 'DELETED', resource: 'endpointslices', object: s }),
          onSynced: relisted('endpointslices'),
        },
        { signal: ac.signal },
      );
      this.held = { ac, services, slices };
    }
    const h = this.held;
    const ok = (await h.services.waitForSync(h.ac.signal)) && (await h.slices.waitForSync(h.ac.signal));
    if (!ok) throw new UnavailableError('the service feed is stopping');
    return h;
  }

  private fanOut(ev: ServiceFeedEvent): void {
    for (const s of this.subscribers) s.send(ev);
  }

  /**
   * Sends every Service and EndpointSlice (ADDED each, then SYNC), then every
   * change. `end` is called when the feed ends the subscription (relist,
   * shutdown): the caller ends its stream.
   */
  async subscribe(send: (ev: ServiceFeedEvent) => void, end: (err?: unknown) => void): Promise<ServiceSubscription> {
    const h = await this.start();
    // Snapshot and registration without an await between them: no event falls in between.
    const sub: Subscriber = { send, end };
    for (const s of h.services.list()) send({ type: 'ADDED', resource: 'services', object: s });
    for (const s of h.slices.list()) send({ type: 'ADDED', resource: 'endpointslices', object: s });
    send({ type: 'SYNC', resourceVersion: maxRevision(h.services.lastResourceVersion, h.slices.lastResourceVersion) });
    this.subscribers.add(sub);
    return { close: () => void this.subscribers.delete(sub) };
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Ends every subscription and lets go of the informers. */
  stop(): void {
    this.held?.ac.abort();
    this.held = undefined;
    this.endAll();
  }

  private endAll(): void {
    const all = [...this.subscribers];
    this.subscribers.clear();
    for (const s of all) s.end();
  }
}

/** The later of two etcd revisions ('' counts as none). */
function maxRevision(a: string, b: string): string {
  if (!a) return b;
  if (!b) return a;
  return BigInt(a) >= BigInt(b) ? a : b;
}
