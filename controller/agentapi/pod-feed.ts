// One watch of all pods for every agent: the feed reads the process's shared
// pods informer (the same list+watch and cache the scheduler uses), indexed by
// node, and fans each change out to the streams of the node it concerns. (One
// etcd watch per agent made etcd send every pod write to every node: ~1000
// decoded events per write at 1000 nodes.) A subscriber gets the node's pods as
// a snapshot (ADDED…, then SYNC) and then the changes, in revision order. When
// the informer lists again (after a compaction or a failed watch) the feed ends
// every subscription, so each agent reconnects and starts from a fresh snapshot.
import { UnavailableError, type Logger, type Pod } from '../../api/index.js';
import { INDEX_NODE, InformerFactory, byNodeName, type SharedInformer } from '../informers/index.js';
import type { Store } from '../storage/store.js';

export type PodFeedEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; pod: Pod } | { type: 'SYNC'; resourceVersion: string };

export interface PodSubscription {
  /** Ends the subscription; the feed stops calling `send`. */
  close(): void;
}

interface Subscriber {
  node: string;
  send(ev: PodFeedEvent): void;
  end(err?: unknown): void;
}

export class NodePodFeed {
  private readonly informers: InformerFactory;
  /** Subscribers by node name: an event concerns one node, so it is looked up, not searched for. */
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  /**
   * `node namespace/name` → the revision of a status that node's agent wrote and
   * got back in the reply: the watch event of that very revision is not sent
   * back to it (it holds that object already). Any other change is sent.
   */
  private readonly echoes = new Map<string, string>();
  private pods: SharedInformer<Pod> | undefined;
  private ac: AbortController | undefined;

  /** `source`: the process's informers (shared with the scheduler), or a Store for a feed of its own. */
  constructor(
    source: Store | InformerFactory,
    private readonly log: Logger,
  ) {
    this.informers = source instanceof InformerFactory ? source : new InformerFactory({ store: source, log });
  }

  /** Holds the pods informer from the first subscriber on, until stop(). */
  private async start(): Promise<SharedInformer<Pod>> {
    if (!this.pods || !this.ac) {
      const ac = new AbortController();
      const pods = this.informers.informerFor<Pod>('pods');
      pods.addIndexer(INDEX_NODE, byNodeName);
      pods.addEventHandler(
        {
          onAdd: (p) => this.apply('ADDED', p),
          onUpdate: (_, p) => this.apply('MODIFIED', p),
          onDelete: (p) => this.apply('DELETED', p),
          // What changed while the watch was away is not known to the agents' streams: they start over.
          onSynced: () => {
            if (this.subscribers.size === 0) return;
            this.log.info("pods listed again (compaction or a failed watch): restarting the agents' pod streams");
            this.endAll();
          },
        },
        { signal: ac.signal },
      );
      this.ac = ac;
      this.pods = pods;
    }
    const pods = this.pods;
    if (!(await pods.waitForSync(this.ac.signal))) throw new UnavailableError('the pod feed is stopping');
    return pods;
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod): void {
    const node = pod.spec?.nodeName;
    if (!node) return;
    const key = keyOf(pod);
    const echoKey = `${node} ${key}`;
    const echo = this.echoes.get(echoKey);
    if (echo !== undefined) {
      this.echoes.delete(echoKey);
      if (type === 'MODIFIED' && echo === pod.metadata.resourceVersion) return;
    }
    const subs = this.subscribers.get(node);
    if (subs) for (const s of subs) s.send({ type, pod });
  }

  /**
   * `node`'s agent wrote this pod (its status) and has the stored object from the
   * reply: the watch event of that revision is not sent back to it.
   */
  expectEcho(node: string, pod: Pod): void {
    const rv = pod.metadata.resourceVersion;
    if (!rv || !this.subscribers.has(node)) return;
    this.echoes.set(`${node} ${keyOf(pod)}`, rv);
    // Bounded: an echo that never comes (the write lost a race with a delete) is forgotten.
    if (this.echoes.size > 100_000) this.echoes.delete(this.echoes.keys().next().value as string);
  }

  /**
   * The feed's copy of a pod bound to `node` (as last seen by the watch, with its
   * resourceVersion), or undefined. Read-only (frozen): callers must not modify it.
   */
  cached(node: string, namespace: string, name: string): Pod | undefined {
    const p = this.pods?.get(`${namespace}/${name}`);
    return p?.spec?.nodeName === node ? p : undefined;
  }

  /**
   * Sends `node`'s pods as a snapshot (ADDED each, then SYNC), then every change
   * of a pod bound to `node`. `end` is called when the feed ends the
   * subscription (relist, shutdown): the caller ends its stream.
   */
  async subscribe(node: string, send: (ev: PodFeedEvent) => void, end: (err?: unknown) => void): Promise<PodSubscription> {
    const pods = await this.start();
    // Snapshot and registration happen without an await between them: no event falls in between.
    const sub: Subscriber = { node, send, end };
    for (const p of pods.byIndex(INDEX_NODE, node)) send({ type: 'ADDED', pod: p });
    send({ type: 'SYNC', resourceVersion: pods.lastResourceVersion });
    let subs = this.subscribers.get(node);
    if (!subs) this.subscribers.set(node, (subs = new Set()));
    subs.add(sub);
    return {
      close: () => {
        const set = this.subscribers.get(node);
        if (!set?.delete(sub)) return;
        if (set.size === 0) this.subscribers.delete(node);
      },
    };
  }

  get subscriberCount(): number {
    let n = 0;
    for (const set of this.subscribers.values()) n += set.size;
    return n;
  }

  /** Ends every subscription and lets go of the pods informer. */
  stop(): void {
    this.ac?.abort();
    this.ac = undefined;
    this.pods = undefined;
    this.endAll();
  }

  private endAll(): void {
    const all = [...this.subscribers.values()].flatMap((set) => [...set]);
    this.subscribers.clear();
    for (const s of all) s.end();
  }
}

function keyOf(p: Pod): string {
  return `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`;
}
