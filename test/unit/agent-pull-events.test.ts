import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../api/index.js';
import type { PullProgress } from '../../node-agent/images/index.js';
import { formatBytes, formatPullDuration, PullEventReporter, pullProgressMessage } from '../../node-agent/pull-events.js';

const MiB = 1024 * 1024;

function progress(p: Partial<PullProgress>): PullProgress {
  return { ref: 'docker.io/library/busybox:1.35', bytesDone: 0, bytesTotal: 3.4 * MiB, bytesTransferred: 0, layersDone: 0, layersTotal: 2, done: false, ...p };
}

function reporter(intervalMs?: number) {
  const clock = new FakeClock();
  const events: string[] = [];
  const r = new PullEventReporter('busybox:1.35', clock, (type, reason, message) => void events.push(`${type} ${reason} ${message}`), intervalMs);
  return { clock, events, r };
}

describe('pull event wording', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1.2 * MiB, '1.2 MiB'],
    [3.4 * MiB, '3.4 MiB'],
    [2.5 * 1024 * MiB, '2.5 GiB'],
  ])('formatBytes(%d) is %s', (n, s) => expect(formatBytes(n)).toBe(s));

  it('durations have milliseconds, as the kubelet prints them', () => {
    expect(formatPullDuration(1234)).toBe('1.234s');
    expect(formatPullDuration(50)).toBe('0.050s');
  });

  it('progress says bytes done of total and layers', () => {
    expect(pullProgressMessage('busybox:1.35', { bytesDone: 1.2 * MiB, bytesTotal: 3.4 * MiB, layersDone: 2, layersTotal: 2 })).toBe(
      'Pulling image "busybox:1.35": 1.2 MiB of 3.4 MiB (2/2 layers)',
    );
  });
});

describe('the events of one pull', () => {
  it('a pull that transfers: Pulling, then Pulled with its time and size', async () => {
    const { clock, events, r } = reporter();
    await r.pulling();
    r.progress(progress({ bytesDone: 0 }));
    clock.advance(1234);
    r.progress(progress({ bytesDone: 3.4 * MiB, bytesTransferred: 3.4 * MiB, layersDone: 2, done: true }));
    await r.finished(0);
    expect(events).toEqual(['Normal Pulling Pulling image "busybox:1.35"', 'Normal Pulled Successfully pulled image "busybox:1.35" in 1.234s (3.4 MiB)']);
  });

  it('a long transfer reports progress at most once per interval', async () => {
    const { clock, events, r } = reporter(2_000);
    await r.pulling();
    for (let i = 1; i <= 10; i++) {
      clock.advance(500);
      r.progress(progress({ bytesDone: i * 0.3 * MiB, bytesTransferred: i * 0.3 * MiB, layersDone: i < 8 ? 0 : 1 }));
    }
    await r.flush();
    // 5 s of transfer: events at 2 s and 4 s
    expect(events).toEqual([
      'Normal Pulling Pulling image "busybox:1.35"',
      'Normal Pulling Pulling image "busybox:1.35": 1.2 MiB of 3.4 MiB (0/2 layers)',
      'Normal Pulling Pulling image "busybox:1.35": 2.4 MiB of 3.4 MiB (1/2 layers)',
    ]);
  });

  it('nothing transferred (a cached image) is "already present on machine", with or without a Pulling before', async () => {
    const cached = reporter();
    await cached.r.finished(3 * MiB);
    expect(cached.events).toEqual(['Normal Pulled Container image "busybox:1.35" already present on machine']);

    const always = reporter();
    await always.r.pulling();
    always.r.progress(progress({ bytesDone: 3.4 * MiB, layersDone: 2 }));
    always.clock.advance(5_000);
    always.r.progress(progress({ bytesDone: 3.4 * MiB, layersDone: 2, done: true }));
    await always.r.finished(3 * MiB);
    expect(always.events).toEqual(['Normal Pulling Pulling image "busybox:1.35"', 'Normal Pulled Container image "busybox:1.35" already present on machine']);
  });

  it('a sink that fails does not fail the pull, and events keep their order', async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    let n = 0;
    const r = new PullEventReporter('busybox:1.35', clock, async (_t, reason) => {
      n++;
      // the first event is slow and the second throws: order and the pull are unaffected
      if (n === 1) await new Promise((res) => setTimeout(res, 20));
      seen.push(reason);
      if (n === 2) throw new Error('controller unreachable');
    });
    const first = r.pulling();
    clock.advance(2_500);
    r.progress(progress({ bytesDone: MiB, bytesTransferred: MiB }));
    await first;
    await expect(r.finished(0)).resolves.toBeUndefined();
    expect(seen).toEqual(['Pulling', 'Pulling', 'Pulled']);
  });
});
