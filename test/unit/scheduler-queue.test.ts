import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../api/index.js';
import { SchedulingQueue } from '../../controller/scheduler/index.js';
import { makePod } from './scheduler-fixtures.js';

function newQueue(clock = new FakeClock()) {
  return { clock, q: new SchedulingQueue({ clock, initialBackoffMs: 1000, maxBackoffMs: 10_000, maxUnschedulableMs: 60_000, flushIntervalMs: 100 }) };
}

describe('the scheduling queue', () => {
  it('hands out pods first come first served, higher priority first', async () => {
    const { q } = newQueue();
    q.add(makePod('a'));
    q.add(makePod('b'));
    q.add(makePod('urgent', { priority: 1000 }));
    const order = [];
    for (let i = 0; i < 3; i++) order.push((await q.pop())!.pod.metadata.name);
    expect(order).toEqual(['urgent', 'a', 'b']);
  });

  it('holds an unschedulable pod until the cluster changes, then retries it after its back-off', async () => {
    const { q, clock } = newQueue();
    q.start();
    q.add(makePod('p'));
    const qp = (await q.pop())!;
    q.addUnschedulable(qp, q.schedulingCycle);
    expect(q.size).toMatchObject({ active: 0, unschedulable: 1 });
    clock.advance(5_000);
    expect(q.size).toMatchObject({ active: 0, unschedulable: 1 });
    q.moveAllToActiveOrBackoff();
    expect(q.size).toMatchObject({ active: 1, unschedulable: 0 });
    q.close();
  });

  it('backs off a pod that failed moments ago before retrying it', async () => {
    const { q, clock } = newQueue();
    q.start();
    q.add(makePod('p'));
    const qp = (await q.pop())!;
    q.addUnschedulable(qp, q.schedulingCycle);
    q.moveAllToActiveOrBackoff();
    expect(q.size).toMatchObject({ active: 0, backoff: 1 });
    clock.advance(1_000);
    expect(q.size).toMatchObject({ active: 1, backoff: 0 });
    q.close();
  });

  it('doubles the back-off per attempt up to the ceiling', async () => {
    const { q } = newQueue();
    q.add(makePod('p'));
    const qp = (await q.pop())!;
    const seen = [q.backoffDurationMs(qp)];
    for (let i = 0; i < 6; i++) {
      qp.attempts++;
      seen.push(q.backoffDurationMs(qp));
    }
    expect(seen).toEqual([1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  });

  it('retries a pod whose cluster changed while it was being scheduled after the back-off only', async () => {
    const { q, clock } = newQueue();
    q.start();
    q.add(makePod('p'));
    const qp = (await q.pop())!;
    const cycle = q.schedulingCycle;
    q.moveAllToActiveOrBackoff(); // a node arrived mid-attempt
    q.addUnschedulable(qp, cycle);
    expect(q.size).toMatchObject({ backoff: 1, unschedulable: 0 });
    clock.advance(1_000);
    expect(q.size.active).toBe(1);
    q.close();
  });

  it('retries an unschedulable pod after a minute even if nothing changes', async () => {
    const { q, clock } = newQueue();
    q.start();
    q.add(makePod('p'));
    q.addUnschedulable((await q.pop())!, q.schedulingCycle);
    clock.advance(59_000);
    expect(q.size.unschedulable).toBe(1);
    clock.advance(1_100);
    expect(q.size).toMatchObject({ active: 1, unschedulable: 0 });
    q.close();
  });

  it('ignores status-only updates of an unschedulable pod but retries it when its spec changes', async () => {
    const { q, clock } = newQueue();
    q.add(makePod('p', { nodeSelector: { disk: 'ssd' } }));
    q.addUnschedulable((await q.pop())!, q.schedulingCycle);
    clock.advance(2_000);
    const statusOnly = makePod('p', { nodeSelector: { disk: 'ssd' } });
    statusOnly.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] };
    q.update(statusOnly);
    expect(q.size.unschedulable).toBe(1);
    q.update(makePod('p', { nodeSelector: { disk: 'hdd' } }));
    expect(q.size).toMatchObject({ active: 1, unschedulable: 0 });
    expect((await q.pop())!.pod.spec.nodeSelector).toEqual({ disk: 'hdd' });
  });

  it('forgets deleted pods wherever they wait', async () => {
    const { q } = newQueue();
    q.add(makePod('a'));
    q.add(makePod('b'));
    q.delete('default/a');
    expect((await q.pop())!.key).toBe('default/b');
    expect(q.size.active).toBe(0);
  });

  it('wakes a waiting pop when a pod arrives, and ends it on close', async () => {
    const { q } = newQueue();
    const first = q.pop();
    q.add(makePod('late'));
    expect((await first)!.key).toBe('default/late');
    const second = q.pop();
    q.close();
    expect(await second).toBeUndefined();
  });
});
