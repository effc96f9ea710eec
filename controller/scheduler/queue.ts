// The scheduling queue, as Kubernetes shapes it: an active heap (higher
// spec.priority first, then first come), a back-off area for pods that just
// failed, and an unschedulable area for pods that wait for the cluster to
// change. A node that arrives or changes, or a pod that frees resources,
// moves every unschedulable pod back (after its back-off); pods that sit
// unschedulable too long are retried anyway.
import type { Clock, Pod, Timer } from '../../api/index.js';
import { podKey } from './node-info.js';
import { BinaryHeap } from '../queue/index.js';

export interface QueuedPod {
  key: string;
  /** The latest version seen of the pod. */
  pod: Pod;
  /** Scheduling attempts so far (incremented on pop). */
  attempts: number;
  /** When it was first queued (ms), for FIFO order among equal priorities. */
  enqueuedAt: number;
  /** When the last attempt ended (ms). */
  lastAttemptAt: number;
  where: 'active' | 'backoff' | 'unschedulable' | 'inflight';
  /** Distinguishes a heap entry from stale ones after a re-push. */
  seq: number;
}

export interface QueueOptions {
  clock: Clock;
  /** First back-off after a failed attempt; doubles per attempt. Default 1 s (Kubernetes' default). */
  initialBackoffMs?: number;
  /** Back-off ceiling. Default 10 s. */
  maxBackoffMs?: number;
  /** An unschedulable pod is retried after this long even without a cluster change. Default 60 s. */
  maxUnschedulableMs?: number;
  /** How often back-off and unschedulable areas are checked. Default 200 ms. */
  flushIntervalMs?: number;
}

interface HeapEntry {
  qp: QueuedPod;
  seq: number;
}

export class SchedulingQueue {
  private readonly pods = new Map<string, QueuedPod>();
  private readonly heap = new BinaryHeap<HeapEntry>(activeBefore);
  private readonly backoff = new Set<QueuedPod>();
  private readonly unschedulable = new Set<QueuedPod>();
  private seq = 0;
  private waiters: (() => void)[] = [];
  private closed = false;
  private flushTimer: Timer | undefined;
  /** Incremented on every pop. */
  schedulingCycle = 0;
  /** The cycle during which the cluster last changed. */
  private moveRequestCycle = -1;
  private readonly clock: Clock;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private readonly flushIntervalMs: number;

  constructor(opts: QueueOptions) {
    this.clock = opts.clock;
    this.initialBackoffMs = opts.initialBackoffMs ?? 1_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.maxUnschedulableMs = opts.maxUnschedulableMs ?? 60_000;
    this.flushIntervalMs = opts.flushIntervalMs ?? 200;
  }

  /** Starts the periodic flush of the back-off and unschedulable areas. */
  start(): void {
    if (this.flushTimer || this.closed) return;
    const tick = () => {
      this.flush();
      if (!this.closed) this.flushTimer = this.clock.setTimeout(tick, this.flushIntervalMs);
    };
    this.flushTimer = this.clock.setTimeout(tick, this.flushIntervalMs);
  }

  close(): void {
    this.closed = true;
    this.flushTimer?.cancel();
    this.flushTimer = undefined;
    for (const w of this.waiters.splice(0)) w();
  }

  get size(): { active: number; backoff: number; unschedulable: number; inflight: number } {
    let active = 0;
    let inflight = 0;
    for (const qp of this.pods.values()) {
      if (qp.where === 'active') active++;
      else if (qp.where === 'inflight') inflight++;
    }
    return { active, backoff: this.backoff.size, unschedulable: this.unschedulable.size, inflight };
  }

  /** Keys of every pod the queue holds, whatever its area. */
  keys(): string[] {
    return [...this.pods.keys()];
  }

  has(key: string): boolean {
    return this.pods.has(key);
  }

  get(key: string): QueuedPod | undefined {
    return this.pods.get(key);
  }

  /** A pending pod appeared (or reappeared after a relist). Known pods are updated instead. */
  add(pod: Pod): void {
    const key = podKey(pod);
    if (this.pods.has(key)) return this.update(pod);
    const now = this.clock.now();
    const qp: QueuedPod = { key, pod, attempts: 0, enqueuedAt: now, lastAttemptAt: 0, where: 'active', seq: 0 };
    this.pods.set(key, qp);
    this.pushActive(qp);
  }

  /**
   * A newer version of a queued pod. A change of spec or labels (not of status
   * alone, which the scheduler itself writes) may make it schedulable: retry it.
   */
  update(pod: Pod): void {
    const qp = this.pods.get(podKey(pod));
    if (!qp) return this.add(pod);
    const old = qp.pod;
    qp.pod = pod;
    if (qp.where !== 'unschedulable') return;
    if (JSON.stringify(old.spec) === JSON.stringify(pod.spec) && JSON.stringify(old.metadata.labels) === JSON.stringify(pod.metadata.labels)) return;
    this.unschedulable.delete(qp);
    this.toActiveOrBackoff(qp);
  }

  delete(key: string): void {
    const qp = this.pods.get(key);
    if (!qp) return;
    this.pods.delete(key);
    this.backoff.delete(qp);
    this.unschedulable.delete(qp);
    qp.where = 'inflight'; // stale heap entries are skipped
  }

  /** The next pod to schedule; waits until one is active. Undefined once closed or aborted. */
  async pop(signal?: AbortSignal): Promise<QueuedPod | undefined> {
    for (;;) {
      if (this.closed || signal?.aborted) return undefined;
      const qp = this.popActive();
      if (qp) {
        qp.where = 'inflight';
        qp.attempts++;
        this.schedulingCycle++;
        return qp;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** The attempt ended with the pod placed: forget it. */
  done(key: string): void {
    const qp = this.pods.get(key);
    if (qp?.where === 'inflight') this.pods.delete(key);
  }

  /**
   * No node fits. The pod waits for a cluster change — unless one happened
   * while it was being scheduled (`cycle` = the schedulingCycle it was popped
   * in), then it only backs off.
   */
  addUnschedulable(qp: QueuedPod, cycle: number): void {
    if (this.pods.get(qp.key) !== qp) return; // deleted meanwhile
    qp.lastAttemptAt = this.clock.now();
    if (this.moveRequestCycle >= cycle) {
      qp.where = 'backoff';
      this.backoff.add(qp);
    } else {
      qp.where = 'unschedulable';
      this.unschedulable.add(qp);
    }
  }

  /** The attempt failed for a reason unrelated to the cluster (binding error…): back off and retry. */
  addBackoff(qp: QueuedPod): void {
    if (this.pods.get(qp.key) !== qp) {
      if (this.pods.has(qp.key)) return;
      this.pods.set(qp.key, qp);
    }
    qp.lastAttemptAt = this.clock.now();
    qp.where = 'backoff';
    this.backoff.add(qp);
  }

  /** The cluster changed in a way that may help (a node came, changed, or resources were freed). */
  moveAllToActiveOrBackoff(): void {
    this.moveRequestCycle = this.schedulingCycle;
    if (this.unschedulable.size === 0) return;
    const all = [...this.unschedulable];
    this.unschedulable.clear();
    for (const qp of all) this.toActiveOrBackoff(qp);
  }

  backoffDurationMs(qp: QueuedPod): number {
    let d = this.initialBackoffMs;
    for (let i = 1; i < qp.attempts && d < this.maxBackoffMs; i++) d *= 2;
    return Math.min(d, this.maxBackoffMs);
  }

  /** Moves pods whose back-off expired to active, and long-unschedulable pods back to active. */
  flush(): void {
    const now = this.clock.now();
    for (const qp of this.backoff) {
      if (qp.lastAttemptAt + this.backoffDurationMs(qp) <= now) {
        this.backoff.delete(qp);
        this.pushActive(qp);
      }
    }
    for (const qp of this.unschedulable) {
      if (qp.lastAttemptAt + this.maxUnschedulableMs <= now) {
        this.unschedulable.delete(qp);
        this.toActiveOrBackoff(qp);
      }
    }
  }

  private toActiveOrBackoff(qp: QueuedPod): void {
    if (qp.lastAttemptAt + this.backoffDurationMs(qp) > this.clock.now()) {
      qp.where = 'backoff';
      this.backoff.add(qp);
    } else {
      this.pushActive(qp);
    }
  }

  // --- the active heap: priority desc, then enqueuedAt asc, then insertion.

  private pushActive(qp: QueuedPod): void {
    qp.where = 'active';
    qp.seq = ++this.seq;
    this.heap.push({ qp, seq: qp.seq });
    const w = this.waiters.shift();
    if (w) w();
  }

  private popActive(): QueuedPod | undefined {
    for (let top = this.heap.pop(); top; top = this.heap.pop()) {
      const qp = top.qp;
      if (qp.where === 'active' && qp.seq === top.seq && this.pods.get(qp.key) === qp) return qp;
    }
    return undefined;
  }
}

function activeBefore(a: HeapEntry, b: HeapEntry): boolean {
  const pa = a.qp.pod.spec?.priority ?? 0;
  const pb = b.qp.pod.spec?.priority ?? 0;
  if (pa !== pb) return pa > pb;
  if (a.qp.enqueuedAt !== b.qp.enqueuedAt) return a.qp.enqueuedAt < b.qp.enqueuedAt;
  return a.seq < b.seq;
}
