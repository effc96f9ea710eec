// One watch of all pods for every agent: the controller lists and watches the
// pods prefix once, keeps the pods indexed by node, and fans each change out to
// the streams of the node it concerns. (One etcd watch per agent made etcd send
// every pod write to every node: ~1000 decoded events per write at 1000 nodes.)
// A subscriber gets the node's pods as a snapshot (ADDED…, then SYNC) and then
// the changes, in revision order. After a compaction the feed lists again and
// ends every subscription, so each agent reconnects and starts from a fresh snapshot.
import { GoneError, toFlotillaError, type Logger, type Pod } from '../../api/index.js';
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
  private readonly byNode = new Map<string, Map<string, Pod>>();
  /** Subscribers by node name: an event concerns one node, so it is looked up, not searched for. */
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private resourceVersion = '';
  /**
   * `node namespace/name` → the revision of a status that node's agent wrote and
   * got back in the reply: the watch event of that very revision is not sent
   * back to it (it holds that object already). Any other change is sent.
   */
  private readonly echoes = new Map<string, string>();
  private ready: Promise<void> | undefined;
  private readonly ac = new AbortController();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  /** Starts the shared list+watch on first use. */
  private start(): Promise<void> {
    this.ready ??= this.relist().then(() => {
      void this.watchLoop();
    });
    // A failed first list is retried by the next subscriber.
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  private async relist(): Promise<void> {
    const list = await this.store.list<Pod>('pods');
    this.byNode.clear();
    for (const p of list.items) this.index(p);
    this.resourceVersion = list.resourceVersion;
  }

  private index(p: Pod): void {
    const node = p.spec?.nodeName;
    if (!node) return;
    let m = this.byNode.get(node);
    if (!m) this.byNode.set(node, (m = new Map()));
    m.set(keyOf(p), p);
  }

  private async watchLoop(): Promise<void> {
    let backoff = 200;
    while (!this.ac.signal.aborted) {
      try {
        for await (const ev of this.store.watch<Pod>('pods', { resourceVersion: this.resourceVersion, signal: this.ac.signal })) {
          backoff = 200;
          if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED' && ev.type !== 'DELETED') continue;
          this.resourceVersion = ev.object.metadata.resourceVersion ?? this.resourceVersion;
          this.apply(ev.type, ev.object);
        }
      } catch (e) {
        if (this.ac.signal.aborted) return;
        if (e instanceof GoneError) {
          this.log.info('pod watch compacted: listing again and restarting the agents\' pod streams');
        } else {
          this.log.warn({ err: toFlotillaError(e).message }, 'pod watch for the agents failed: listing again');
        }
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5_000);
        try {
          await this.relist();
        } catch (le) {
          this.log.warn({ err: toFlotillaError(le).message }, 'listing pods for the agents failed');
          continue;
        }
        // What changed while we were away is unknown: every agent starts over from a snapshot.
        this.endAll();
      }
    }
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod): void {
    const node = pod.spec?.nodeName;
    if (!node) return;
    const key = keyOf(pod);
    if (type === 'DELETED') this.byNode.get(node)?.delete(key);
    else this.index(pod);
    if (this.byNode.get(node)?.size === 0) this.byNode.delete(node);
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
   * resourceVersion), or undefined. Read-only: callers must not modify it.
   */
  cached(node: string, namespace: string, name: string): Pod | undefined {
    return this.byNode.get(node)?.get(`${namespace}/${name}`);
  }

  /**
   * Sends `node`'s pods as a snapshot (ADDED each, then SYNC), then every change
   * of a pod bound to `node`. `end` is called when the feed ends the
   * subscription (compaction, shutdown): the caller ends its stream.
   */
  async subscribe(node: string, send: (ev: PodFeedEvent) => void, end: (err?: unknown) => void): Promise<PodSubscription> {
    await this.start();
    // Snapshot and registration happen without an await between them: no event falls in between.
    const sub: Subscriber = { node, send, end };
    for (const p of this.byNode.get(node)?.values() ?? []) send({ type: 'ADDED', pod: p });
    send({ type: 'SYNC', resourceVersion: this.resourceVersion });
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

  stop(): void {
    this.ac.abort();
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
