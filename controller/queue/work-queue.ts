// A keyed work queue, as client-go's workqueue: controllers put keys in (from
// informer events, timers, failures) and workers take them out one at a time.
// - De-duplicating: a key added while it waits is one item; a key added while
//   a worker has it is handed out again once the worker calls `done` — so one
//   key is never worked on by two workers at once, and no change is lost.
// - Delays: `addAfter(key, ms)` (the earliest pending time of a key wins), and
//   `addRateLimited(key)`, a per-key exponential back-off that `forget` resets.
// - Time comes from an injectable Clock (FakeClock in tests); one timer for all delays.
// It is the agent's per-pod workers (node-agent/sync/pod-workers.ts) made general.
import { realClock, type Clock, type Timer } from '../../api/index.js';
import { ExponentialBackoff, type RateLimiter } from './rate-limiter.js';
import { BinaryHeap } from './heap.js';

export interface WorkQueueOptions {
  /** Names the queue in metrics and logs. */
  name?: string;
  clock?: Clock;
  /** Default: ExponentialBackoff (5 ms doubling up to 60 s). */
  rateLimiter?: RateLimiter;
}

/** What a queue reports to (runController wires it to Prometheus metrics). */
export interface QueueObserver {
  depth(n: number): void;
  added(): void;
  retried(): void;
}

interface Delayed {
  at: number;
  seq: number;
  key: string;
}

export class WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  /** Keys ready to be handed out, in order, from `head`. */
  private queue: string[] = [];
  private head = 0;
  /** Keys that need work: queued, or to be queued again when their worker is done. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private waiters: (() => void)[] = [];
  private shuttingDown = false;
  /** Delayed keys: a min-heap on `at`, and each key's earliest pending time. */
  private readonly heap = new BinaryHeap<Delayed>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private readonly waitingAt = new Map<string, number>();
  private seq = 0;
  private timer: Timer | undefined;
  private timerAt = Infinity;
  private observer: QueueObserver | undefined;

  constructor(o: WorkQueueOptions = {}) {
    this.name = o.name ?? 'queue';
    this.clock = o.clock ?? realClock;
    this.limiter = o.rateLimiter ?? new ExponentialBackoff();
  }

  /** Reports depth, adds and retries to `obs` from now on. */
  observe(obs: QueueObserver): void {
    this.observer = obs;
    obs.depth(this.length);
  }

  /** Keys ready to be handed out. */
  get length(): number {
    return this.queue.length - this.head;
  }

  /** Keys waiting for their delay to pass. */
  get delayed(): number {
    return this.waitingAt.size;
  }

  /** Keys a worker has and has not called `done` for. */
  get inProgress(): number {
    return this.processing.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Queues `key` (once, however often it is added before a worker takes it). */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.observer?.added();
    if (this.processing.has(key)) return; // queued again by done()
    this.queue.push(key);
    this.observer?.depth(this.length);
    this.waiters.shift()?.();
  }

  /** Queues `key` after `delayMs` (at once when ≤ 0). A key already waiting keeps the earlier time. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) return this.add(key);
    const at = this.clock.now() + delayMs;
    const pending = this.waitingAt.get(key);
    if (pending !== undefined && pending <= at) return;
    this.waitingAt.set(key, at);
    this.heap.push({ at, seq: this.seq++, key });
    if (at < this.timerAt) this.arm();
  }

  /** Queues `key` after its back-off: doubles with each call until `forget(key)`. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.observer?.retried();
    this.addAfter(key, this.limiter.when(key));
  }

  /** The key succeeded: its back-off starts afresh. (Does not remove a pending delay.) */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** Failures counted for `key` since it was last forgotten. */
  retries(key: string): number {
    return this.limiter.retries(key);
  }

  /**
   * The next key; waits until there is one. Undefined once the queue shuts
   * down (keys still queued are not handed out) or `signal` aborts. The caller
   * must call `done(key)` when finished with it.
   */
  async get(signal?: AbortSignal): Promise<string | undefined> {
    for (;;) {
      if (this.shuttingDown || signal?.aborted) return undefined;
      if (this.head < this.queue.length) {
        const key = this.queue[this.head++]!;
        if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        this.dirty.delete(key);
        this.processing.add(key);
        this.observer?.depth(this.length);
        return key;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          this.waiters = this.waiters.filter((w) => w !== wake);
          resolve();
        };
        this.waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** A worker finished `key`; if it was added meanwhile, it is queued again now. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.queue.push(key);
      this.observer?.depth(this.length);
      this.waiters.shift()?.();
    }
  }

  /** Stops handing out keys: waiting `get`s return undefined; adds are ignored; delays are dropped. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
    this.heap.clear();
    this.waitingAt.clear();
    for (const w of this.waiters.splice(0)) w();
  }

  // ------------------------------------------------------------ delays

  private arm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
    // Skip entries a later addAfter superseded.
    for (let top = this.heap.peek(); top && this.waitingAt.get(top.key) !== top.at; top = this.heap.peek()) this.heap.pop();
    const top = this.heap.peek();
    if (!top) return;
    this.timerAt = top.at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, top.at - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    while (this.heap.size > 0 && this.heap.peek()!.at <= now) {
      const d = this.heap.pop()!;
      if (this.waitingAt.get(d.key) !== d.at) continue;
      this.waitingAt.delete(d.key);
      this.add(d.key);
    }
    this.arm();
  }
}
