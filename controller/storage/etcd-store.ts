// The Store over etcd (etcd3 package). Keys as in store.ts; values are the
// objects as JSON *without* metadata.resourceVersion, which is always derived
// from the key's etcd mod revision. Every write is a single transaction:
//   create            compare create_revision == 0        → AlreadyExists
//   update / delete   compare mod_revision == resourceVersion → Conflict
// so nothing is ever half-written. Transient failures (no leader, a dead
// member, a timeout) are retried for up to `retryTimeoutMs`; a write whose
// reply was lost is recognised on the retry by reading back its own bytes.
import { randomUUID } from 'node:crypto';
import {
  CompareResult,
  CompareTarget,
  Etcd3,
  type IKeyValue,
  type IOptions,
  type ITxnResponse,
  type IWatchResponse,
} from 'etcd3';
import {
  AlreadyExistsError,
  BadRequestError,
  ConflictError,
  GoneError,
  NotFoundError,
  componentLogger,
  deepClone,
  realClock,
  type Clock,
  type KubeObject,
  type Logger,
  type WatchEvent,
} from '../../api/index.js';
import { fromEtcdError, isRetryable } from './etcd-errors.js';
import {
  alreadyExistsMessage,
  conflictMessage,
  goneMessage,
  keyFor,
  keyOfObject,
  notFoundMessage,
  rangeEnd,
  rfc3339,
  storageKey,
  storagePrefix,
} from './keys.js';
import type { ListOptions, ListResult, ObjectKey, Store, WatchOptions } from './store.js';

export interface EtcdClientOptions {
  /** Client URLs (`http://10.200.0.11:2379`) or host:port. */
  endpoints: string[];
  /**
   * Deadline of one unary etcd call; default 3 s. A write sent to a member whose
   * leader just died hangs until this deadline, then the store retries it, so a
   * shorter deadline means a faster fail-over.
   */
  requestTimeoutMs?: number;
}

export interface EtcdStoreOptions {
  /** Connect to these endpoints (the store owns and closes the client)… */
  endpoints?: string[];
  /** …or use this client (the caller closes it). */
  client?: Etcd3;
  /** Deadline of one etcd call when the store makes the client; default 3 s. */
  requestTimeoutMs?: number;
  /** How long transient failures (no leader, member down) are retried; default 10 s. */
  retryTimeoutMs?: number;
  /** Attempts of guaranteedUpdate / unconditional update before giving up with Conflict; default 50. */
  maxConflictRetries?: number;
  clock?: Clock;
  /** uid generator; default crypto.randomUUID. */
  uid?: () => string;
  log?: Logger;
}

/**
 * A per-host fault policy for the etcd3 connection pool: after two consecutive
 * transient failures a host is skipped for `openMs`, then tried again. (The
 * library default skips a host for 5 s, which outlasts a leader election.)
 */
function hostBreaker(openMs: number): NonNullable<NonNullable<IOptions['faultHandling']>['host']> {
  return () => {
    let failures = 0;
    let openUntil = 0;
    const noEvent = () => ({ dispose() {} });
    const policy = {
      onSuccess: noEvent,
      onFailure: noEvent,
      async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
        if (failures >= 2 && Date.now() < openUntil) {
          throw Object.assign(new Error('etcd host skipped after repeated failures'), { name: 'BrokenCircuitError' });
        }
        try {
          const r = await fn({ signal: signal ?? new AbortController().signal });
          failures = 0;
          return r;
        } catch (e) {
          if (e instanceof Error && Object.getOwnPropertySymbols(e).some((s) => s.description === 'RecoverableError')) {
            failures++;
            if (failures >= 2) openUntil = Date.now() + openMs;
          }
          throw e;
        }
      },
    };
    return policy as never;
  };
}

function passThrough(): NonNullable<NonNullable<IOptions['faultHandling']>['global']> {
  const noEvent = () => ({ dispose() {} });
  return {
    onSuccess: noEvent,
    onFailure: noEvent,
    execute: async (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) => fn({ signal: signal ?? new AbortController().signal }),
  } as never;
}

/** An etcd3 client with per-call deadlines and a short per-host back-off. */
export function createEtcdClient(o: EtcdClientOptions): Etcd3 {
  const timeout = o.requestTimeoutMs ?? 3000;
  return new Etcd3({
    hosts: o.endpoints,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    // A list can be far larger than gRPC's default 4 MiB reply limit.
    grpcOptions: { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 },
    // Retries happen in the store, which knows when a write may have landed; the
    // library's own blind retry of writes is switched off.
    faultHandling: { host: hostBreaker(1000), global: passThrough() },
  });
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

export class EtcdStore implements Store {
  /** The etcd3 client, for the few callers that need leases or raw keys (subnet leases, election). */
  readonly client: Etcd3;
  private readonly ownsClient: boolean;
  private readonly clock: Clock;
  private readonly uid: () => string;
  private readonly log: Logger;
  private readonly retryTimeoutMs: number;
  private readonly maxConflictRetries: number;
  private readonly watches = new Set<AbortController>();
  private closed = false;

  constructor(o: EtcdStoreOptions) {
    if (o.client) {
      this.client = o.client;
      this.ownsClient = false;
    } else {
      if (!o.endpoints || o.endpoints.length === 0) throw new Error('EtcdStore needs endpoints or a client');
      this.client = createEtcdClient({ endpoints: o.endpoints, requestTimeoutMs: o.requestTimeoutMs });
      this.ownsClient = true;
    }
    this.clock = o.clock ?? realClock;
    this.uid = o.uid ?? randomUUID;
    this.log = o.log ?? componentLogger('store');
    this.retryTimeoutMs = o.retryTimeoutMs ?? 10_000;
    this.maxConflictRetries = o.maxConflictRetries ?? 50;
  }

  // ---- helpers -------------------------------------------------------------

  /** Runs one etcd exchange, retrying transient failures with back-off. */
  private async retrying<R>(op: string, fn: (attempt: number) => Promise<R>): Promise<R> {
    const deadline = this.clock.now() + this.retryTimeoutMs;
    let delay = 25;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (raw) {
        const e = fromEtcdError(raw);
        if (!isRetryable(e) || this.closed || this.clock.now() + delay > deadline) throw e;
        this.log.debug({ op, attempt, err: e.message }, 'etcd call failed; retrying');
        await this.clock.sleep(delay);
        delay = Math.min(delay * 2, 800);
      }
    }
  }

  /** Parses a stored value; the resourceVersion comes from the revision, never the value. */
  private decode<T extends KubeObject>(kv: IKeyValue, rev = kv.mod_revision): T {
    let obj: T;
    try {
      obj = JSON.parse(kv.value.toString('utf8')) as T;
    } catch (e) {
      throw fromEtcdError(new Error(`malformed value at ${kv.key.toString()}: ${(e as Error).message}`));
    }
    obj.metadata = { ...(obj.metadata ?? {}), resourceVersion: String(rev) };
    return obj;
  }

  private encode(obj: KubeObject): Buffer {
    const clean = { ...obj, metadata: { ...obj.metadata } };
    delete clean.metadata.resourceVersion;
    return Buffer.from(JSON.stringify(clean));
  }

  private withRv<T extends KubeObject>(obj: T, rev: string): T {
    const out = deepClone(obj);
    out.metadata.resourceVersion = String(rev);
    return out;
  }

  private firstKv(r: ITxnResponse): IKeyValue | undefined {
    return r.responses[0]?.response_range?.kvs?.[0];
  }

  // ---- Store ---------------------------------------------------------------

  async create<T extends KubeObject>(resource: string, obj: T): Promise<T> {
    const k = keyOfObject(resource, obj);
    const key = Buffer.from(storageKey(k));
    const o = deepClone(obj);
    o.metadata.uid = this.uid();
    o.metadata.creationTimestamp = rfc3339(this.clock.now());
    delete o.metadata.resourceVersion;
    const value = this.encode(o);
    return this.retrying('create', async () => {
      const r = await this.client.kv.txn({
        compare: [{ key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }],
      });
      if (r.succeeded) return this.withRv(o, r.header.revision);
      const cur = this.firstKv(r);
      // Our own write whose reply was lost (the client retried it): it is stored, so it succeeded.
      if (cur && cur.value.equals(value)) return this.withRv(o, cur.mod_revision);
      throw new AlreadyExistsError(alreadyExistsMessage(resource, k.name), { name: k.name, kind: resource });
    });
  }

  async get<T extends KubeObject>(key: ObjectKey): Promise<T> {
    const kv = await this.getKv(key);
    if (!kv) throw new NotFoundError(notFoundMessage(key.resource, key.name), { name: key.name, kind: key.resource });
    return this.decode<T>(kv);
  }

  private async getKv(key: ObjectKey): Promise<IKeyValue | undefined> {
    const k = Buffer.from(storageKey(key));
    const r = await this.retrying('get', () => this.client.kv.range({ key: k }));
    return r.kvs[0];
  }

  async list<T extends KubeObject>(resource: string, opts: ListOptions<T> = {}): Promise<ListResult<T>> {
    const prefix = storagePrefix(resource, opts.namespace);
    const r = await this.retrying('list', () => this.client.kv.range({ key: Buffer.from(prefix), range_end: rangeEnd(prefix) }));
    const items: T[] = [];
    for (const kv of r.kvs) {
      let obj: T;
      try {
        obj = this.decode<T>(kv);
      } catch (e) {
        this.log.warn({ key: kv.key.toString(), err: (e as Error).message }, 'skipping a malformed value');
        continue;
      }
      if (!opts.filter || opts.filter(obj)) items.push(obj);
    }
    return { items, resourceVersion: r.header.revision };
  }

  async update<T extends KubeObject>(resource: string, obj: T): Promise<T> {
    const k = keyOfObject(resource, obj);
    const want = obj.metadata.resourceVersion;
    if (want !== undefined && want !== '' && want !== '0') {
      // Compare-and-swap on the caller's resourceVersion.
      return this.retrying('update', async (attempt) => {
        const cur = await this.getKvRaw(k);
        if (!cur) throw new NotFoundError(notFoundMessage(resource, k.name), { name: k.name, kind: resource });
        const next = this.carryOver(obj, this.decode<T>(cur));
        const value = this.encode(next);
        if (cur.mod_revision !== want) {
          // On a retry after a lost reply, finding our own bytes means our write landed.
          if (attempt > 0 && cur.value.equals(value)) return this.withRv(next, cur.mod_revision);
          throw new ConflictError(conflictMessage(resource, k.name), { name: k.name, kind: resource });
        }
        return this.casPut(resource, k, next, value, want, attempt);
      });
    }
    // Unconditional update: CAS on whatever is stored now, retried on races.
    return this.guaranteedUpdate<T>(k, () => obj, { skipUnchanged: false });
  }

  private async getKvRaw(k: ObjectKey): Promise<IKeyValue | undefined> {
    const r = await this.client.kv.range({ key: Buffer.from(storageKey(k)) });
    return r.kvs[0];
  }

  /** uid and creationTimestamp are the stored object's, whatever the caller sent. */
  private carryOver<T extends KubeObject>(obj: T, cur: KubeObject): T {
    const next = deepClone(obj);
    next.metadata.uid = cur.metadata.uid;
    next.metadata.creationTimestamp = cur.metadata.creationTimestamp;
    delete next.metadata.resourceVersion;
    return next;
  }

  /** One put if the key's mod revision is still `rev`. Throws Conflict / NotFound otherwise. */
  private async casPut<T extends KubeObject>(resource: string, k: ObjectKey, next: T, value: Buffer, rev: string, attempt: number): Promise<T> {
    const key = Buffer.from(storageKey(k));
    const r = await this.client.kv.txn({
      compare: [{ key, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: rev }],
      success: [{ request_put: { key, value } }],
      failure: [{ request_range: { key } }],
    });
    if (r.succeeded) return this.withRv(next, r.header.revision);
    const cur = this.firstKv(r);
    if (!cur) throw new NotFoundError(notFoundMessage(resource, k.name), { name: k.name, kind: resource });
    // Only on a retry after a transient failure can identical bytes be our own earlier write.
    if (attempt > 0 && cur.value.equals(value)) return this.withRv(next, cur.mod_revision);
    throw new ConflictError(conflictMessage(resource, k.name), { name: k.name, kind: resource });
  }

  async guaranteedUpdate<T extends KubeObject>(
    key: ObjectKey,
    mutate: (current: T) => T | Promise<T>,
    opts: { skipUnchanged?: boolean } = {},
  ): Promise<T> {
    const skipUnchanged = opts.skipUnchanged ?? true;
    let cur = await this.getKv(key);
    for (let attempt = 0; ; attempt++) {
      if (!cur) throw new NotFoundError(notFoundMessage(key.resource, key.name), { name: key.name, kind: key.resource });
      const current = this.decode<T>(cur);
      const next = this.carryOver(await mutate(deepClone(current)), current);
      const value = this.encode(next);
      // Nothing changed: no write, no new revision (as Kubernetes does).
      if (skipUnchanged && value.equals(cur.value)) return current;
      const rev = cur.mod_revision;
      try {
        return await this.retrying('update', (n) => this.casPut(key.resource, key, next, value, rev, n));
      } catch (e) {
        if (!(e instanceof ConflictError) || attempt + 1 >= this.maxConflictRetries) throw e;
        this.log.debug({ key: keyFor(key), attempt }, 'update conflict; retrying on the latest object');
        cur = await this.getKv(key);
      }
    }
  }

  async delete<T extends KubeObject>(key: ObjectKey, opts: { resourceVersion?: string } = {}): Promise<T> {
    const k = Buffer.from(storageKey(key));
    const want = opts.resourceVersion;
    const cas = want !== undefined && want !== '' && want !== '0';
    return this.retrying('delete', async () => {
      const r = await this.client.kv.txn({
        compare: cas
          ? [{ key: k, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: want }]
          : [{ key: k, target: CompareTarget.Create, result: CompareResult.Greater, create_revision: 0 }],
        success: [{ request_delete_range: { key: k, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      });
      if (r.succeeded) {
        const prev = r.responses[0]?.response_delete_range?.prev_kvs?.[0];
        if (!prev) throw new NotFoundError(notFoundMessage(key.resource, key.name), { name: key.name, kind: key.resource });
        return this.decode<T>(prev);
      }
      if (!this.firstKv(r)) throw new NotFoundError(notFoundMessage(key.resource, key.name), { name: key.name, kind: key.resource });
      throw new ConflictError(conflictMessage(key.resource, key.name), { name: key.name, kind: key.resource });
    });
  }

  async currentRevision(): Promise<string> {
    // A range over a key that never exists costs nothing and carries the revision in its header.
    const r = await this.retrying('revision', () => this.client.kv.range({ key: Buffer.from('/flotilla/\0revision'), limit: 1 }));
    return r.header.revision;
  }

  /** Compacts etcd history up to `revision` (watches from before it get 410 Gone). */
  async compact(revision: string, physical = true): Promise<void> {
    await this.retrying('compact', () => this.client.kv.compact({ revision, physical }));
  }

  watch<T extends KubeObject>(resource: string, opts: WatchOptions<T> = {}): AsyncIterable<WatchEvent<T>> {
    return { [Symbol.asyncIterator]: () => this.watchEvents(resource, opts)[Symbol.asyncIterator]() };
  }

  private async *watchEvents<T extends KubeObject>(resource: string, opts: WatchOptions<T>): AsyncGenerator<WatchEvent<T>> {
    const prefix = storagePrefix(resource, opts.namespace);
    const rv = opts.resourceVersion;
    // Kubernetes: resourceVersion "" or "0" means "from now".
    if (rv && !/^\d+$/.test(rv)) throw new BadRequestError(`invalid resource version "${rv}": must be a decimal revision`);
    let next: number | undefined = rv && rv !== '0' ? Number(rv) + 1 : undefined;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) ac.abort();
    this.watches.add(ac);
    let delay = 50;
    try {
      while (!ac.signal.aborted) {
        let stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>>;
        try {
          stream = await this.client.watchClient.watch();
        } catch (e) {
          const err = fromEtcdError(e);
          if (ac.signal.aborted) return;
          if (!isRetryable(err)) throw err;
          await this.clock.sleep(delay, ac.signal).catch(() => undefined);
          delay = Math.min(delay * 2, 2000);
          continue;
        }
        // End our side first: etcd3 marks the host failed (circuit breaker, channel reset
        // for every other call) on an error of a stream that is still writable, and a
        // cancel is such an error.
        const cancel = () => {
          stream.end();
          stream.cancel();
        };
        ac.signal.addEventListener('abort', cancel, { once: true });
        try {
          stream.write({
            create_request: {
              key: Buffer.from(prefix),
              range_end: rangeEnd(prefix),
              start_revision: next,
              prev_kv: true,
              progress_notify: true,
            },
          });
          for await (const res of stream as unknown as AsyncIterable<IWatchResponse>) {
            delay = 50;
            if (res.canceled) {
              if (res.compact_revision && res.compact_revision !== '0') {
                throw new GoneError(goneMessage(next === undefined ? rv ?? '' : next - 1, res.compact_revision));
              }
              throw fromEtcdError(new Error(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`));
            }
            if (res.created) {
              if (next === undefined) next = Number(res.header.revision) + 1;
              continue;
            }
            for (const ev of res.events ?? []) {
              const out = this.toWatchEvent<T>(ev.type === 'Delete' || (ev.type as unknown) === 1 ? 'delete' : 'put', ev.kv, ev.prev_kv, opts.filter);
              next = Number(ev.kv.mod_revision) + 1;
              if (out) yield out;
              if (ac.signal.aborted) return;
            }
            // A progress notification: everything up to its revision has been sent.
            if ((res.events ?? []).length === 0 && res.header?.revision) {
              next = Math.max(next ?? 0, Number(res.header.revision) + 1);
            }
          }
          // The server ended the stream: reconnect from where we are.
        } catch (e) {
          if (ac.signal.aborted) return;
          const err = fromEtcdError(e);
          if (!isRetryable(err)) throw err;
          this.log.debug({ resource, next, err: err.message }, 'watch stream broke; resuming');
          await this.clock.sleep(delay, ac.signal).catch(() => undefined);
          delay = Math.min(delay * 2, 2000);
        } finally {
          ac.signal.removeEventListener('abort', cancel);
          try {
            stream.end();
            stream.cancel();
          } catch {
            /* already closed */
          }
        }
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      this.watches.delete(ac);
    }
  }

  private toWatchEvent<T extends KubeObject>(
    kind: 'put' | 'delete',
    kv: IKeyValue,
    prevKv: IKeyValue | undefined,
    filter: ((o: T) => boolean) | undefined,
  ): WatchEvent<T> | undefined {
    let cur: T | undefined;
    let prev: T | undefined;
    try {
      if (kind === 'put') cur = this.decode<T>(kv);
      if (prevKv && prevKv.value && prevKv.value.length > 0) prev = this.decode<T>(prevKv, kv.mod_revision);
    } catch (e) {
      this.log.warn({ key: kv.key.toString(), err: (e as Error).message }, 'skipping a malformed value in a watch');
      return undefined;
    }
    const match = (o: T | undefined) => (o === undefined ? undefined : filter ? filter(o) : true);
    const created = kind === 'put' && kv.create_revision === kv.mod_revision;
    const type = classifyEvent(kind, created, match(cur) ?? false, match(prev));
    if (!type) return undefined;
    // DELETED carries the last stored object with the deletion's revision.
    const object = type === 'DELETED' && kind === 'delete' ? prev! : cur!;
    return { type, object };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const ac of this.watches) ac.abort();
    if (this.ownsClient) this.client.close();
  }
}
