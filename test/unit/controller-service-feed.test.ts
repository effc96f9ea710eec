// NodeServiceFeed: one Services + EndpointSlices watch fanned out to every
// agent's stream, over the in-memory Store (the gRPC path and etcd are in the
// integration suite).
import { afterEach, describe, expect, it } from 'vitest';
import { GoneError, silentLogger, type EndpointSlice, type KubeObject, type Service, type WatchEvent } from '../../api/index.js';
import { NodeServiceFeed, type ServiceFeedEvent } from '../../controller/agentapi/service-feed.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import type { Store, WatchOptions } from '../../controller/storage/store.js';

const svc = (name: string, ns = 'default'): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { clusterIP: '10.96.0.5', ports: [{ port: 80 }] } });
const slice = (name: string, service: string): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.244.1.2'] }],
});

const names = (evs: ServiceFeedEvent[]) => evs.map((e) => (e.type === 'SYNC' ? 'SYNC' : `${e.type} ${e.resource} ${e.object.metadata.namespace}/${e.object.metadata.name}`));

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let feed: NodeServiceFeed | undefined;
afterEach(() => feed?.stop());

describe('[controller] the agents\' shared Service feed', () => {
  it('sends every agent all Services and EndpointSlices of all namespaces as a snapshot, then every change', async () => {
    const store = new MemoryStore();
    await store.create('services', svc('web'));
    await store.create('services', svc('dns', 'kube-system'));
    await store.create('endpointslices', slice('web-abc', 'web'));
    feed = new NodeServiceFeed(store, silentLogger());
    const a: ServiceFeedEvent[] = [];
    const b: ServiceFeedEvent[] = [];
    await feed.subscribe((e) => a.push(e), () => undefined);
    await feed.subscribe((e) => b.push(e), () => undefined);
    expect(names(a).sort()).toEqual(['ADDED endpointslices default/web-abc', 'ADDED services default/web', 'ADDED services kube-system/dns', 'SYNC']);
    expect(names(a).at(-1)).toBe('SYNC');
    const sync = a.at(-1) as { resourceVersion: string };
    expect(BigInt(sync.resourceVersion)).toBeGreaterThan(0n);

    await store.create('services', svc('api', 'other'));
    await store.guaranteedUpdate<EndpointSlice>({ resource: 'endpointslices', namespace: 'default', name: 'web-abc' }, (s) => ({ ...s, endpoints: [] }));
    await store.delete({ resource: 'services', namespace: 'kube-system', name: 'dns' });
    await until('three changes on both streams', () => a.length >= 7 && b.length >= 7);
    for (const got of [a, b]) expect(names(got).slice(4)).toEqual(['ADDED services other/api', 'MODIFIED endpointslices default/web-abc', 'DELETED services kube-system/dns']);
    expect(feed.subscriberCount).toBe(2);
  });

  it('a relist (compaction) ends every stream; the next subscription is a fresh snapshot holding what the stalled watch missed', async () => {
    const mem = new MemoryStore();
    await mem.create('services', svc('web'));
    let goneNext = true;
    let releaseGone: (() => void) | undefined;
    const store: Store = {
      create: (r, o) => mem.create(r, o),
      get: (k) => mem.get(k),
      list: (r, o) => mem.list(r, o),
      update: (r, o) => mem.update(r, o),
      guaranteedUpdate: (k, m, o) => mem.guaranteedUpdate(k, m, o),
      delete: (k, o) => mem.delete(k, o),
      currentRevision: () => mem.currentRevision(),
      close: () => mem.close(),
      watch<T extends KubeObject>(resource: string, opts?: WatchOptions<T>): AsyncIterable<WatchEvent<T>> {
        if (resource === 'services' && goneNext) {
          goneNext = false;
          const released = new Promise<void>((r) => (releaseGone = r));
          return (async function* () {
            await released;
            throw new GoneError('too old resource version');
          })();
        }
        return mem.watch<T>(resource, opts);
      },
    };
    feed = new NodeServiceFeed(new InformerFactory({ store, log: silentLogger() }), silentLogger());
    let ended = 0;
    await feed.subscribe(() => undefined, () => ended++);
    await mem.create('services', svc('missed'));
    releaseGone?.();
    await until('the stream to end', () => ended === 1);
    expect(feed.subscriberCount).toBe(0);
    const again: ServiceFeedEvent[] = [];
    await feed.subscribe((e) => again.push(e), () => undefined);
    expect(names(again).sort()).toEqual(['ADDED services default/missed', 'ADDED services default/web', 'SYNC']);
    expect(names(again).at(-1)).toBe('SYNC');
  });
});
