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
import { WatchHub, watchEventOf, type RawEvent } from './watch-hub.js';
import { AesGcmTransformer, DecryptionError } from './encryption.js';
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
import type { GuaranteedUpdateOptions, ListOptions, ListResult, ObjectKey, Store, WatchOptions } from './store.js';

export interface EtcdClientOptions {
  /** Client URLs (`http://10.200.0.11:2379`) or host:port. */
  endpoints: string[];
  /**
   * Deadline of one unary etcd call; default 3 s. A write sent to a member whose
   * leader just died hangs until this deadline, then the store retries it, so a
   * shorter deadline means a faster fail-over.
   */
  requestTimeoutMs?: number;
  /**
   * Skip a failing host for a second (default true). The leader election's own
   * client goes without: its lease renewal must never be refused because other
   * traffic tripped the breaker.
   */
  hostBreaker?: boolean;
  /** TLS towards https:// endpoints: the CA to trust and the client certificate to present. */
  tls?: EtcdClientTls;
}

/**
 * What a client presents to and trusts in an etcd with TLS (PEM text). Without
 * `caPem` the system's roots are trusted; `certPem` and `keyPem` go together.
 */
export interface EtcdClientTls {
  caPem?: string | Buffer;
  certPem?: string | Buffer;
  keyPem?: string | Buffer;
  /**
   * The name to check the server's certificate against instead of the endpoint's
   * host; for an etcd reached by IP (the managed one: `localhost`), since TLS
   * sends no IP address as server name (Node warns with DEP0123 when asked to).
   */
  serverName?: string;
}

function grpcCredentials(tls: EtcdClientTls | undefined): IOptions['credentials'] {
  if (!tls) return undefined;
  const buf = (v: string | Buffer | undefined) => (v === undefined ? undefined : Buffer.from(v));
  // grpc's createSsl takes a missing root certificate as "the system's roots".
  return { rootCertificate: buf(tls.caPem) as Buffer, privateKey: buf(tls.keyPem), certChain: buf(tls.certPem) };
}

/**
 * Shared-watch buffers smaller than the default for resources whose events are
 * many and only ever watched from "now" or a fresh list: node leases (every node
 * renews every 10 s, so 4096 events are under a minute of history yet most of
 * the watch memory at 1000 nodes). A watcher from an older revision gets its own
 * etcd watch, as with any buffer.
 */
const WATCH_BUFFER_BY_RESOURCE: Readonly<Record<string, number>> = { leases: 512 };

export interface EtcdStoreOptions {
  /** Connect to these endpoints (the store owns and closes the client)… */
  endpoints?: string[];
  /** …or use this client (the caller closes it). */
  client?: Etcd3;
  /** TLS of the client the store makes (see EtcdClientTls). */
  tls?: EtcdClientTls;
  /** Deadline of one etcd call when the store makes the client; default 3 s. */
  requestTimeoutMs?: number;
  /** How long transient failures (no leader, member down) are retried; default 10 s. */
  retryTimeoutMs?: number;
  /** Attempts of guaranteedUpdate / unconditional update before giving up with Conflict; default 50. */
  maxConflictRetries?: number;
  /**
   * Resources whose concurrent creates share one etcd transaction (and so one
   * revision); default `['events']`. Never a resource whose watchers must see
   * every object: a watch resumed from a revision skips the rest of that revision.
   */
  batchedCreates?: string[];
  /**
   * Watches of one resource share one etcd watch and one decoding of each event
   * (default true); the objects they deliver are then frozen (read-only).
   */
  sharedWatches?: boolean;
  /** Recent events a shared watch keeps for watchers that start a little in the past; default 4096. */
  watchBufferSize?: number;
  /** Events a watcher of a shared watch may fall behind before it is ended with 410 Gone; default 100 000. */
  watchMaxLag?: number;
  clock?: Clock;
  /** Where to count etcd requests and watch events (a MetricsRegistry fits). */
  metrics?: { counter(name: string, help: string): StoreMetricsCounter };
  /** uid generator; default crypto.randomUUID. */
  uid?: () => string;
  log?: Logger;
  /**
   * Encrypts the values of `encryptedResources` at rest (AES-256-GCM, see
   * encryption.ts). Without it they are written as plaintext, and a value that
   * is encrypted fails to read.
   */
  encryption?: AesGcmTransformer;
  /** Resources whose values pass through `encryption`; default ['secrets']. Only they pay for it. */
  encryptedResources?: string[];
}

/**
 * Thrown by the breaker below while a host is skipped: a transient condition
 * (fromEtcdError makes it a retryable 503, which the store's retry loop waits out).
 */
export class EtcdHostSkippedError extends Error {
  override readonly name = 'BrokenCircuitError';
  constructor(readonly retryAfterSeconds: number) {
    super('etcd host skipped after repeated failures');
  }
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
          throw new EtcdHostSkippedError(Math.max(1, Math.ceil((openUntil - Date.now()) / 1000)));
        }
        try {
          const r = await fn({ signal: signal ?? NEVER });
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
    execute: async (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) => fn({ signal: signal ?? NEVER }),
  } as never;
}

/** What the store last saw stored at a key: its revision and the fields an update carries over. */
interface SeenAt {
  rev: string;
  uid: string | undefined;
  creationTimestamp: string | undefined;
}

/** Parses one stored value (see EtcdStore.decode); picked once per store call by decoderFor. */
type Decode = <T extends KubeObject>(kv: IKeyValue, rev?: string) => T;

/** Keys remembered in the seen-revision cache (oldest forgotten first): ~100 bytes each. */
const SEEN_MAX = 65_536;

export interface StoreMetricsCounter {
  inc(labels?: Record<string, string>, by?: number): void;
  with(labels: Record<string, string>): { inc(by?: number): void };
}

/** A create waiting for its batch (see EtcdStore.createInBatch). */
interface PendingCreate {
  resource: string;
  key: Buffer;
  value: Buffer;
  resolve(r: { succeeded: boolean; revision: string; cur?: IKeyValue }): void;
  reject(e: unknown): void;
}

/** Most creates in one transaction (etcd's --max-txn-ops defaults to 128). */
const CREATE_BATCH_MAX_OPS = 64;
/** Batches of creates in flight at once; creates arriving meanwhile form the next batch. */
const CREATE_BATCHES_IN_FLIGHT = 2;

/** A signal that never fires, for etcd calls made without one (one per call was measurable). */
const NEVER = new AbortController().signal;

/** An etcd3 client with per-call deadlines and a short per-host back-off. */
export function createEtcdClient(o: EtcdClientOptions): Etcd3 {
  const timeout = o.requestTimeoutMs ?? 3000;
  return new Etcd3({
    hosts: o.endpoints,
    ...(o.tls ? { credentials: grpcCredentials(o.tls) } : {}),
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    // A list can be far larger than gRPC's default 4 MiB reply limit.
    grpcOptions: {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      ...(o.tls?.serverName ? { 'grpc.ssl_target_name_override': o.tls.serverName } : {}),
    },
    // Retries happen in the store, which knows when a write may have landed; the
    // library's own blind retry of writes is switched off.
    faultHandling: { host: o.hostBreaker === false ? () => passThrough() : hostBreaker(1000), global: passThrough() },
  });
}

export { classifyEvent } from './watch-hub.js';

/**
 * The copy of a caller's object that a write stores and returns: its own top
 * level and metadata (the only parts the store changes), the rest shared with
 * the caller's object. Writes used to deep-copy every object twice; at hundreds
 * of pods a second that was a measurable share of the controller's time.
 */
function ownCopy<T extends KubeObject>(obj: T): T {
  return { ...obj, metadata: { ...obj.metadata } };
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
  /**
   * Storage key → what was stored there at the revision this store last read or
   * wrote. An update whose resourceVersion is that revision knows the uid and
   * creationTimestamp to carry over without reading the key again: it is one
   * compare-and-swap (the compare proves the stored object is the one seen).
   */
  private readonly seen = new Map<string, SeenAt>();
  private closed = false;
  private readonly requests: StoreMetricsCounter | undefined;
  private readonly requestSeries = new Map<string, { inc(by?: number): void }>();
  private readonly watchEventsReceived: StoreMetricsCounter | undefined;
  /** Resources whose creates are batched into shared transactions (see createInBatch). */
  private readonly batchedCreates: ReadonlySet<string>;
  private createQueue: PendingCreate[] = [];
  /** One etcd watch per resource, shared by every watcher in this process (see watch-hub.ts). */
  private readonly hubs = new Map<string, WatchHub>();
  private readonly sharedWatches: boolean;
  private readonly watchBufferSize: number | undefined;
  private readonly watchMaxLag: number | undefined;
  private createFlushScheduled = false;
  private createBatchesInFlight = 0;
  /** Seals and opens the values of the encrypted resources (see encryption.ts). */
  private readonly encryption: AesGcmTransformer;
  private readonly encrypted: ReadonlySet<string>;

  constructor(o: EtcdStoreOptions) {
    if (o.client) {
      this.client = o.client;
      this.ownsClient = false;
    } else {
      if (!o.endpoints || o.endpoints.length === 0) throw new Error('EtcdStore needs endpoints or a client');
      this.client = createEtcdClient({ endpoints: o.endpoints, requestTimeoutMs: o.requestTimeoutMs, tls: o.tls });
      this.ownsClient = true;
    }
    this.clock = o.clock ?? realClock;
    this.uid = o.uid ?? randomUUID;
    this.log = o.log ?? componentLogger('store');
    this.retryTimeoutMs = o.retryTimeoutMs ?? 10_000;
    this.maxConflictRetries = o.maxConflictRetries ?? 50;
    this.batchedCreates = new Set(o.batchedCreates ?? ['events']);
    this.sharedWatches = o.sharedWatches ?? true;
    this.requests = o.metrics?.counter('flotilla_etcd_requests_total', 'Unary etcd requests made by the store, by operation and resource.');
    this.watchEventsReceived = o.metrics?.counter('flotilla_etcd_watch_events_total', 'Events received on etcd watch streams, by resource.');
    this.watchBufferSize = o.watchBufferSize;
    this.watchMaxLag = o.watchMaxLag;
    this.encryption = o.encryption ?? new AesGcmTransformer();
    this.encrypted = new Set(o.encryptedResources ?? ['secrets']);
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
  private readonly decode: Decode = <T extends KubeObject>(kv: IKeyValue, rev = kv.mod_revision): T => {
    let obj: T;
    try {
      obj = JSON.parse(kv.value.toString('utf8')) as T;
    } catch (e) {
      throw fromEtcdError(new Error(`malformed value at ${kv.key.toString()}: ${(e as Error).message}`));
    }
    obj.metadata = { ...(obj.metadata ?? {}), resourceVersion: String(rev) };
    if (rev === kv.mod_revision) this.remember(kv.key.toString(), rev, obj.metadata);
    return obj;
  };

  /** decode for an encrypted resource: the value is decrypted first (a plaintext one is read as it is). */
  private readonly decodeSealed: Decode = <T extends KubeObject>(kv: IKeyValue, rev = kv.mod_revision): T => {
    const value = this.encryption.open(kv.value, kv.key);
    return this.decode<T>(value === kv.value ? kv : { ...kv, value }, rev);
  };

  /** The decoder of a resource's values: one set lookup per store call, nothing added per value. */
  private decoderFor(resource: string): Decode {
    return this.encrypted.has(resource) ? this.decodeSealed : this.decode;
  }

  /** Counts one etcd request (see EtcdStoreOptions.metrics). */
  private count(operation: string, resource: string, by = 1): void {
    if (!this.requests) return;
    const k = `${operation} ${resource}`;
    let series = this.requestSeries.get(k);
    if (!series) this.requestSeries.set(k, (series = this.requests.with({ operation, resource })));
    series.inc(by);
  }

  private remember(key: string, rev: string, md: KubeObject['metadata']): void {
    const old = this.seen.get(key);
    if (old !== undefined) {
      // Revisions only grow: an older read arriving late must not replace a newer one.
      if (Number(old.rev) > Number(rev)) return;
      this.seen.delete(key);
    } else if (this.seen.size >= SEEN_MAX) {
      this.seen.delete(this.seen.keys().next().value as string);
    }
    this.seen.set(key, { rev, uid: md.uid, creationTimestamp: md.creationTimestamp });
  }

  private encode(obj: KubeObject): Buffer {
    if (obj.metadata.resourceVersion === undefined) return Buffer.from(JSON.stringify(obj));
    const clean = { ...obj, metadata: { ...obj.metadata } };
    delete clean.metadata.resourceVersion;
    return Buffer.from(JSON.stringify(clean));
  }

  /** encode, then (for an encrypted resource) encrypted with the object's etcd key as authenticated data. */
  private encodeAt(resource: string, obj: KubeObject, k: ObjectKey): Buffer {
    return this.encrypted.has(resource) ? this.encryption.seal(this.encode(obj), storageKey(k)) : this.encode(obj);
  }

  /** `obj` (a copy the store made and hands over) with its resourceVersion set. */
  private withRv<T extends KubeObject>(obj: T, rev: string): T {
    obj.metadata = { ...obj.metadata, resourceVersion: String(rev) };
    return obj;
  }

  private firstKv(r: ITxnResponse): IKeyValue | undefined {
    return r.responses[0]?.response_range?.kvs?.[0];
  }

  // ---- Store ---------------------------------------------------------------

  async create<T extends KubeObject>(resource: string, obj: T): Promise<T> {
    const k = keyOfObject(resource, obj);
    const key = Buffer.from(storageKey(k));
    const o = ownCopy(obj);
    // a uid the API server assigned before validation (a Job's generated selector names it) is kept
    o.metadata.uid = typeof o.metadata.uid === 'string' && o.metadata.uid !== '' ? o.metadata.uid : this.uid();
    o.metadata.creationTimestamp = rfc3339(this.clock.now());
    delete o.metadata.resourceVersion;
    const value = this.encodeAt(resource, o, k);
    const batched = this.batchedCreates.has(resource);
    return this.retrying('create', async () => {
      let r: { succeeded: boolean; revision: string; cur?: IKeyValue };
      if (batched) r = await this.createInBatch(resource, key, value);
      else {
        this.count('create', resource);
        const t = await this.client.kv.txn({
          compare: [{ key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }],
          success: [{ request_put: { key, value } }],
          failure: [{ request_range: { key } }],
        });
        r = { succeeded: t.succeeded, revision: t.header.revision, cur: this.firstKv(t) };
      }
      if (r.succeeded) {
        if (!batched) this.remember(key.toString(), r.revision, o.metadata);
        return this.withRv(o, r.revision);
      }
      const cur = r.cur;
      // Our own write whose reply was lost (the client retried it): it is stored, so it succeeded.
      if (cur && cur.value.equals(value)) return this.withRv(o, cur.mod_revision);
      throw new AlreadyExistsError(alreadyExistsMessage(resource, k.name), { name: k.name, kind: resource });
    });
  }

  /**
   * Creates of a batched resource made in the same turn of the event loop go to
   * etcd as one transaction (each key still only if absent). A transaction is all
   * or nothing: when some key exists, the failure branch reads every key, those
   * that exist are answered (AlreadyExists, or our own bytes after a lost reply)
   * and the others go again in the next batch. All creates of one batch share a
   * revision, which is why only resources whose watchers may miss an object are
   * batched: Events, which Kubernetes records on a best-effort basis anyway.
   */
  private createInBatch(resource: string, key: Buffer, value: Buffer): Promise<{ succeeded: boolean; revision: string; cur?: IKeyValue }> {
    return new Promise((resolve, reject) => {
      this.createQueue.push({ resource, key, value, resolve, reject });
      this.scheduleCreateFlush();
    });
  }

  private scheduleCreateFlush(): void {
    if (this.createFlushScheduled || this.createBatchesInFlight >= CREATE_BATCHES_IN_FLIGHT) return;
    this.createFlushScheduled = true;
    setImmediate(() => {
      this.createFlushScheduled = false;
      this.flushCreates();
    });
  }

  private flushCreates(): void {
    while (this.createBatchesInFlight < CREATE_BATCHES_IN_FLIGHT && this.createQueue.length > 0) {
      // etcd refuses a transaction that writes one key twice: a repeated key waits for the next batch.
      const batch: PendingCreate[] = [];
      const rest: PendingCreate[] = [];
      const keys = new Set<string>();
      for (const p of this.createQueue) {
        const k = p.key.toString('latin1');
        if (batch.length < CREATE_BATCH_MAX_OPS && !keys.has(k)) {
          keys.add(k);
          batch.push(p);
        } else rest.push(p);
      }
      this.createQueue = rest;
      this.createBatchesInFlight++;
      this.count('create-batch', batch[0]!.resource, 1);
      this.client.kv
        .txn({
          compare: batch.map((p) => ({ key: p.key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 })),
          success: batch.map((p) => ({ request_put: { key: p.key, value: p.value } })),
          failure: batch.map((p) => ({ request_range: { key: p.key } })),
        })
        .then(
          (r) => {
            for (let i = 0; i < batch.length; i++) {
              const p = batch[i]!;
              if (r.succeeded) {
                p.resolve({ succeeded: true, revision: r.header.revision });
                continue;
              }
              const cur = r.responses[i]?.response_range?.kvs?.[0];
              // This key was free: only another one spoilt the batch; it goes again.
              if (cur === undefined) this.createQueue.push(p);
              else p.resolve({ succeeded: false, revision: r.header.revision, cur });
            }
          },
          (e: unknown) => {
            for (const p of batch) p.reject(e);
          },
        )
        .finally(() => {
          this.createBatchesInFlight--;
          if (this.createQueue.length > 0) this.scheduleCreateFlush();
        });
    }
  }

  async get<T extends KubeObject>(key: ObjectKey): Promise<T> {
    const kv = await this.getKv(key);
    if (!kv) throw new NotFoundError(notFoundMessage(key.resource, key.name), { name: key.name, kind: key.resource });
    return this.decoderFor(key.resource)<T>(kv);
  }

  private async getKv(key: ObjectKey): Promise<IKeyValue | undefined> {
    const k = Buffer.from(storageKey(key));
    const r = await this.retrying('get', () => (this.count('get', key.resource), this.client.kv.range({ key: k })));
    return r.kvs[0];
  }

  async list<T extends KubeObject>(resource: string, opts: ListOptions<T> = {}): Promise<ListResult<T>> {
    const prefix = storagePrefix(resource, opts.namespace);
    const paged = opts.limit !== undefined && opts.limit > 0;
    const start = opts.continueFrom?.key ?? prefix;
    if (!start.startsWith(prefix)) throw new BadRequestError(`continue key is not valid: ${start} is outside ${prefix}`);
    // every page of one list reads the revision of the first page
    let revision = opts.continueFrom?.revision ?? opts.revision;
    const items: T[] = [];
    const decode = this.decoderFor(resource);
    let key = start;
    for (;;) {
      // a page asks for what is still missing (at least 1); with a filter it may take several ranges
      const want = paged ? Math.max(opts.limit! - items.length, 1) : 0;
      const r = await this.retrying('list', () => (
        this.count('list', resource),
        this.client.kv.range({
          key: Buffer.from(key),
          range_end: rangeEnd(prefix),
          ...(want > 0 ? { limit: String(want) } : {}),
          ...(revision !== undefined ? { revision } : {}),
        })
      ));
      revision ??= r.header.revision;
      for (const kv of r.kvs) {
        let obj: T;
        try {
          obj = decode<T>(kv);
        } catch (e) {
          if (e instanceof DecryptionError) throw e;
          this.log.warn({ key: kv.key.toString(), err: (e as Error).message }, 'skipping a malformed value');
          continue;
        }
        if (!opts.filter || opts.filter(obj)) items.push(obj);
      }
      const last = r.kvs[r.kvs.length - 1];
      if (!paged || !r.more || !last) return { items, resourceVersion: revision };
      key = `${last.key.toString()}\0`;
      if (items.length >= opts.limit!) {
        const left = Number(r.count) - r.kvs.length;
        return { items, resourceVersion: revision, next: { key, revision }, ...(opts.filter ? {} : { remaining: left }) };
      }
    }
  }

  async update<T extends KubeObject>(resource: string, obj: T): Promise<T> {
    const k = keyOfObject(resource, obj);
    const want = obj.metadata.resourceVersion;
    if (want !== undefined && want !== '' && want !== '0') {
      // Compare-and-swap on the caller's resourceVersion. When this store saw the
      // key at exactly that revision it knows what to carry over: no read first.
      const seen = this.seen.get(storageKey(k));
      if (seen !== undefined && seen.rev === want) {
        const next = this.carryOver(obj, { metadata: { uid: seen.uid, creationTimestamp: seen.creationTimestamp } });
        const value = this.encodeAt(resource, next, k);
        return this.retrying('update', (attempt) => this.casPut(resource, k, next, value, want, attempt));
      }
      return this.retrying('update', async (attempt) => {
        const cur = await this.getKvRaw(k);
        if (!cur) throw new NotFoundError(notFoundMessage(resource, k.name), { name: k.name, kind: resource });
        const next = this.carryOver(obj, this.decoderFor(resource)<T>(cur));
        const value = this.encodeAt(resource, next, k);
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
    this.count('get', k.resource);
    const r = await this.client.kv.range({ key: Buffer.from(storageKey(k)) });
    return r.kvs[0];
  }

  /** uid and creationTimestamp are the stored object's, whatever the caller sent. */
  private carryOver<T extends KubeObject>(obj: T, cur: KubeObject): T {
    const next = ownCopy(obj);
    next.metadata.uid = cur.metadata.uid;
    next.metadata.creationTimestamp = cur.metadata.creationTimestamp;
    delete next.metadata.resourceVersion;
    return next;
  }

  /** One put if the key's mod revision is still `rev`. Throws Conflict / NotFound otherwise. */
  private async casPut<T extends KubeObject>(resource: string, k: ObjectKey, next: T, value: Buffer, rev: string, attempt: number): Promise<T> {
    const key = Buffer.from(storageKey(k));
    this.count('update', resource);
    const r = await this.client.kv.txn({
      compare: [{ key, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: rev }],
      success: [{ request_put: { key, value } }],
      failure: [{ request_range: { key } }],
    });
    if (r.succeeded) {
      this.remember(key.toString(), r.header.revision, next.metadata);
      return this.withRv(next, r.header.revision);
    }
    const cur = this.firstKv(r);
    if (!cur) {
      this.seen.delete(key.toString());
      throw new NotFoundError(notFoundMessage(resource, k.name), { name: k.name, kind: resource });
    }
    // Only on a retry after a transient failure can identical bytes be our own earlier write.
    if (attempt > 0 && cur.value.equals(value)) return this.withRv(next, cur.mod_revision);
    throw new ConflictError(conflictMessage(resource, k.name), { name: k.name, kind: resource });
  }

  async guaranteedUpdate<T extends KubeObject>(
    key: ObjectKey,
    mutate: (current: T) => T | Promise<T>,
    opts: GuaranteedUpdateOptions<T> & { skipUnchanged?: boolean } = {},
  ): Promise<T> {
    const skipUnchanged = opts.skipUnchanged ?? true;
    const sk = storageKey(key);
    const decode = this.decoderFor(key.resource);
    // The caller's copy stands in for the first read when this store saw the key at
    // its revision (so uid and creationTimestamp are known to be the stored ones).
    const cachedRv = opts.cached?.metadata.resourceVersion;
    let cur: { obj: T; value: Buffer; rev: string; shared?: boolean } | undefined;
    if (opts.cached && cachedRv && this.seen.get(sk)?.rev === cachedRv) {
      // Only read (encoded, cloned for mutate); never handed back as it is.
      cur = { obj: opts.cached, value: this.encodeAt(key.resource, opts.cached, key), rev: cachedRv, shared: true };
    } else {
      cur = this.current<T>(await this.getKv(key), decode);
    }
    for (let attempt = 0; ; attempt++) {
      if (!cur) throw new NotFoundError(notFoundMessage(key.resource, key.name), { name: key.name, kind: key.resource });
      const current = cur.obj;
      const next = this.carryOver(await mutate(deepClone(current)), current);
      const value = this.encodeAt(key.resource, next, key);
      // Nothing changed: no write, no new revision (as Kubernetes does).
      if (skipUnchanged && value.equals(cur.value)) return cur.shared ? deepClone(current) : current;
      const rev = cur.rev;
      try {
        return await this.retrying('update', (n) => this.casPut(key.resource, key, next, value, rev, n));
      } catch (e) {
        if (!(e instanceof ConflictError) || attempt + 1 >= this.maxConflictRetries) throw e;
        this.log.debug({ key: keyFor(key), attempt }, 'update conflict; retrying on the latest object');
        cur = this.current<T>(await this.getKv(key), decode);
      }
    }
  }

  private current<T extends KubeObject>(kv: IKeyValue | undefined, decode: Decode): { obj: T; value: Buffer; rev: string } | undefined {
    return kv ? { obj: decode<T>(kv), value: kv.value, rev: kv.mod_revision } : undefined;
  }

  async delete<T extends KubeObject>(key: ObjectKey, opts: { resourceVersion?: string } = {}): Promise<T> {
    const k = Buffer.from(storageKey(key));
    const want = opts.resourceVersion;
    const cas = want !== undefined && want !== '' && want !== '0';
    return this.retrying('delete', async () => {
      this.count('delete', key.resource);
      const r = await this.client.kv.txn({
        compare: cas
          ? [{ key: k, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: want }]
          : [{ key: k, target: CompareTarget.Create, result: CompareResult.Greater, create_revision: 0 }],
        success: [{ request_delete_range: { key: k, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      });
      if (r.succeeded) {
        this.seen.delete(k.toString());
        const prev = r.responses[0]?.response_delete_range?.prev_kvs?.[0];
        if (!prev) throw new NotFoundError(notFoundMessage(key.resource, key.name), { name: key.name, kind: key.resource });
        try {
          return this.decoderFor(key.resource)<T>(prev);
        } catch (e) {
          // Deleted all the same; only its last value cannot be read here: a bare object stands for it.
          if (!(e instanceof DecryptionError)) throw e;
          this.log.warn({ key: k.toString(), err: e.message }, 'deleted a value that cannot be decrypted');
          return { metadata: { name: key.name, ...(key.namespace ? { namespace: key.namespace } : {}), resourceVersion: prev.mod_revision } } as T;
        }
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
    const rv = opts.resourceVersion;
    // Kubernetes: resourceVersion "" or "0" means "from now".
    if (rv && !/^\d+$/.test(rv)) throw new BadRequestError(`invalid resource version "${rv}": must be a decimal revision`);
    const from: number | undefined = rv && rv !== '0' ? Number(rv) + 1 : undefined;
    if (this.sharedWatches && !this.closed) {
      let hub = this.hubs.get(resource);
      if (!hub) {
        const prefix = storagePrefix(resource);
        hub = new WatchHub({
          resource,
          raw: (start, signal) => this.rawWatch(prefix, start, signal, resource),
          currentRevision: async () => Number(await this.currentRevision()),
          decode: this.decoderFor(resource),
          log: this.log,
          bufferSize: this.watchBufferSize ?? WATCH_BUFFER_BY_RESOURCE[resource],
          maxLag: this.watchMaxLag,
          onStop: (h) => {
            if (this.hubs.get(resource) === h) this.hubs.delete(resource);
          },
        });
        this.hubs.set(resource, hub);
      }
      const shared = hub.subscribe<T>({
        from,
        ...(opts.namespace !== undefined ? { keyPrefix: storagePrefix(resource, opts.namespace) } : {}),
        ...(opts.filter ? { filter: opts.filter } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      // undefined: the hub no longer holds that revision; etcd may (or answers 410).
      if (shared) {
        yield* shared;
        return;
      }
    }
    const decode = this.decoderFor(resource);
    for await (const ev of this.rawWatch(storagePrefix(resource, opts.namespace), from, opts.signal, resource, rv)) {
      const out = watchEventOf<T>(
        ev,
        opts.filter,
        () => this.watchDecode<T>(decode, ev.kv),
        () => this.watchDecode<T>(decode, ev.prevKv!, ev.kv.mod_revision),
      );
      if (out) yield out;
    }
  }

  /**
   * The etcd events under `prefix` from revision `from` (undefined = from now),
   * in revision order, across broken streams (resumed where they stopped).
   * Throws GoneError when `from` was compacted. Ends when `signal` aborts.
   */
  private async *rawWatch(prefix: string, from: number | undefined, signal: AbortSignal | undefined, resource: string, rv?: string): AsyncGenerator<RawEvent> {
    let next = from;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) ac.abort();
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
            if (res.events?.length) this.watchEventsReceived?.inc({ resource }, res.events.length);
            for (const ev of res.events ?? []) {
              next = Number(ev.kv.mod_revision) + 1;
              yield { kind: ev.type === 'Delete' || (ev.type as unknown) === 1 ? 'delete' : 'put', kv: ev.kv, prevKv: ev.prev_kv };
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
      signal?.removeEventListener('abort', onAbort);
      this.watches.delete(ac);
    }
  }

  /** A watched value parsed, or undefined (logged) when it is malformed: the event is skipped. One that cannot be decrypted ends the watch. */
  private watchDecode<T extends KubeObject>(decode: Decode, kv: IKeyValue, rev?: string): T | undefined {
    try {
      return decode<T>(kv, rev);
    } catch (e) {
      if (e instanceof DecryptionError) throw e;
      this.log.warn({ key: kv.key.toString(), err: (e as Error).message }, 'skipping a malformed value in a watch');
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const hub of [...this.hubs.values()]) hub.stop();
    this.hubs.clear();
    for (const ac of this.watches) ac.abort();
    if (this.ownsClient) this.client.close();
  }
}
