// The shared watch hub (over a fake etcd event source): its buffer keeps raw
// events, and lets go of the decoded objects once every subscriber has passed
// them — a watcher that starts in the past decodes them again.
import type { IKeyValue } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { silentLogger, type KubeObject, type WatchEvent } from '../../api/index.js';
import { WatchHub, type RawEvent } from '../../controller/storage/watch-hub.js';

function kv(name: string, rev: number, created = rev): IKeyValue {
  return {
    key: Buffer.from(`/flotilla/configmaps/default/${name}`),
    value: Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' } })),
    create_revision: String(created),
    mod_revision: String(rev),
    version: '1',
    lease: '0',
  };
}

/** A hub over events pushed by the test, counting decodes. */
function hubWith(): { hub: WatchHub; push(ev: RawEvent): void; decodes: () => number } {
  const pending: RawEvent[] = [];
  let wake: (() => void) | undefined;
  let decodes = 0;
  const hub = new WatchHub({
    resource: 'configmaps',
    async *raw(_from, signal) {
      while (!signal.aborted) {
        const ev = pending.shift();
        if (ev) yield ev;
        else await new Promise<void>((r) => (wake = r));
      }
    },
    currentRevision: async () => 1,
    decode: (k, rev) => {
      decodes++;
      const o = JSON.parse(k.value.toString()) as KubeObject;
      o.metadata.resourceVersion = rev ?? k.mod_revision;
      return o;
    },
    log: silentLogger(),
    onStop: () => undefined,
  });
  return {
    hub,
    push: (ev) => {
      pending.push(ev);
      wake?.();
    },
    decodes: () => decodes,
  };
}

async function next(it: AsyncGenerator<WatchEvent<KubeObject>>): Promise<WatchEvent<KubeObject>> {
  const r = await it.next();
  if (r.done) throw new Error('the watch ended');
  return r.value;
}

describe('[store] the shared watch hub', () => {
  it('decodes an event once for the watchers it concerns, then lets the decoded object go; a watcher starting in the past decodes it again', async () => {
    const h = hubWith();
    const ac = new AbortController();
    const a = h.hub.subscribe<KubeObject>({ from: 2, signal: ac.signal })!;
    const b = h.hub.subscribe<KubeObject>({ from: 2, signal: ac.signal })!;
    h.push({ kind: 'put', kv: kv('x', 2) });
    const ea = await next(a);
    const eb = await next(b);
    expect(ea.object).toBe(eb.object); // one decode, shared (and frozen)
    expect(Object.isFrozen(ea.object)).toBe(true);
    expect(h.decodes()).toBe(1);
    // Both passed it: a watcher from revision 2 (served from the buffer) gets a fresh decode of the same event.
    const late = h.hub.subscribe<KubeObject>({ from: 2, signal: ac.signal })!;
    const el = await next(late);
    expect(el).toEqual(ea);
    expect(el.object).not.toBe(ea.object);
    expect(h.decodes()).toBe(2);
    ac.abort();
    h.hub.stop();
  });
});
