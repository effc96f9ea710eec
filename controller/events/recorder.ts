// Events, as `kubectl describe` shows them: one v1 Event per (object, type,
// reason, message, source); a repeat increments `count` and moves
// `lastTimestamp` instead of writing a new object. Recording never blocks or
// fails the caller: writes go out in the background with bounded concurrency
// and a bounded backlog (dropped with a warning beyond it, as Kubernetes does).
import {
  AlreadyExistsError,
  NotFoundError,
  componentLogger,
  objectRef,
  realClock,
  type Clock,
  type Event,
  type EventType,
  type KubeObject,
  type Logger,
  type ObjectReference,
  rfc3339,
} from '../../api/index.js';
import type { Store } from '../storage/store.js';

export interface EventRecorder {
  /** Records an event about `obj` (which should carry kind and apiVersion). Never throws. */
  event(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

export interface StoreEventRecorderOptions {
  store: Store;
  /** source.component and reportingComponent, e.g. `default-scheduler`. */
  component: string;
  /** source.host / reportingInstance. */
  host?: string;
  clock?: Clock;
  log?: Logger;
  /** Writes in flight at once. Default 16. */
  concurrency?: number;
  /** Events waiting beyond this are dropped. Default 10 000. */
  maxBacklog?: number;
  /** How many aggregation keys to remember. Default 4096. */
  maxCachedKeys?: number;
}

interface Pending {
  key: string;
  ref: ObjectReference;
  type: EventType;
  reason: string;
  message: string;
  /** When the first and the last of the coalesced occurrences happened. */
  firstAt: number;
  at: number;
  /** Occurrences folded into this one write. */
  times: number;
}

const iso = rfc3339;

/** The namespace an event about `ref` lives in: the object's own, `default` for cluster-scoped objects. */
export function eventNamespace(ref: ObjectReference): string {
  return ref.namespace || 'default';
}

export class StoreEventRecorder implements EventRecorder {
  private readonly store: Store;
  private readonly component: string;
  private readonly host: string | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly maxBacklog: number;
  private readonly maxCachedKeys: number;
  /** Aggregation key → the stored Event's name (insertion order = age, for eviction). */
  private readonly known = new Map<string, { namespace: string; name: string }>();
  private readonly backlog: Pending[] = [];
  /** Backlog entries not yet being written, by key: repeats fold into them. */
  private readonly waiting = new Map<string, Pending>();
  /** Keys with a write in flight: a second event with the same key waits for the first. */
  private readonly busyKeys = new Set<string>();
  private inFlight = 0;
  private seq = 0;
  private idleWaiters: (() => void)[] = [];
  private dropped = 0;

  constructor(opts: StoreEventRecorderOptions) {
    this.store = opts.store;
    this.component = opts.component;
    this.host = opts.host;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? componentLogger('events');
    this.concurrency = opts.concurrency ?? 16;
    this.maxBacklog = opts.maxBacklog ?? 10_000;
    this.maxCachedKeys = opts.maxCachedKeys ?? 4096;
  }

  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    const ref = objectRef(obj);
    const key = [ref.kind, ref.namespace, ref.name, ref.uid, type, reason, message, this.component, this.host].join('\u0000');
    const now = this.clock.now();
    const same = this.waiting.get(key);
    if (same) {
      same.times++;
      same.at = now;
      return;
    }
    if (this.backlog.length >= this.maxBacklog) {
      if (this.dropped++ % 1000 === 0) this.log.warn({ reason, object: ref.name, dropped: this.dropped }, 'event backlog full, dropping events');
      return;
    }
    const p: Pending = { key, ref, type, reason, message, firstAt: now, at: now, times: 1 };
    this.backlog.push(p);
    this.waiting.set(key, p);
    this.pump();
  }

  /** Resolves when every event recorded so far is written (or failed). */
  flush(): Promise<void> {
    if (this.backlog.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < this.concurrency) {
      const i = this.backlog.findIndex((p) => !this.busyKeys.has(p.key));
      if (i < 0) break;
      const p = this.backlog.splice(i, 1)[0]!;
      this.waiting.delete(p.key);
      this.busyKeys.add(p.key);
      this.inFlight++;
      void this.write(p)
        .catch((err: unknown) => this.log.warn({ err, reason: p.reason, object: p.ref.name }, 'could not record event'))
        .finally(() => {
          this.busyKeys.delete(p.key);
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && this.backlog.length === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  private async write(p: Pending): Promise<void> {
    const known = this.known.get(p.key);
    if (known) {
      try {
        await this.store.guaranteedUpdate<Event>({ resource: 'events', namespace: known.namespace, name: known.name }, (cur) => ({
          ...cur,
          count: (cur.count ?? 1) + p.times,
          lastTimestamp: iso(p.at),
        }));
        // Refresh its age for eviction.
        this.known.delete(p.key);
        this.known.set(p.key, known);
        return;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        this.known.delete(p.key); // expired or deleted: start a new one
      }
    }
    const namespace = eventNamespace(p.ref);
    let name = '';
    for (let attempt = 0; ; attempt++) {
      // Kubernetes names events `<object>.<hex timestamp>`; the sequence keeps them unique.
      name = `${p.ref.name ?? 'unknown'}.${(BigInt(p.at) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
      const ev: Event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: p.ref,
        reason: p.reason,
        message: p.message,
        type: p.type,
        count: p.times,
        firstTimestamp: iso(p.firstAt),
        lastTimestamp: iso(p.at),
        eventTime: null,
        source: this.host ? { component: this.component, host: this.host } : { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.host ?? '',
      };
      try {
        await this.store.create('events', ev);
        break;
      } catch (err) {
        if (err instanceof AlreadyExistsError && attempt < 3) continue;
        throw err;
      }
    }
    this.known.set(p.key, { namespace, name });
    if (this.known.size > this.maxCachedKeys) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }
}
