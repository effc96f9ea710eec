// The controllers' work queue and runController, with a FakeClock driving time.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger } from '../../api/index.js';
import { MetricsRegistry } from '../../api/metrics.js';
import { ExponentialBackoff, WorkQueue, runController } from '../../controller/queue/index.js';

const settle = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** Takes whatever is ready right now, without waiting. */
async function drain(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.length > 0) {
    const k = await q.get();
    if (k === undefined) break;
    out.push(k);
  }
  return out;
}

describe('[queue] the work queue', () => {
  it('hands out a key added several times while it waits once', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await drain(q)).toEqual(['a', 'b']);
  });

  it('hands out again, after done, a key added while a worker had it — never to two workers at once', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    expect(k).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0); // not while the worker has it
    let second: string | undefined;
    void q.get().then((x) => (second = x));
    await settle();
    expect(second).toBeUndefined();
    q.done('a');
    await settle();
    expect(second).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('queues a key after its delay, not before; a key already waiting keeps the earlier time', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('late', 1000);
    q.addAfter('soon', 200);
    q.addAfter('soon', 5000); // later: ignored
    q.addAfter('late', 300); // earlier: wins
    expect(q.delayed).toBe(2);
    clock.advance(199);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(await drain(q)).toEqual(['soon']);
    clock.advance(100);
    expect(await drain(q)).toEqual(['late']);
    clock.advance(10_000);
    expect(q.length).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('backs a failing key off exponentially until it is forgotten', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, rateLimiter: new ExponentialBackoff({ baseMs: 10, maxMs: 50 }) });
    const readyAfter = async (ms: number) => {
      clock.advance(ms - 1);
      const early = q.length;
      clock.advance(1);
      const k = await drain(q);
      for (const x of k) q.done(x);
      return { early, k };
    };
    q.addRateLimited('x');
    expect(await readyAfter(10)).toEqual({ early: 0, k: ['x'] });
    q.addRateLimited('x');
    expect(await readyAfter(20)).toEqual({ early: 0, k: ['x'] });
    q.addRateLimited('x');
    expect(await readyAfter(40)).toEqual({ early: 0, k: ['x'] });
    q.addRateLimited('x');
    expect(await readyAfter(50)).toEqual({ early: 0, k: ['x'] }); // the ceiling
    expect(q.retries('x')).toBe(4);
    q.forget('x');
    expect(q.retries('x')).toBe(0);
    q.addRateLimited('x');
    expect(await readyAfter(10)).toEqual({ early: 0, k: ['x'] });
  });

  it('after shutDown, hands out nothing more: a waiting get returns undefined and adds are ignored', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    let got: string | undefined | null = null;
    void q.get().then((k) => (got = k));
    q.addAfter('later', 100);
    q.shutDown();
    await settle();
    expect(got).toBeUndefined();
    q.add('a');
    expect(q.length).toBe(0);
    expect(await q.get()).toBeUndefined();
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('[queue] runController', () => {
  const stops: AbortController[] = [];
  afterEach(() => {
    for (const a of stops.splice(0)) a.abort();
  });

  it('retries a failing reconcile after a growing back-off, forgets it once it succeeds, and reports metrics', async () => {
    const clock = new FakeClock();
    const metrics = new MetricsRegistry();
    const q = new WorkQueue({ name: 'demo', clock, rateLimiter: new ExponentialBackoff({ baseMs: 100, maxMs: 10_000 }) });
    const calls: number[] = [];
    let failuresLeft = 2;
    const ac = new AbortController();
    stops.push(ac);
    const done = runController({
      name: 'demo',
      queue: q,
      clock,
      metrics,
      log: silentLogger(),
      signal: ac.signal,
      reconcile: () => {
        calls.push(clock.now());
        if (failuresLeft-- > 0) throw new Error('not yet');
      },
    });
    const t0 = clock.now();
    q.add('k');
    await settle();
    expect(calls).toEqual([t0]);
    clock.advance(100);
    await settle();
    expect(calls).toEqual([t0, t0 + 100]);
    clock.advance(199);
    await settle();
    expect(calls.length).toBe(2);
    clock.advance(1);
    await settle();
    expect(calls).toEqual([t0, t0 + 100, t0 + 300]);
    expect(q.retries('k')).toBe(0); // forgotten after the success
    const text = metrics.render();
    expect(text).toContain('controller_reconcile_total{controller="demo",result="error"} 2');
    expect(text).toContain('controller_reconcile_total{controller="demo",result="success"} 1');
    expect(text).toContain('workqueue_retries_total{name="demo"} 2');
    expect(text).toContain('workqueue_depth{name="demo"} 0');
    expect(text).toContain('controller_reconcile_duration_seconds_count{controller="demo"} 3');
    ac.abort();
    await done;
  });

  it('comes back to a key at the deadline it asked for', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const calls: number[] = [];
    const ac = new AbortController();
    stops.push(ac);
    void runController({
      name: 'deadline',
      queue: q,
      clock,
      log: silentLogger(),
      signal: ac.signal,
      reconcile: () => {
        calls.push(clock.now());
        return calls.length === 1 ? { requeueAfterMs: 40_000 } : undefined;
      },
    });
    const t0 = clock.now();
    q.add('n1');
    await settle();
    clock.advance(39_999);
    await settle();
    expect(calls).toEqual([t0]);
    clock.advance(1);
    await settle();
    expect(calls).toEqual([t0, t0 + 40_000]);
  });

  it('works on different keys in parallel, never on one key twice at once, and waits for its caches first', async () => {
    const q = new WorkQueue();
    let active = 0;
    let maxActive = 0;
    const perKey = new Map<string, number>();
    let overlap = false;
    let synced!: (v: boolean) => void;
    const sync = new Promise<boolean>((r) => (synced = r));
    const ac = new AbortController();
    stops.push(ac);
    const seen: string[] = [];
    const done = runController({
      name: 'par',
      queue: q,
      workers: 3,
      log: silentLogger(),
      signal: ac.signal,
      waitFor: [{ waitForSync: () => sync }],
      reconcile: async (key) => {
        seen.push(key);
        active++;
        maxActive = Math.max(maxActive, active);
        perKey.set(key, (perKey.get(key) ?? 0) + 1);
        if (perKey.get(key)! > 1) overlap = true;
        await new Promise((r) => setTimeout(r, 5));
        perKey.set(key, perKey.get(key)! - 1);
        active--;
      },
    });
    for (const k of ['a', 'b', 'c']) q.add(k);
    await settle();
    expect(seen).toEqual([]);
    synced(true);
    await settle();
    q.add('a'); // while a is being worked on
    await new Promise((r) => setTimeout(r, 30));
    expect(maxActive).toBe(3);
    expect(overlap).toBe(false);
    expect(seen.sort()).toEqual(['a', 'a', 'b', 'c']);
    ac.abort();
    await done;
    expect(q.isShuttingDown).toBe(true);
  });
});
