import { describe, expect, it } from 'vitest';
import { PodWorkers } from '../../node-agent/sync/pod-workers.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('[agent] pod workers', () => {
  it('never runs two syncs of one pod at once and coalesces updates into one more sync', async () => {
    let running = 0;
    let maxRunning = 0;
    const calls: string[] = [];
    let release: () => void = () => undefined;
    const w = new PodWorkers(
      async (k) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        calls.push(k);
        await new Promise<void>((r) => (release = r));
        running--;
      },
      () => undefined,
    );
    w.enqueue('a');
    await tick();
    w.enqueue('a');
    w.enqueue('a');
    w.enqueue('a');
    release();
    await tick();
    release();
    await w.idle();
    expect(calls).toEqual(['a', 'a']);
    expect(maxRunning).toBe(1);
    expect(w.busy('a')).toBe(false);
  });

  it('syncs different pods in parallel up to the concurrency limit', async () => {
    let running = 0;
    let maxRunning = 0;
    const w = new PodWorkers(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await tick();
        running--;
      },
      () => undefined,
      3,
    );
    for (let i = 0; i < 10; i++) w.enqueue(`p${i}`);
    await w.idle();
    expect(maxRunning).toBe(3);
  });

  it('reports a failing sync and keeps serving other pods', async () => {
    const errors: string[] = [];
    const done: string[] = [];
    const w = new PodWorkers(
      async (k) => {
        if (k === 'bad') throw new Error('boom');
        done.push(k);
      },
      (k, e) => errors.push(`${k}: ${(e as Error).message}`),
    );
    w.enqueue('bad');
    w.enqueue('good');
    await w.idle();
    expect(errors).toEqual(['bad: boom']);
    expect(done).toEqual(['good']);
  });
});
