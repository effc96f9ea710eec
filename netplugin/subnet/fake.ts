// An in-memory SubnetManager for unit tests of lease consumers. The real one
// talks to the controller; this one shares its allocation logic.
import { NotFoundError, realClock, type Clock } from '../../api/index.js';
import { pickFreeSubnet } from './allocator.js';
import type { LeaseAttrs, LeaseWatchResult, NetworkConfig, SubnetLease, SubnetManager } from './types.js';

export class FakeSubnetManager implements SubnetManager {
  private readonly leases = new Map<string, SubnetLease>();
  private readonly waiters = new Set<(r: LeaseWatchResult) => void>();

  constructor(
    private readonly config: NetworkConfig,
    private readonly ttlMs = 24 * 3600_000,
    private readonly clock: Clock = realClock,
  ) {}

  async getNetworkConfig(): Promise<NetworkConfig> {
    return this.config;
  }

  async acquireLease(nodeName: string, attrs: LeaseAttrs): Promise<SubnetLease> {
    const existing = [...this.leases.values()].find((l) => l.nodeName === nodeName);
    const subnet = existing?.subnet ?? pickFreeSubnet(this.config, this.leases.keys());
    const lease: SubnetLease = { subnet, nodeName, ...attrs, expiration: this.clock.now() + this.ttlMs };
    this.leases.set(subnet, lease);
    this.emit({ kind: 'events', events: [{ type: 'added', lease }] });
    return lease;
  }

  async renewLease(lease: SubnetLease): Promise<SubnetLease> {
    const cur = this.leases.get(lease.subnet);
    if (!cur || cur.nodeName !== lease.nodeName) throw new NotFoundError(`subnet lease ${lease.subnet} of node ${lease.nodeName} not found`);
    const next = { ...cur, expiration: this.clock.now() + this.ttlMs };
    this.leases.set(lease.subnet, next);
    return next;
  }

  async releaseLease(nodeName: string): Promise<void> {
    for (const l of this.leases.values()) {
      if (l.nodeName === nodeName) {
        this.leases.delete(l.subnet);
        this.emit({ kind: 'events', events: [{ type: 'removed', lease: l }] });
      }
    }
  }

  /** Test hook: deliver a snapshot as a watcher would after compaction. */
  sendSnapshot(): void {
    this.emit({ kind: 'snapshot', leases: [...this.leases.values()] });
  }

  private emit(r: LeaseWatchResult): void {
    for (const w of this.waiters) w(r);
  }

  async *watchLeases(signal: AbortSignal): AsyncIterable<LeaseWatchResult> {
    const queue: LeaseWatchResult[] = [{ kind: 'snapshot', leases: [...this.leases.values()] }];
    let wake: (() => void) | undefined;
    const push = (r: LeaseWatchResult) => {
      queue.push(r);
      wake?.();
    };
    this.waiters.add(push);
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.waiters.delete(push);
      signal.removeEventListener('abort', onAbort);
    }
  }
}
