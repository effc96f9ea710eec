// NodePodFeed: one pod watch fanned out to the agents' streams by node, over the
// in-memory Store fake (the etcd Store is covered by the integration suites).
import { afterEach, describe, expect, it } from 'vitest';
import { GoneError, silentLogger, type KubeObject, type Node, type Pod, type WatchEvent } from '../../api/index.js';
import { NodePodFeed, type PodFeedEvent } from '../../controller/agentapi/pod-feed.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { Scheduler } from '../../controller/scheduler/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import type { Store, WatchOptions } from '../../controller/storage/store.js';
import { makeNode, makePod } from './scheduler-fixtures.js';

const pod = (name: string, nodeName?: string): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}) },
});

const names = (evs: PodFeedEvent[]) => evs.map((e) => (e.type === 'SYNC' ? 'SYNC' : `${e.type} ${e.pod.metadata.name}`));

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let feed: NodePodFeed | undefined;
afterEach(() => feed?.stop());

describe('[controller] the agents\' shared pod feed', () => {
  it('sends a node its pods as a snapshot, then only the changes of pods bound to it', async () => {
    const store = new MemoryStore();
    await store.create('pods', pod('a1', 'a'));
    await store.create('pods', pod('b1', 'b'));
    await store.create('pods', pod('pending'));
    feed = new NodePodFeed(store, silentLogger());
    const got: PodFeedEvent[] = [];
    await feed.subscribe('a', (e) => got.push(e), () => undefined);
    expect(names(got)).toEqual(['ADDED a1', 'SYNC']);

    await store.create('pods', pod('b2', 'b'));
    const bound = await store.guaranteedUpdate<Pod>({ resource: 'pods', namespace: 'default', name: 'pending' }, (p) => ({ ...p, spec: { ...p.spec, nodeName: 'a' } }));
    await store.delete({ resource: 'pods', namespace: 'default', name: 'a1' });
    await until('three events', () => got.length >= 4);
    expect(names(got)).toEqual(['ADDED a1', 'SYNC', 'MODIFIED pending', 'DELETED a1']);
    expect((got[2] as { pod: Pod }).pod.metadata.resourceVersion).toBe(bound.metadata.resourceVersion);
  });

  it('a later subscriber starts from the current state; a closed subscription gets nothing more', async () => {
    const store = new MemoryStore();
    feed = new NodePodFeed(store, silentLogger());
    const first: PodFeedEvent[] = [];
    const sub = await feed.subscribe('a', (e) => first.push(e), () => undefined);
    await store.create('pods', pod('x', 'a'));
    await until('x to reach the first subscriber', () => first.length === 2);
    sub.close();
    await store.create('pods', pod('y', 'a'));
    const second: PodFeedEvent[] = [];
    await new Promise((r) => setTimeout(r, 20)); // y reaches the feed's index
    await feed.subscribe('a', (e) => second.push(e), () => undefined);
    expect(names(second)).toEqual(['ADDED x', 'ADDED y', 'SYNC']);
    expect(names(first)).toEqual(['SYNC', 'ADDED x']);
    expect(feed.subscriberCount).toBe(1);
  });

  it('does not echo to a node the status write it made and got back; every other change still reaches it', async () => {
    const store = new MemoryStore();
    await store.create('pods', pod('w', 'a'));
    feed = new NodePodFeed(store, silentLogger());
    const got: PodFeedEvent[] = [];
    await feed.subscribe('a', (e) => got.push(e), () => undefined);
    const key = { resource: 'pods', namespace: 'default', name: 'w' };
    // The node's own status write, as UpdatePodStatus makes it: the reply is `mine`.
    const mine = await store.guaranteedUpdate<Pod>(key, (p) => ({ ...p, status: { phase: 'Running' } }));
    feed.expectEcho('a', mine);
    // Someone else's change afterwards (the node lifecycle controller, say) is sent.
    const lost = await store.guaranteedUpdate<Pod>(key, (p) => ({ ...p, status: { phase: 'Failed', reason: 'NodeLost' } }));
    await until('the second change', () => got.length >= 3);
    await new Promise((r) => setTimeout(r, 20));
    expect(names(got)).toEqual(['ADDED w', 'SYNC', 'MODIFIED w']);
    expect((got[2] as { pod: Pod }).pod.metadata.resourceVersion).toBe(lost.metadata.resourceVersion);
    // An expectation whose event already went by is dropped by the next event, which is sent.
    feed.expectEcho('a', mine);
    await store.guaranteedUpdate<Pod>(key, (p) => ({ ...p, metadata: { ...p.metadata, labels: { x: 'y' } } }));
    await until('the label change', () => got.length >= 4);
    expect(names(got).at(-1)).toBe('MODIFIED w');
  });

  it('stop ends every subscription', async () => {
    const store = new MemoryStore();
    feed = new NodePodFeed(store, silentLogger());
    let ended = 0;
    await feed.subscribe('a', () => undefined, () => ended++);
    await feed.subscribe('b', () => undefined, () => ended++);
    feed.stop();
    expect(ended).toBe(2);
    expect(feed.subscriberCount).toBe(0);
  });
});

describe('[controller] the pod feed on the shared pods informer', () => {
  /** Counts lists and watches per resource; the first pods watch can be made to stall and then fail with 410. */
  function countingStore(inner: MemoryStore) {
    const counts = { lists: new Map<string, number>(), watches: new Map<string, number>() };
    let releaseGone: (() => void) | undefined;
    let goneNext = false;
    const bump = (m: Map<string, number>, r: string) => m.set(r, (m.get(r) ?? 0) + 1);
    const store: Store = {
      create: (r, o) => inner.create(r, o),
      get: (k) => inner.get(k),
      list: (r, o) => (bump(counts.lists, r), inner.list(r, o)),
      update: (r, o) => inner.update(r, o),
      guaranteedUpdate: (k, m, o) => inner.guaranteedUpdate(k, m, o),
      delete: (k, o) => inner.delete(k, o),
      currentRevision: () => inner.currentRevision(),
      close: () => inner.close(),
      watch<T extends KubeObject>(resource: string, opts?: WatchOptions<T>): AsyncIterable<WatchEvent<T>> {
        bump(counts.watches, resource);
        if (resource === 'pods' && goneNext) {
          goneNext = false;
          const released = new Promise<void>((r) => (releaseGone = r));
          return (async function* () {
            await released;
            throw new GoneError('too old resource version');
          })();
        }
        return inner.watch<T>(resource, opts);
      },
    };
    return { store, counts, stallPodsWatchThenGone: () => (goneNext = true), gone: () => releaseGone?.() };
  }

  it('ends every agent\'s stream when the pods are listed again after a compaction; a new subscription starts from a fresh snapshot', async () => {
    const mem = new MemoryStore();
    await mem.create('pods', pod('a1', 'a'));
    const s = countingStore(mem);
    s.stallPodsWatchThenGone();
    feed = new NodePodFeed(new InformerFactory({ store: s.store, log: silentLogger() }), silentLogger());
    let ended = 0;
    await feed.subscribe('a', () => undefined, () => ended++);
    await mem.create('pods', pod('a2', 'a')); // missed by the stalled watch
    s.gone();
    await until('the stream to end', () => ended === 1);
    expect(feed.subscriberCount).toBe(0);
    const again: PodFeedEvent[] = [];
    await feed.subscribe('a', (e) => again.push(e), () => undefined);
    expect(names(again)).toEqual(['ADDED a1', 'ADDED a2', 'SYNC']);
    expect(s.counts.lists.get('pods')).toBe(2);
  });

  it('shares one pods informer with the scheduler: pods are listed and watched once, and a binding reaches the node\'s stream', async () => {
    const mem = new MemoryStore();
    await mem.create<Node>('nodes', makeNode('a'));
    const s = countingStore(mem);
    const informers = new InformerFactory({ store: s.store, log: silentLogger() });
    feed = new NodePodFeed(informers, silentLogger());
    const got: PodFeedEvent[] = [];
    await feed.subscribe('a', (e) => got.push(e), () => undefined);
    const scheduler = new Scheduler({ store: s.store, informers, log: silentLogger() });
    const ac = new AbortController();
    const done = scheduler.run(ac.signal);
    try {
      await mem.create<Pod>('pods', makePod('web'));
      await until('the bound pod on a\'s stream', () => got.some((e) => e.type !== 'SYNC' && e.pod.metadata.name === 'web' && e.pod.spec.nodeName === 'a'));
      expect(s.counts.lists.get('pods')).toBe(1);
      expect(s.counts.watches.get('pods')).toBe(1);
      expect(feed.cached('a', 'default', 'web')?.spec.nodeName).toBe('a');
    } finally {
      ac.abort();
      await done;
    }
  });
});
