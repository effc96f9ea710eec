// The subnet registry's lease watch (every agent's WatchSubnetLeases) over the
// in-memory Store, and leases whose backend data is opaque.
import { afterEach, describe, expect, it } from 'vitest';
import { GoneError, silentLogger, type KubeObject, type WatchEvent } from '../../api/index.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { SubnetRegistry } from '../../controller/network/subnet-registry.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import type { Store, WatchOptions } from '../../controller/storage/store.js';
import { LeaseTracker, leaseEntries, normalizeLeaseBackend, vxlanBackend, type LeaseWatchResult, type SubnetLease } from '../../netplugin/index.js';

const stored = (subnet: string, node: string, mac: string, legacy = false): KubeObject =>
  ({
    apiVersion: 'flotilla.io/v1',
    kind: 'SubnetLease',
    metadata: { name: subnet.replace('/', '-'), namespace: 'subnets' },
    lease: legacy
      ? { subnet, nodeName: node, publicIP: '10.200.0.11', backendType: 'vxlan', backendData: { vtepMAC: mac } }
      : { subnet, nodeName: node, publicIP: '10.200.0.11', backend: { type: 'vxlan', data: { vtepMAC: mac } } },
    ttlSeconds: 3600,
    renewedAt: new Date(0).toISOString(),
  }) as KubeObject;

/** Reads a lease stream into `out` until aborted. */
function collect(it: AsyncIterable<LeaseWatchResult>, out: LeaseWatchResult[]): Promise<void> {
  return (async () => {
    for await (const r of it) out.push(r);
  })();
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const brief = (r: LeaseWatchResult) =>
  r.kind === 'snapshot' ? `snapshot ${r.leases.map((l) => l.nodeName).sort().join(',')}` : r.events.map((e) => `${e.type} ${e.lease.nodeName}`).join(',');

const stops: AbortController[] = [];
afterEach(() => {
  for (const a of stops.splice(0)) a.abort();
});

describe('[network] the subnet registry\'s lease watch', () => {
  it('gives every agent a snapshot, then the changes, from one shared list and watch; the network config is not a lease', async () => {
    const mem = new MemoryStore();
    let lists = 0;
    const store: Store = { ...mem, list: (r, o) => (lists++, mem.list(r, o)), watch: (r, o) => mem.watch(r, o), get: (k) => mem.get(k), create: (r, o) => mem.create(r, o), update: (r, o) => mem.update(r, o), guaranteedUpdate: (k, m, o) => mem.guaranteedUpdate(k, m, o), delete: (k, o) => mem.delete(k, o), currentRevision: () => mem.currentRevision(), close: () => mem.close() };
    await mem.create('network', stored('10.244.1.0/24', 'a', '02:00:00:00:00:01'));
    await mem.create('network', { apiVersion: 'flotilla.io/v1', kind: 'NetworkConfig', metadata: { name: 'config' } });
    const registry = new SubnetRegistry({ store, etcd: undefined as never, log: silentLogger(), informers: new InformerFactory({ store, log: silentLogger() }) });
    const one: LeaseWatchResult[] = [];
    const two: LeaseWatchResult[] = [];
    const a = new AbortController();
    const b = new AbortController();
    stops.push(a, b);
    const d1 = collect(registry.watch(a.signal), one);
    const d2 = collect(registry.watch(b.signal), two);
    await until('both snapshots', () => one.length === 1 && two.length === 1);
    await mem.create('network', stored('10.244.2.0/24', 'b', '02:00:00:00:00:02'));
    await mem.delete({ resource: 'network', namespace: 'subnets', name: '10.244.1.0-24' });
    await until('two changes each', () => one.length === 3 && two.length === 3);
    expect(one.map(brief)).toEqual(['snapshot a', 'added b', 'removed a']);
    expect(two.map(brief)).toEqual(one.map(brief));
    expect(lists).toBe(1);
    a.abort();
    b.abort();
    await Promise.all([d1, d2]);
  });

  it('sends a snapshot again after the watch history was compacted', async () => {
    const mem = new MemoryStore();
    await mem.create('network', stored('10.244.1.0/24', 'a', '02:00:00:00:00:01'));
    let releaseGone!: () => void;
    let first = true;
    const store: Store = {
      ...mem,
      list: (r, o) => mem.list(r, o),
      get: (k) => mem.get(k),
      create: (r, o) => mem.create(r, o),
      update: (r, o) => mem.update(r, o),
      guaranteedUpdate: (k, m, o) => mem.guaranteedUpdate(k, m, o),
      delete: (k, o) => mem.delete(k, o),
      currentRevision: () => mem.currentRevision(),
      close: () => mem.close(),
      watch<T extends KubeObject>(r: string, o?: WatchOptions<T>): AsyncIterable<WatchEvent<T>> {
        if (!first) return mem.watch<T>(r, o);
        first = false;
        const gone = new Promise<void>((res) => (releaseGone = res));
        return (async function* () {
          await gone;
          throw new GoneError('too old resource version');
        })();
      },
    };
    const registry = new SubnetRegistry({ store, etcd: undefined as never, log: silentLogger() });
    const got: LeaseWatchResult[] = [];
    const ac = new AbortController();
    stops.push(ac);
    const done = collect(registry.watch(ac.signal), got);
    await until('the snapshot', () => got.length === 1);
    await mem.create('network', stored('10.244.2.0/24', 'b', '02:00:00:00:00:02')); // missed by the failing watch
    releaseGone();
    await until('a second snapshot', () => got.some((r, i) => i > 0 && r.kind === 'snapshot'));
    expect(brief(got.at(-1)!)).toBe('snapshot a,b');
    ac.abort();
    await done;
  });
});

describe('[netplugin] opaque backend data in leases', () => {
  const now: SubnetLease = { subnet: '10.244.1.0/24', nodeName: 'a', publicIP: '10.200.0.11', backend: vxlanBackend('02:00:00:00:00:01'), expiration: 0 };

  it('reads a lease stored before backend data was opaque (backendType, backendData) as the same lease', async () => {
    const old = { subnet: '10.244.1.0/24', nodeName: 'a', publicIP: '10.200.0.11', backendType: 'vxlan', backendData: { vtepMAC: '02:00:00:00:00:01' }, expiration: 0 };
    expect(normalizeLeaseBackend(old)).toEqual(now);
    // through the registry: an old etcd value reaches the agents in the current shape
    const mem = new MemoryStore();
    await mem.create('network', stored('10.244.1.0/24', 'a', '02:00:00:00:00:01', true));
    const registry = new SubnetRegistry({ store: mem, etcd: undefined as never, log: silentLogger() });
    const got: LeaseWatchResult[] = [];
    const ac = new AbortController();
    stops.push(ac);
    const done = collect(registry.watch(ac.signal), got);
    await until('the snapshot', () => got.length === 1);
    const snap = got[0] as Extract<LeaseWatchResult, { kind: 'snapshot' }>;
    expect(snap.leases[0]).toMatchObject({ subnet: '10.244.1.0/24', backend: { type: 'vxlan', data: { vtepMAC: '02:00:00:00:00:01' } } });
    expect(snap.leases[0]).not.toHaveProperty('backendType');
    ac.abort();
    await done;
  });

  it('compares backend data as a whole without reading it: a changed blob is a changed lease, an equal one is not', () => {
    const t = new LeaseTracker();
    t.apply({ kind: 'snapshot', leases: [now] });
    expect(t.apply({ kind: 'events', events: [{ type: 'added', lease: { ...now, backend: vxlanBackend('02:00:00:00:00:01') } }] })).toEqual({ added: [], removed: [] });
    const other = { ...now, backend: { type: 'vxlan', data: { vtepMAC: '02:00:00:00:00:01', extra: 1 } } };
    expect(t.apply({ kind: 'events', events: [{ type: 'added', lease: other }] })).toEqual({ added: [other], removed: [now] });
  });

  it('only the VXLAN backend reads the data: another backend\'s lease is not routed by it', () => {
    expect(leaseEntries({ ...now, backend: { type: 'host-gw', data: 'anything' } })).toEqual({ invalid: 'backend type "host-gw" is not vxlan' });
    expect(leaseEntries(now)).toMatchObject({ neigh: { mac: '02:00:00:00:00:01' } });
  });
});
