// An injectable clock: everything that reads time or waits goes through one,
// so unit tests can drive time with FakeClock instead of sleeping.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Timer {
  cancel(): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock for tests: time moves only when `advance` is called. */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.pending.push(p);
    return { cancel: () => (this.pending = this.pending.filter((x) => x !== p)) };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = this.setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          timer.cancel();
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Moves time forward, firing due timers in order (timers they set fire too if due). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.pending
        .filter((p) => p.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.pending = this.pending.filter((p) => p !== due);
      this.current = due.at;
      due.fn();
    }
    this.current = target;
  }

  pendingTimers(): number {
    return this.pending.length;
  }
}

/** A time as Kubernetes writes it: RFC 3339 in UTC, whole seconds (`2026-01-02T03:04:05Z`). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
