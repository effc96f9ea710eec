// How long a key that failed waits before it is handed out again: doubling per
// consecutive failure of that key, from `baseMs` to `maxMs` (client-go's
// ItemExponentialFailureRateLimiter). `forget` starts the key afresh.

export interface RateLimiter {
  /** The wait before the next try of `key`; counts a failure. */
  when(key: string): number;
  /** Failures counted for `key` since it last succeeded. */
  retries(key: string): number;
  forget(key: string): void;
}

export interface ExponentialBackoffOptions {
  /** Default 5 ms. */
  baseMs?: number;
  /** Default 60 s. */
  maxMs?: number;
}

export class ExponentialBackoff implements RateLimiter {
  private readonly failures = new Map<string, number>();
  readonly baseMs: number;
  readonly maxMs: number;

  constructor(o: ExponentialBackoffOptions = {}) {
    this.baseMs = Math.max(0, o.baseMs ?? 5);
    this.maxMs = Math.max(this.baseMs, o.maxMs ?? 60_000);
  }

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity long before it matters; the ceiling applies first.
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}
