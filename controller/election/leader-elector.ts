// Leader election among controller replicas on one etcd: the leader holds the key
// /flotilla/election/<name>, attached to an etcd lease it keeps alive. Every
// replica serves the API; only the leader runs the scheduler and controllers.
//
// Safety: the leader steps down when it has not renewed its lease for
// `renewDeadlineMs` (shorter than the TTL, counted from when the last successful
// renewal was *sent*), so it stops acting before etcd can expire the lease and
// let another replica take the key. Followers watch the key and try again as
// soon as it is deleted (resignation, revocation, expiry), and also every
// `retryPeriodMs` (events are hints; the periodic check is the guarantee).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CompareResult, CompareTarget, type Etcd3, type Watcher } from 'etcd3';
import { componentLogger, realClock, rfc3339, type Clock, type Logger } from '../../api/index.js';

export interface LeaderElectorOptions {
  client: Etcd3;
  /** Election name; the key is /flotilla/election/<name>. Default `controller`. */
  name?: string;
  /** This replica's identity, shown as the leader's name. Default `<hostname>-<pid>-<random>`. */
  identity?: string;
  /** etcd lease TTL in seconds; default 15 (as Kubernetes' leader leases: a loaded etcd must not cost the leadership). */
  ttlSeconds?: number;
  /** Step down when no renewal succeeded for this long; default 2/3 of the TTL. */
  renewDeadlineMs?: number;
  /** How often the lease is renewed; default 1/3 of the TTL. */
  renewIntervalMs?: number;
  /** How often a follower re-checks the key without an event; default 1 s. */
  retryPeriodMs?: number;
  clock?: Clock;
  log?: Logger;
}

export interface LeaderRecord {
  identity: string;
  /** RFC3339 time the leader acquired the key. */
  acquiredAt: string;
  /** etcd lease ID (decimal) the key is attached to. */
  leaseId: string;
}

export interface LeaderCallbacks {
  /** Called when this replica becomes leader; `signal` aborts when it stops leading. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called after leadership ended (lost, resigned or run() stopped), once onStartedLeading returned. */
  onStoppedLeading?(): void | Promise<void>;
  /** Called whenever the observed leader changes (undefined = nobody). */
  onNewLeader?(identity: string | undefined): void;
}

export function defaultIdentity(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class LeaderElector {
  readonly identity: string;
  readonly key: string;
  private readonly client: Etcd3;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly ttl: number;
  private readonly renewDeadlineMs: number;
  private readonly renewIntervalMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private observed: string | undefined;
  private running: AbortController | undefined;
  /** Woken by a deletion of the key (with the deletion's revision) or the retry timer. */
  private kick: ((deletedAt?: number) => void) | undefined;
  private callbacks: LeaderCallbacks | undefined;

  constructor(o: LeaderElectorOptions) {
    this.client = o.client;
    this.identity = o.identity ?? defaultIdentity();
    this.key = `/flotilla/election/${o.name ?? 'controller'}`;
    this.clock = o.clock ?? realClock;
    this.log = (o.log ?? componentLogger('election')).child({ election: o.name ?? 'controller', identity: this.identity });
    this.ttl = o.ttlSeconds ?? 15;
    if (!Number.isInteger(this.ttl) || this.ttl < 1) throw new RangeError(`lease TTL must be a whole number of seconds >= 1, got ${this.ttl}`);
    this.renewDeadlineMs = o.renewDeadlineMs ?? Math.floor((this.ttl * 1000 * 2) / 3);
    this.renewIntervalMs = o.renewIntervalMs ?? Math.floor((this.ttl * 1000) / 3);
    this.retryPeriodMs = o.retryPeriodMs ?? 1000;
    if (this.renewDeadlineMs >= this.ttl * 1000) throw new RangeError('renewDeadlineMs must be shorter than the lease TTL');
  }

  /** True while this replica leads. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The leader's identity as last observed (undefined when nobody leads or not yet known). */
  leader(): string | undefined {
    return this.observed;
  }

  /** Reads the current leader from etcd. */
  async getLeader(): Promise<LeaderRecord | undefined> {
    const raw = await this.client.get(this.key).string();
    return raw ? parseRecord(raw) : undefined;
  }

  /**
   * Campaigns until `signal` aborts (or resign() is called): leads when it holds
   * the key, follows otherwise, campaigns again after losing leadership. On the
   * way out a leader releases the key at once so another replica takes over.
   */
  async run(callbacks: LeaderCallbacks, signal?: AbortSignal): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run is already running');
    const ac = new AbortController();
    this.running = ac;
    this.callbacks = callbacks;
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) ac.abort();
    let watcher: Watcher | undefined;
    try {
      watcher = await this.watchKey(ac.signal);
      while (!ac.signal.aborted) {
        try {
          const cur = await this.client.get(this.key).string();
          if (cur === null) {
            const won = await this.tryAcquire();
            if (won) {
              await this.lead(won, ac.signal);
              // A replica that just lost its lease is likely the unhealthy one: give
              // the others a retry period to take over before bidding again.
              await this.clock.sleep(this.retryPeriodMs, ac.signal).catch(() => undefined);
              continue;
            }
          } else {
            this.observe(parseRecord(cur)?.identity);
          }
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, 'election round failed; retrying');
        }
        await this.waitForKick(ac.signal);
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await watcher?.cancel().catch(() => undefined);
      this.running = undefined;
      this.kick = undefined;
    }
  }

  /** Steps down (releasing the key at once) and ends run(). */
  async resign(): Promise<void> {
    this.running?.abort();
  }

  private observe(identity: string | undefined): void {
    if (identity === this.observed) return;
    this.observed = identity;
    this.log.info({ leader: identity ?? null }, identity ? 'new leader' : 'no leader');
    try {
      this.callbacks?.onNewLeader?.(identity);
    } catch (e) {
      this.log.error({ err: e }, 'onNewLeader failed');
    }
  }

  private async watchKey(signal: AbortSignal): Promise<Watcher | undefined> {
    if (signal.aborted) return undefined;
    const w = await this.client.watch().key(this.key).create();
    w.on('put', (kv) => this.observe(parseRecord(kv.value.toString())?.identity));
    w.on('delete', (kv) => {
      this.observe(undefined);
      this.kick?.(Number(kv.mod_revision));
    });
    w.on('error', (e) => this.log.debug({ err: (e as Error).message }, 'election watch error'));
    return w;
  }

  private waitForKick(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(done, this.retryPeriodMs);
      function done() {
        t.cancel();
        signal.removeEventListener('abort', done);
        resolve();
      }
      this.kick = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Grants a lease and puts the key if nobody holds it. Returns the lease ID on success. */
  private async tryAcquire(): Promise<Won | undefined> {
    const grantedAt = this.clock.now();
    const g = await this.client.leaseClient.leaseGrant({ TTL: this.ttl, ID: 0 });
    const leaseId = String(g.ID);
    const record: LeaderRecord = { identity: this.identity, acquiredAt: rfc3339(grantedAt), leaseId };
    const key = Buffer.from(this.key);
    try {
      const r = await this.client.kv.txn({
        compare: [{ key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }],
        success: [{ request_put: { key, value: Buffer.from(JSON.stringify(record)), lease: leaseId } }],
        failure: [],
      });
      if (r.succeeded) return { leaseId, grantedAt, revision: Number(r.header.revision) };
    } catch (e) {
      await this.revoke(leaseId);
      throw e;
    }
    await this.revoke(leaseId);
    return undefined;
  }

  private async revoke(leaseId: string): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: leaseId }, { deadline: Date.now() + 1000 }).catch(() => undefined);
  }

  /** Leads until the lease cannot be renewed, the key vanishes, or run() is stopped. */
  private async lead(won: Won, outer: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const stop = (reason: string) => {
      if (ac.signal.aborted) return;
      this.log.info({ reason }, 'stopping leading');
      ac.abort(new Error(reason));
    };
    const onOuter = () => stop('resigned');
    outer.addEventListener('abort', onOuter, { once: true });
    const prevKick = this.kick;
    // Our key deleted (lease revoked by someone, or removed by hand): leadership is gone now.
    // (A deletion older than our key is the previous leader's, delivered late.)
    this.kick = (deletedAt) => {
      if (deletedAt !== undefined && deletedAt > won.revision) stop('leader key deleted');
    };
    this.leading = true;
    this.observe(this.identity);
    this.log.info({ leaseId: won.leaseId }, 'started leading');
    const work = Promise.resolve()
      .then(() => this.callbacks!.onStartedLeading(ac.signal))
      .catch((e) => this.log.error({ err: e }, 'onStartedLeading failed'));
    try {
      await this.renewUntilLost(won, ac.signal, stop);
    } finally {
      outer.removeEventListener('abort', onOuter);
      this.kick = prevKick;
      this.leading = false;
      await work;
      try {
        await this.callbacks!.onStoppedLeading?.();
      } catch (e) {
        this.log.error({ err: e }, 'onStoppedLeading failed');
      }
      this.log.info('stopped leading');
      // Release at once so another replica need not wait for the TTL (best effort:
      // when etcd is unreachable the lease simply expires).
      await this.revoke(won.leaseId);
    }
  }

  private async renewUntilLost(won: Won, signal: AbortSignal, stop: (r: string) => void): Promise<void> {
    let lastRenewed = won.grantedAt;
    while (!signal.aborted) {
      const remaining = lastRenewed + this.renewDeadlineMs - this.clock.now();
      if (remaining <= 0) return stop('lease not renewed within the renew deadline');
      await this.clock.sleep(Math.min(this.renewIntervalMs, remaining), signal).catch(() => undefined);
      if (signal.aborted) return;
      const sentAt = this.clock.now();
      try {
        const ttl = await this.keepAliveOnce(won.leaseId, Math.max(50, lastRenewed + this.renewDeadlineMs - sentAt));
        if (ttl <= 0) return stop('lease expired or revoked');
        lastRenewed = sentAt;
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'lease renewal failed');
      }
    }
  }

  /** One keep-alive round trip; resolves with the lease's remaining TTL (<= 0: gone). */
  private async keepAliveOnce(leaseId: string, timeoutMs: number): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive();
    return new Promise<number>((resolve, reject) => {
      const t = this.clock.setTimeout(() => {
        finish();
        reject(new Error(`lease keep-alive timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = () => {
        t.cancel();
        try {
          stream.cancel();
        } catch {
          /* closed */
        }
      };
      stream.on('data', (res) => {
        finish();
        resolve(Number(res.TTL));
      });
      stream.on('error', (err) => {
        finish();
        reject(err);
      });
      stream.write({ ID: leaseId });
    });
  }
}

interface Won {
  leaseId: string;
  /** When the lease was requested: renewals count from here. */
  grantedAt: number;
  /** The etcd revision that created our key. */
  revision: number;
}

function parseRecord(raw: string): LeaderRecord | undefined {
  try {
    const r = JSON.parse(raw) as LeaderRecord;
    return typeof r.identity === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}
