import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../api/index.js';

describe('[clock] FakeClock', () => {
  it('fires timers only when time is advanced past them, in order', () => {
    const c = new FakeClock(1000);
    const fired: string[] = [];
    c.setTimeout(() => fired.push('b'), 200);
    c.setTimeout(() => fired.push('a'), 100);
    c.advance(99);
    expect(fired).toEqual([]);
    c.advance(1);
    expect(fired).toEqual(['a']);
    expect(c.now()).toBe(1100);
    c.advance(500);
    expect(fired).toEqual(['a', 'b']);
    expect(c.now()).toBe(1600);
  });

  it('cancels timers and fires timers set by timers when they fall due', () => {
    const c = new FakeClock(0);
    const fired: number[] = [];
    const t = c.setTimeout(() => fired.push(1), 10);
    t.cancel();
    c.setTimeout(() => c.setTimeout(() => fired.push(c.now()), 5), 10);
    c.advance(20);
    expect(fired).toEqual([15]);
    expect(c.pendingTimers()).toBe(0);
  });

  it('resolves sleep after the time passes and rejects on abort', async () => {
    const c = new FakeClock(0);
    let done = false;
    const p = c.sleep(50).then(() => (done = true));
    c.advance(49);
    await Promise.resolve();
    expect(done).toBe(false);
    c.advance(1);
    await p;
    expect(done).toBe(true);
    const ac = new AbortController();
    const q = c.sleep(10, ac.signal);
    ac.abort(new Error('stopped'));
    await expect(q).rejects.toThrow('stopped');
  });
});
