// One etcd watch per resource for everything in the process that watches it
// (the scheduler, the agents' pod feed, API clients…), as kube-apiserver's
// watch cache does. Each etcd event is received and decoded once, then handed
// to every subscriber whose namespace and filter it concerns; the decoded
// objects are shared, so they are frozen. The hub keeps the last events in a
// buffer: a watcher that lists and then watches from the list's revision (a
// moment in the past) is served from it. A watcher from a revision older than
// the buffer is refused here and gets its own etcd watch (or 410 Gone from
// etcd), exactly as without the hub. A watcher that falls too far behind is
// ended with 410 Gone, as Kubernetes ends slow watchers: it lists again.
// Once every subscriber that had an event queued has passed it, the event's
// decoded objects are let go (the buffer keeps the raw event; a watcher that
// starts in the past decodes it again): the buffer does not pin thousands of
// superseded objects.
import type { IKeyValue } from 'etcd3';
import { GoneError, toFlotillaError, type KubeObject, type Logger, type WatchEvent } from '../../api/index.js';
import { DecryptionError } from './encryption.js';

/** One etcd event as the store's raw watch yields it. */
export interface RawEvent {
  kind: 'put' | 'delete';
  kv: IKeyValue;
  prevKv?: IKeyValue | undefined;
}

/** What a watch delivers for one etcd event, given the filter (Kubernetes semantics). */
export function classifyEvent(
  kind: 'put' | 'delete',
  created: boolean,
  cur: boolean,
  prev: boolean | undefined,
): 'ADDED' | 'MODIFIED' | 'DELETED' | undefined {
  if (kind === 'delete') return prev ? 'DELETED' : undefined;
  if (created) return cur ? 'ADDED' : undefined;
  const before = prev ?? cur; // previous value compacted away: assume it matched as now
  if (cur && before) return 'MODIFIED';
  if (cur) return 'ADDED';
  if (before) return 'DELETED';
  return undefined;
}

/**
 * What a watcher with `filter` receives for one etcd event (Kubernetes
 * semantics), or undefined. `cur` and `prev` parse the new and the previous
 * value when needed (undefined when malformed: the event is skipped). The
 * previous value matters to a delete (it is the object delivered) and, under a
 * filter, to tell MODIFIED from ADDED/DELETED; an unfiltered put never parses it.
 */
export function watchEventOf<T extends KubeObject>(
  raw: RawEvent,
  filter: ((o: T) => boolean) | undefined,
  cur: () => T | undefined,
  prev: () => T | undefined,
): WatchEvent<T> | undefined {
  const { kind, kv, prevKv } = raw;
  const created = kind === 'put' && kv.create_revision === kv.mod_revision;
  let now: T | undefined;
  let before: T | undefined;
  if (kind === 'put') {
    now = cur();
    if (now === undefined) return undefined;
  }
  if ((kind === 'delete' || (filter !== undefined && !created)) && prevKv && prevKv.value && prevKv.value.length > 0) {
    before = prev();
    if (before === undefined) return undefined;
  }
  const match = (o: T | undefined) => (o === undefined ? undefined : filter ? filter(o) : true);
  const type = classifyEvent(kind, created, match(now) ?? false, match(before));
  if (!type) return undefined;
  // DELETED carries the last stored object with the deletion's revision.
  return { type, object: type === 'DELETED' && kind === 'delete' ? before! : now! };
}

export interface WatchHubOptions {
  resource: string;
  /** The store's etcd watch under `prefix` from revision `from`. */
  raw(from: number, signal: AbortSignal): AsyncIterable<RawEvent>;
  currentRevision(): Promise<number>;
  /** Parses a value (resourceVersion = `rev`, default the kv's mod revision); throws when malformed or undecryptable. */
  decode(kv: IKeyValue, rev?: string): KubeObject;
  log: Logger;
  /** Recent events kept for watchers starting in the past; default 4096. */
  bufferSize?: number | undefined;
  /** Undelivered events after which a subscriber is ended with 410 Gone; default 100 000. */
  maxLag?: number | undefined;
  /** Called once when the hub stops (no subscriber left, or its etcd watch failed). */
  onStop(hub: WatchHub): void;
}

export interface HubSubscribeOptions<T> {
  /** First revision to deliver; undefined = from now. */
  from?: number | undefined;
  /** Only keys under this prefix (a namespace). */
  keyPrefix?: string;
  filter?: (o: T) => boolean;
  signal?: AbortSignal;
}

/** An etcd event as the hub keeps it: decoded at most once, on first need. */
interface HubEvent {
  rev: number;
  key: string;
  raw: RawEvent;
  /** undefined: not decoded yet; null: malformed (skipped). */
  cur?: KubeObject | null;
  prev?: KubeObject | null;
  /** Subscribers that still have it queued: at 0 its decoded objects are let go (a late starter decodes again). */
  waiting: number;
}

interface Subscriber {
  /** Deliver events with rev ≥ from (undefined: everything the hub receives after joining). */
  from: number | undefined;
  queue: HubEvent[];
  head: number;
  error?: unknown;
  ended: boolean;
  wake?: (() => void) | undefined;
}

const DEFAULT_BUFFER = 4096;
const DEFAULT_MAX_LAG = 100_000;

export class WatchHub {
  private readonly o: WatchHubOptions;
  private readonly bufferSize: number;
  private readonly maxLag: number;
  private readonly subs = new Set<Subscriber>();
  private readonly ac = new AbortController();
  /** Recent events, oldest first, from index `bufHead`. */
  private buffer: HubEvent[] = [];
  private bufHead = 0;
  /** Every event with rev ≥ coveredFrom is in the buffer or still to come; undefined until the start is known. */
  private coveredFrom: number | undefined;
  /** Everything below this revision has been received. */
  private nextRev: number | undefined;
  private started = false;
  private stopped = false;

  constructor(o: WatchHubOptions) {
    this.o = o;
    this.bufferSize = Math.max(1, o.bufferSize ?? DEFAULT_BUFFER);
    this.maxLag = Math.max(1, o.maxLag ?? DEFAULT_MAX_LAG);
  }

  /**
   * The events from `opts.from` on, or undefined when this hub cannot serve that
   * revision (older than its buffer, or asked while its own start is unknown).
   */
  subscribe<T extends KubeObject>(opts: HubSubscribeOptions<T>): AsyncGenerator<WatchEvent<T>> | undefined {
    if (this.stopped) return undefined;
    const sub: Subscriber = { from: opts.from, queue: [], head: 0, ended: false };
    if (!this.started) {
      this.start(opts.from);
    } else if (opts.from !== undefined) {
      if (this.coveredFrom === undefined || opts.from < this.coveredFrom) return undefined;
      for (let i = this.bufHead; i < this.buffer.length; i++) {
        const he = this.buffer[i]!;
        if (he.rev >= opts.from) {
          he.waiting++;
          sub.queue.push(he);
        }
      }
    } else {
      // From now: what the hub receives from here on.
      sub.from = this.nextRev;
    }
    this.subs.add(sub);
    return this.deliver<T>(sub, opts);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.ac.abort();
    for (const s of this.subs) this.end(s);
    this.subs.clear();
    this.buffer = [];
    this.o.onStop(this);
  }

  private start(from: number | undefined): void {
    this.started = true;
    if (from !== undefined) this.coveredFrom = this.nextRev = from;
    void this.run(from).catch((e: unknown) => {
      // The hub's etcd watch failed for good (compaction while it lagged, etcd gone):
      // every subscriber gets the error, as its own watch would have.
      if (!this.stopped) this.o.log.warn({ resource: this.o.resource, err: toFlotillaError(e).message }, 'shared watch ended');
      for (const s of this.subs) this.end(s, e);
      this.subs.clear();
      this.stop();
    });
  }

  private async run(from: number | undefined): Promise<void> {
    const start = from ?? (await this.o.currentRevision()) + 1;
    if (this.stopped) return;
    this.coveredFrom ??= start;
    this.nextRev ??= start;
    for await (const ev of this.o.raw(start, this.ac.signal)) {
      const he: HubEvent = { rev: Number(ev.kv.mod_revision), key: ev.kv.key.toString(), raw: ev, waiting: 0 };
      this.nextRev = he.rev + 1;
      this.buffer.push(he);
      if (this.buffer.length - this.bufHead > this.bufferSize) {
        const old = this.buffer[this.bufHead++]!;
        this.coveredFrom = old.rev + 1;
        if (this.bufHead >= 4096 && this.bufHead * 2 >= this.buffer.length) {
          this.buffer = this.buffer.slice(this.bufHead);
          this.bufHead = 0;
        }
      }
      for (const s of this.subs) {
        if (s.from !== undefined && he.rev < s.from) continue;
        s.queue.push(he);
        he.waiting++;
        if (s.queue.length - s.head > this.maxLag) {
          this.o.log.info({ resource: this.o.resource, lag: s.queue.length - s.head }, 'ending a watcher that fell behind');
          this.end(
            s,
            new GoneError(`the watch of ${this.o.resource} fell more than ${this.maxLag} events behind; list and watch again`),
          );
          this.subs.delete(s);
          continue;
        }
        const w = s.wake;
        if (w) {
          s.wake = undefined;
          w();
        }
      }
    }
  }

  private end(s: Subscriber, err?: unknown): void {
    if (s.ended) return;
    s.ended = true;
    if (err !== undefined) s.error = err;
    const w = s.wake;
    s.wake = undefined;
    w?.();
  }

  private async *deliver<T extends KubeObject>(sub: Subscriber, opts: HubSubscribeOptions<T>): AsyncGenerator<WatchEvent<T>> {
    const signal = opts.signal;
    const onAbort = () => this.end(sub);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) this.end(sub);
    try {
      for (;;) {
        if (sub.head < sub.queue.length) {
          if (signal?.aborted) return;
          const he = sub.queue[sub.head]!;
          sub.queue[sub.head++] = undefined as unknown as HubEvent;
          if (sub.head >= 1024 && sub.head * 2 >= sub.queue.length) {
            sub.queue = sub.queue.slice(sub.head);
            sub.head = 0;
          }
          const out = opts.keyPrefix !== undefined && !he.key.startsWith(opts.keyPrefix) ? undefined : this.toWatchEvent<T>(he, opts.filter);
          this.passed(he);
          if (out) yield out;
          continue;
        }
        if (sub.ended) {
          if (sub.error !== undefined && !signal?.aborted) throw sub.error;
          return;
        }
        await new Promise<void>((resolve) => (sub.wake = resolve));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (let i = sub.head; i < sub.queue.length; i++) this.passed(sub.queue[i]!);
      sub.queue = [];
      sub.head = 0;
      sub.ended = true;
      this.subs.delete(sub);
      if (this.subs.size === 0) this.stop();
    }
  }

  /** One subscriber is done with `he`: the last one lets its decoded objects go (malformed marks stay). */
  private passed(he: HubEvent): void {
    if (--he.waiting > 0) return;
    if (he.cur) he.cur = undefined;
    if (he.prev) he.prev = undefined;
  }

  private toWatchEvent<T extends KubeObject>(he: HubEvent, filter: ((o: T) => boolean) | undefined): WatchEvent<T> | undefined {
    return watchEventOf<T>(
      he.raw,
      filter,
      () => this.decoded(he, 'cur') as T | undefined,
      () => this.decoded(he, 'prev') as T | undefined,
    );
  }

  /**
   * The event's current or previous object, decoded and frozen once for all
   * subscribers. A malformed value is skipped; one that cannot be decrypted (a
   * key id this replica lacks) ends each watcher that reaches it with the error.
   */
  private decoded(he: HubEvent, which: 'cur' | 'prev'): KubeObject | undefined {
    const memo = he[which];
    if (memo !== undefined) return memo ?? undefined;
    let obj: KubeObject | null;
    try {
      obj = which === 'cur' ? this.o.decode(he.raw.kv) : this.o.decode(he.raw.prevKv!, he.raw.kv.mod_revision);
      deepFreeze(obj);
    } catch (e) {
      if (e instanceof DecryptionError) {
        this.o.log.error({ key: he.key, err: e.message }, 'cannot decrypt a watched value; ending the watch');
        throw e;
      }
      this.o.log.warn({ key: he.key, err: (e as Error).message }, 'skipping a malformed value in a watch');
      obj = null;
    }
    he[which] = obj;
    return obj ?? undefined;
  }
}

/** Freezes plain JSON data all the way down: a watcher that changes a shared object throws. */
export function deepFreeze<T>(v: T): T {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return v;
  Object.freeze(v);
  if (Array.isArray(v)) for (const x of v) deepFreeze(x);
  else for (const k in v) deepFreeze((v as Record<string, unknown>)[k]);
  return v;
}
