// One serialized worker per pod: work for a pod never runs concurrently with
// other work for the same pod, and updates that arrive while a sync runs
// coalesce into exactly one more sync. Different pods sync in parallel, up to
// `concurrency` at once.

export type SyncFn = (key: string) => Promise<void>;

interface WorkerState {
  running: boolean;
  pending: boolean;
}

export class PodWorkers {
  private readonly workers = new Map<string, WorkerState>();
  private readonly waiting: string[] = [];
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly sync: SyncFn,
    private readonly onError: (key: string, err: unknown) => void,
    private readonly concurrency = 8,
  ) {}

  /** Asks for a sync of `key`; returns at once. */
  enqueue(key: string): void {
    const w = this.workers.get(key);
    if (w) {
      w.pending = true;
      return;
    }
    this.workers.set(key, { running: false, pending: true });
    this.waiting.push(key);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.concurrency && this.waiting.length > 0) {
      const key = this.waiting.shift()!;
      const w = this.workers.get(key);
      if (!w) continue;
      this.active++;
      void this.run(key, w);
    }
    if (this.active === 0 && this.waiting.length === 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of ws) r();
    }
  }

  private async run(key: string, w: WorkerState): Promise<void> {
    w.running = true;
    while (w.pending) {
      w.pending = false;
      try {
        await this.sync(key);
      } catch (e) {
        this.onError(key, e);
      }
    }
    w.running = false;
    this.workers.delete(key);
    this.active--;
    this.pump();
  }

  busy(key: string): boolean {
    return this.workers.has(key);
  }

  /** Resolves when no sync is running or queued (tests, shutdown). */
  idle(): Promise<void> {
    if (this.active === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
}
