// Turns a lease watch — incremental events or, after compaction, a full
// snapshot — into added/removed batches against what the consumer already has,
// so backends never see the difference. Own lease is filtered out.
import { jsonEqual } from '../../api/index.js';
import type { LeaseBatch, LeaseWatchResult, SubnetLease } from './types.js';

/** Same lease for routing: backend data is compared as a whole, without reading it. */
function sameLease(a: SubnetLease, b: SubnetLease): boolean {
  return (
    a.subnet === b.subnet &&
    a.nodeName === b.nodeName &&
    a.publicIP === b.publicIP &&
    a.backend?.type === b.backend?.type &&
    jsonEqual(a.backend?.data, b.backend?.data)
  );
}

export class LeaseTracker {
  private readonly known = new Map<string, SubnetLease>();

  /** @param ownSubnet this node's subnet: never reported (a node does not route to itself). */
  constructor(private readonly ownSubnet?: string) {}

  apply(result: LeaseWatchResult): LeaseBatch {
    const batch: LeaseBatch = { added: [], removed: [] };
    if (result.kind === 'snapshot') {
      const next = new Map(result.leases.filter((l) => l.subnet !== this.ownSubnet).map((l) => [l.subnet, l]));
      for (const [subnet, old] of this.known) {
        const now = next.get(subnet);
        if (!now) {
          batch.removed.push(old);
          this.known.delete(subnet);
        }
      }
      for (const [subnet, lease] of next) {
        const old = this.known.get(subnet);
        if (old && sameLease(old, lease)) {
          this.known.set(subnet, lease);
          continue;
        }
        if (old) batch.removed.push(old);
        batch.added.push(lease);
        this.known.set(subnet, lease);
      }
      return batch;
    }
    for (const ev of result.events) {
      const l = ev.lease;
      if (l.subnet === this.ownSubnet) continue;
      const old = this.known.get(l.subnet);
      if (ev.type === 'added') {
        if (old && sameLease(old, l)) {
          this.known.set(l.subnet, l);
          continue;
        }
        if (old) batch.removed.push(old);
        batch.added.push(l);
        this.known.set(l.subnet, l);
      } else if (old) {
        batch.removed.push(old);
        this.known.delete(l.subnet);
      }
    }
    return batch;
  }

  leases(): SubnetLease[] {
    return [...this.known.values()];
  }
}
