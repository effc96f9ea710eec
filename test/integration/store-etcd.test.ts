// The etcd Store against a real etcd (the controller's managed member).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Etcd3 } from 'etcd3';
import { FakeClock, silentLogger, type KubeObject, type WatchEvent } from '../../api/index.js';
import { EtcdStore } from '../../controller/index.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { take } from '../helpers/watch.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

interface Pod extends KubeObject {
  spec: { nodeName?: string; image: string };
}

const pod = (name: string, ns: string, extra: Partial<Pod['spec']> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: name } },
  spec: { image: 'busybox', ...extra },
});

let etcd: TestEtcd;
let store: EtcdStore;
let raw: Etcd3;
const clock = new FakeClock(Date.UTC(2026, 10, 23, 2, 0, 0));

/** Collects up to `n` events of a watch, or what arrived within `ms`, then ends the watch. */
async function collect<T extends KubeObject>(it: AsyncIterable<WatchEvent<T>>, n: number, ms = 5000): Promise<WatchEvent<T>[]> {
  const iter = it[Symbol.asyncIterator]();
  try {
    return await take(iter, n, ms);
  } finally {
    await iter.return?.();
  }
}

const ns = () => `ns-${randomBytes(4).toString('hex')}`;

describe('etcd store', () => {
  beforeAll(async () => {
    requireRoot('store-etcd');
    requireBinaries('store-etcd', 'etcd');
    etcd = await startEtcd();
    store = new EtcdStore({ endpoints: etcd.endpoints, clock, log: silentLogger() });
    raw = new Etcd3({ hosts: etcd.endpoints });
  });

  afterAll(async () => {
    await store?.close();
    raw?.close();
    await etcd?.stop();
  });

  it('create stores the object under /flotilla/<resource>/<ns>/<name> with uid, creationTimestamp and resourceVersion', async () => {
    const n = ns();
    const created = await store.create('pods', pod('web', n));
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.creationTimestamp).toBe('2026-11-23T02:00:00Z');
    const stored = await raw.get(`/flotilla/pods/${n}/web`).string();
    expect(stored).toBeTruthy();
    const value = JSON.parse(stored!) as Pod;
    expect(value.metadata.uid).toBe(created.metadata.uid);
    // the value never carries resourceVersion: it is the key's mod revision
    expect(value.metadata.resourceVersion).toBeUndefined();
    const kv = (await raw.get(`/flotilla/pods/${n}/web`).exec()).kvs[0]!;
    expect(created.metadata.resourceVersion).toBe(kv.mod_revision);
    const got = await store.get<Pod>({ resource: 'pods', namespace: n, name: 'web' });
    expect(got).toEqual(created);
  });

  it('cluster-scoped objects live under /flotilla/<resource>/<name>', async () => {
    const name = `node-${randomBytes(3).toString('hex')}`;
    await store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name } });
    expect(await raw.get(`/flotilla/nodes/${name}`).string()).toContain(name);
  });

  it('create fails when the object exists, and writes nothing', async () => {
    const n = ns();
    const first = await store.create('pods', pod('web', n));
    const rev = await store.currentRevision();
    await expect(store.create('pods', pod('web', n, { image: 'other' }))).rejects.toMatchObject({
      code: 'AlreadyExists',
      message: 'pods "web" already exists',
    });
    expect(await store.currentRevision()).toBe(rev);
    expect((await store.get<Pod>({ resource: 'pods', namespace: n, name: 'web' })).spec.image).toBe(first.spec.image);
  });

  it('get of a missing object is NotFound', async () => {
    await expect(store.get({ resource: 'pods', namespace: ns(), name: 'nope' })).rejects.toMatchObject({
      code: 'NotFound',
      message: 'pods "nope" not found',
    });
  });

  it('update with the current resourceVersion succeeds and keeps uid and creationTimestamp', async () => {
    const n = ns();
    const created = await store.create('pods', pod('web', n));
    const updated = await store.update('pods', {
      ...created,
      metadata: { ...created.metadata, uid: 'forged', creationTimestamp: '1999-01-01T00:00:00Z' },
      spec: { ...created.spec, image: 'nginx' },
    });
    expect(updated.spec.image).toBe('nginx');
    expect(updated.metadata.uid).toBe(created.metadata.uid);
    expect(updated.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
    expect(Number(updated.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
  });

  it('update with a stale resourceVersion is 409 Conflict and writes nothing', async () => {
    const n = ns();
    const created = await store.create('pods', pod('web', n));
    await store.update('pods', { ...created, spec: { ...created.spec, image: 'v2' } });
    const rev = await store.currentRevision();
    const err = await store.update('pods', { ...created, spec: { ...created.spec, image: 'v3' } }).catch((e) => e);
    expect(err).toMatchObject({
      code: 'Conflict',
      message:
        'Operation cannot be fulfilled on pods "web": the object has been modified; please apply your changes to the latest version and try again',
    });
    expect(await store.currentRevision()).toBe(rev);
    expect((await store.get<Pod>({ resource: 'pods', namespace: n, name: 'web' })).spec.image).toBe('v2');
  });

  it('update of a missing object is NotFound and creates nothing', async () => {
    const n = ns();
    await expect(store.update('pods', { ...pod('ghost', n), metadata: { ...pod('ghost', n).metadata, resourceVersion: '5' } })).rejects.toMatchObject({ code: 'NotFound' });
    await expect(store.update('pods', pod('ghost', n))).rejects.toMatchObject({ code: 'NotFound' });
    expect(await raw.get(`/flotilla/pods/${n}/ghost`).string()).toBeNull();
  });

  it('delete with a stale resourceVersion is 409 Conflict and the object stays', async () => {
    const n = ns();
    const created = await store.create('pods', pod('web', n));
    await store.update('pods', { ...created, spec: { ...created.spec, image: 'v2' } });
    await expect(
      store.delete({ resource: 'pods', namespace: n, name: 'web' }, { resourceVersion: created.metadata.resourceVersion }),
    ).rejects.toMatchObject({ code: 'Conflict' });
    expect(await raw.get(`/flotilla/pods/${n}/web`).string()).not.toBeNull();
  });

  it('delete returns the last stored object and removes the key; a second delete is NotFound', async () => {
    const n = ns();
    const created = await store.create('pods', pod('web', n));
    const gone = await store.delete<Pod>({ resource: 'pods', namespace: n, name: 'web' }, { resourceVersion: created.metadata.resourceVersion });
    expect(gone).toEqual(created);
    expect(await raw.get(`/flotilla/pods/${n}/web`).string()).toBeNull();
    await expect(store.delete({ resource: 'pods', namespace: n, name: 'web' })).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('list reads one namespace or all of them at one revision, with filters', async () => {
    const a = ns();
    const b = ns();
    await store.create('pods', pod('x', a));
    await store.create('pods', pod('y', a, { nodeName: 'n1' }));
    await store.create('pods', pod('z', b, { nodeName: 'n1' }));
    const inA = await store.list<Pod>('pods', { namespace: a });
    expect(inA.items.map((p) => p.metadata.name)).toEqual(['x', 'y']);
    expect(inA.resourceVersion).toBe(await store.currentRevision());
    const all = await store.list<Pod>('pods', { filter: (p) => p.spec.nodeName === 'n1' && [a, b].includes(p.metadata.namespace!) });
    expect(all.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort()).toEqual([`${a}/y`, `${b}/z`].sort());
    for (const p of inA.items) expect(Number(p.metadata.resourceVersion)).toBeLessThanOrEqual(Number(inA.resourceVersion));
  });

  it('a list of one resource never includes another whose name shares its prefix', async () => {
    const n = ns();
    await store.create('podtemplates', { apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 't', namespace: n } });
    const pods = await store.list('pods', { namespace: n });
    expect(pods.items).toEqual([]);
  });

  it('guaranteedUpdate retries on conflict with the latest object', async () => {
    const n = ns();
    await store.create('pods', { ...pod('counter', n), spec: { image: '0' } });
    const key = { resource: 'pods', namespace: n, name: 'counter' };
    // 10 concurrent increments through guaranteedUpdate: none may be lost.
    await Promise.all(
      Array.from({ length: 10 }, () =>
        store.guaranteedUpdate<Pod>(key, (cur) => ({ ...cur, spec: { image: String(Number(cur.spec.image) + 1) } })),
      ),
    );
    expect((await store.get<Pod>(key)).spec.image).toBe('10');
  });

  it('an update at a revision the store has seen is one compare-and-swap (no read); another writer in between makes it 409', async () => {
    const n = ns();
    const created = await store.create('pods', pod('cas', n));
    const range = vi.spyOn(store.client.kv, 'range');
    const txn = vi.spyOn(store.client.kv, 'txn');
    try {
      const v2 = await store.update('pods', { ...created, spec: { ...created.spec, image: 'v2' } });
      expect(range).not.toHaveBeenCalled();
      expect(txn).toHaveBeenCalledTimes(1);
      expect(v2.metadata.uid).toBe(created.metadata.uid);
      // Someone else writes the key (not through this store): the next CAS on v2 must fail.
      const stored = JSON.parse((await raw.get(`/flotilla/pods/${n}/cas`).string())!) as Pod;
      await raw.put(`/flotilla/pods/${n}/cas`).value(JSON.stringify({ ...stored, spec: { image: 'elsewhere' } }));
      await expect(store.update('pods', { ...v2, spec: { ...v2.spec, image: 'v3' } })).rejects.toMatchObject({ code: 'Conflict' });
      // Deleted behind the store's back: NotFound, and nothing is re-created.
      await raw.delete().key(`/flotilla/pods/${n}/cas`);
      await expect(store.update('pods', { ...v2, spec: { ...v2.spec, image: 'v4' } })).rejects.toMatchObject({ code: 'NotFound' });
    } finally {
      range.mockRestore();
      txn.mockRestore();
    }
    expect(await raw.get(`/flotilla/pods/${n}/cas`).string()).toBeNull();
  });

  it('guaranteedUpdate from a current cached copy writes without reading; from a stale copy it re-reads and mutates the latest', async () => {
    const n = ns();
    const key = { resource: 'pods', namespace: n, name: 'cached' };
    const created = await store.create('pods', { ...pod('cached', n), spec: { image: '1' } });
    const range = vi.spyOn(store.client.kv, 'range');
    const seen: string[] = [];
    const bump = (cur: Pod) => {
      seen.push(cur.spec.image);
      return { ...cur, spec: { image: String(Number(cur.spec.image) + 1) } };
    };
    try {
      const two = await store.guaranteedUpdate<Pod>(key, bump, { cached: created });
      expect(range).not.toHaveBeenCalled();
      expect(two.spec.image).toBe('2');
      expect(two.metadata.uid).toBe(created.metadata.uid);
      // Another writer moves the pod to 10: the copy `two` is stale, its CAS fails, the latest is read.
      await raw.put(`/flotilla/pods/${n}/cached`).value(JSON.stringify({ ...two, metadata: { ...two.metadata, resourceVersion: undefined }, spec: { image: '10' } }));
      const eleven = await store.guaranteedUpdate<Pod>(key, bump, { cached: two });
      expect(eleven.spec.image).toBe('11');
      expect(seen).toEqual(['1', '2', '10']);
      expect(range).toHaveBeenCalled();
    } finally {
      range.mockRestore();
    }
    // A copy at a revision this store never saw (made up by the caller) is not trusted: it reads first.
    const forged = { ...created, metadata: { ...created.metadata, uid: 'forged' }, spec: { image: '100' } };
    const twelve = await store.guaranteedUpdate<Pod>(key, bump, { cached: { ...forged, metadata: { ...forged.metadata, resourceVersion: '1' } } });
    expect(twelve.spec.image).toBe('12');
    expect(twelve.metadata.uid).toBe(created.metadata.uid);
  });

  it('guaranteedUpdate that changes nothing writes nothing', async () => {
    const n = ns();
    const created = await store.create('pods', pod('same', n));
    const out = await store.guaranteedUpdate<Pod>({ resource: 'pods', namespace: n, name: 'same' }, (cur) => cur);
    expect(out.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
  });

  it('watch resumes from a resourceVersion and delivers ADDED, MODIFIED, DELETED in order', async () => {
    const n = ns();
    const start = await store.currentRevision();
    const a = await store.create('pods', pod('a', n));
    const a2 = await store.update('pods', { ...a, spec: { image: 'v2' } });
    await store.delete({ resource: 'pods', namespace: n, name: 'a' });
    const b = await store.create('pods', pod('b', n));
    const events = await collect(store.watch<Pod>('pods', { namespace: n, resourceVersion: start }), 4);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED a', 'MODIFIED a', 'DELETED a', 'ADDED b']);
    expect(events[0]!.object).toEqual(a);
    expect(events[1]!.object).toEqual(a2);
    // DELETED carries the last stored object, with the deletion's revision as resourceVersion
    expect(events[2]!.object.spec.image).toBe('v2');
    expect(Number(events[2]!.object.metadata.resourceVersion)).toBe(Number(a2.metadata.resourceVersion) + 1);
    expect(events[3]!.object).toEqual(b);
    // resuming after the second event starts at the third
    const resumed = await collect(store.watch<Pod>('pods', { namespace: n, resourceVersion: a2.metadata.resourceVersion }), 2);
    expect(resumed.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['DELETED a', 'ADDED b']);
  });

  it('watch from now sees only later changes, and only in its namespace', async () => {
    const n = ns();
    const other = ns();
    await store.create('pods', pod('before', n));
    const ac = new AbortController();
    const it = store.watch<Pod>('pods', { namespace: n, signal: ac.signal });
    const got = collect(it, 1);
    await new Promise((r) => setTimeout(r, 200)); // let the watch attach
    await store.create('pods', pod('elsewhere', other));
    await store.create('pods', pod('after', n));
    const events = await got;
    ac.abort();
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED after']);
  });

  it('a filtered watch reports objects entering the filter as ADDED and leaving it as DELETED', async () => {
    const n = ns();
    const start = await store.currentRevision();
    const p = await store.create('pods', pod('p', n));
    const bound = await store.update('pods', { ...p, spec: { ...p.spec, nodeName: 'n1' } });
    await store.update('pods', { ...bound, spec: { ...bound.spec, nodeName: 'n2' } });
    const events = await collect(
      store.watch<Pod>('pods', { namespace: n, resourceVersion: start, filter: (o) => o.spec.nodeName === 'n1' }),
      2,
    );
    expect(events.map((e) => `${e.type} ${e.object.spec.nodeName}`)).toEqual(['ADDED n1', 'DELETED n2']);
  });

  it('watch ends when its signal aborts', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const ev of store.watch('pods', { namespace: ns(), signal: ac.signal })) seen.push(ev.type);
      return 'ended';
    })();
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    await expect(done).resolves.toBe('ended');
  });

  it('watch after compaction is 410 Gone with the requested and compacted revisions', async () => {
    const n = ns();
    const old = await store.currentRevision();
    for (let i = 0; i < 3; i++) await store.create('pods', pod(`c${i}`, n));
    const compactAt = await store.currentRevision();
    await store.compact(compactAt);
    const err = await collect(store.watch('pods', { namespace: n, resourceVersion: old }), 1).catch((e) => e);
    expect(err).toMatchObject({ code: 'Gone', message: `too old resource version: ${old} (${compactAt})` });
    // a fresh list gives a resourceVersion to watch from again
    const list = await store.list('pods', { namespace: n });
    const later = collect(store.watch<Pod>('pods', { namespace: n, resourceVersion: list.resourceVersion }), 1);
    await store.create('pods', pod('fresh', n));
    expect((await later).map((e) => e.object.metadata.name)).toEqual(['fresh']);
  });

  it('nothing half-written: rejected creates, updates and deletes leave every key as it was', async () => {
    const n = ns();
    const a = await store.create('pods', pod('a', n));
    const b = await store.create('pods', pod('b', n));
    await store.update('pods', { ...b, spec: { image: 'v2' } });
    const snapshot = async () =>
      (await raw.getAll().prefix(`/flotilla/pods/${n}/`).exec()).kvs.map((kv) => `${kv.key} ${kv.mod_revision} ${kv.value}`);
    const before = await snapshot();
    const rejected = await Promise.allSettled([
      store.create('pods', pod('a', n, { image: 'dup' })),
      store.update('pods', { ...b, spec: { image: 'stale' } }),
      store.delete({ resource: 'pods', namespace: n, name: 'b' }, { resourceVersion: b.metadata.resourceVersion }),
      store.update('pods', { ...pod('missing', n), metadata: { ...pod('missing', n).metadata, resourceVersion: a.metadata.resourceVersion } }),
      store.delete({ resource: 'pods', namespace: n, name: 'missing' }),
      store.create('pods', { ...pod('huge', n), metadata: { ...pod('huge', n).metadata, annotations: { blob: 'x'.repeat(5 * 1024 * 1024) } } }),
    ]);
    expect(rejected.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'fulfilled'))).toEqual([
      'AlreadyExists',
      'Conflict',
      'Conflict',
      'NotFound',
      'NotFound',
      'RequestEntityTooLarge',
    ]);
    expect(await snapshot()).toEqual(before);
  });

  it('a list larger than gRPC\'s default 4 MiB reply limit still works', async () => {
    const n = ns();
    const big = 'y'.repeat(1536 * 1024);
    for (const name of ['l1', 'l2', 'l3']) {
      await store.create('pods', { ...pod(name, n), metadata: { ...pod(name, n).metadata, annotations: { blob: big } } });
    }
    const list = await store.list<Pod>('pods', { namespace: n });
    expect(list.items.map((p) => p.metadata.name)).toEqual(['l1', 'l2', 'l3']);
  });

  it('names that would escape their place in the key layout are refused and nothing is written', async () => {
    const n = ns();
    const rev = await store.currentRevision();
    await expect(store.create('pods', pod('a/b', n))).rejects.toMatchObject({ code: 'BadRequest' });
    await expect(store.create('pods', pod('', n))).rejects.toMatchObject({ code: 'BadRequest' });
    await expect(store.create('pods', { ...pod('x', 'a/b') })).rejects.toMatchObject({ code: 'BadRequest' });
    await expect(store.get({ resource: 'pods', namespace: n, name: 'a/b' })).rejects.toMatchObject({ code: 'BadRequest' });
    expect(await store.currentRevision()).toBe(rev);
  });

  it('watch from a resourceVersion that is not a revision is a bad request', async () => {
    await expect(collect(store.watch('pods', { resourceVersion: 'abc' }), 1)).rejects.toMatchObject({ code: 'BadRequest' });
  });

  it('close ends open watches', async () => {
    const s = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger() });
    const done = (async () => {
      for await (const _ of s.watch('pods', { namespace: ns() })) void _;
      return 'ended';
    })();
    await new Promise((r) => setTimeout(r, 100));
    await s.close();
    await expect(done).resolves.toBe('ended');
  });
});
