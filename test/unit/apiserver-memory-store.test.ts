// The in-memory Store fake keeps the etcd store's contract, so unit tests of the
// API server's logic see what the real store would do.
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError, GoneError, NotFoundError, type KubeObject, type WatchEvent } from '../../api/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

const pod = (name: string, ns = 'default', labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
});

async function take(it: AsyncIterable<WatchEvent>, n: number): Promise<string[]> {
  const out: string[] = [];
  for await (const ev of it) {
    out.push(`${ev.type} ${ev.object.metadata.name} ${ev.object.metadata.resourceVersion}`);
    if (out.length >= n) break;
  }
  return out;
}

describe('MemoryStore (the Store fake for unit tests)', () => {
  it('creates once, with uid, creationTimestamp and a rising resourceVersion', async () => {
    const s = new MemoryStore(() => Date.UTC(2026, 0, 1));
    const a = await s.create('pods', pod('a'));
    const b = await s.create('pods', pod('b'));
    expect(a.metadata.uid).toBeTruthy();
    expect(a.metadata.creationTimestamp).toBe('2026-01-01T00:00:00Z');
    expect(Number(b.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
    await expect(s.create('pods', pod('a'))).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(s.keys()).toEqual(['/flotilla/pods/default/a', '/flotilla/pods/default/b']);
  });

  it('updates and deletes with compare-and-swap on resourceVersion', async () => {
    const s = new MemoryStore();
    const a = await s.create('pods', pod('a'));
    const u = await s.update('pods', { ...a, metadata: { ...a.metadata, labels: { x: '1' } } });
    await expect(s.update('pods', a)).rejects.toBeInstanceOf(ConflictError);
    await expect(s.delete({ resource: 'pods', namespace: 'default', name: 'a' }, { resourceVersion: a.metadata.resourceVersion! })).rejects.toBeInstanceOf(ConflictError);
    const gone = await s.delete({ resource: 'pods', namespace: 'default', name: 'a' }, { resourceVersion: u.metadata.resourceVersion! });
    expect(gone.metadata.labels).toEqual({ x: '1' });
    await expect(s.get({ resource: 'pods', namespace: 'default', name: 'a' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists by namespace and filter at a revision a watch can resume from', async () => {
    const s = new MemoryStore();
    await s.create('pods', pod('a', 'one', { app: 'x' }));
    await s.create('pods', pod('b', 'two', { app: 'y' }));
    expect((await s.list('pods', { namespace: 'one' })).items.map((p) => p.metadata.name)).toEqual(['a']);
    const l = await s.list('pods', { filter: (o) => o.metadata.labels?.app === 'y' });
    expect(l.items.map((p) => p.metadata.name)).toEqual(['b']);
    const ac = new AbortController();
    const w = take(s.watch('pods', { resourceVersion: l.resourceVersion, signal: ac.signal }), 2);
    await s.create('pods', pod('c', 'one'));
    await s.delete({ resource: 'pods', namespace: 'two', name: 'b' });
    const evs = await w;
    expect(evs.map((e) => e.split(' ').slice(0, 2).join(' '))).toEqual(['ADDED c', 'DELETED b']);
    ac.abort();
  });

  it('throws GoneError for a watch from a compacted revision', async () => {
    const s = new MemoryStore();
    const a = await s.create('pods', pod('a'));
    await s.create('pods', pod('b'));
    s.compact();
    const it = s.watch('pods', { resourceVersion: a.metadata.resourceVersion! })[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toBeInstanceOf(GoneError);
  });

  it('ends a watch when its signal aborts', async () => {
    const s = new MemoryStore();
    const ac = new AbortController();
    const done = (async () => {
      for await (const _ of s.watch('pods', { signal: ac.signal })) {
        /* nothing */
      }
      return 'ended';
    })();
    ac.abort();
    await expect(done).resolves.toBe('ended');
  });
});
