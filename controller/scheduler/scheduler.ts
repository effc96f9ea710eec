// The scheduler loop. Runs on the leader until its AbortSignal fires: fed by
// the shared node and pod informers (one list+watch per resource in the
// process, shared with the agents' pod feed; they relist after a compaction
// and hand over only the differences), keeps the cache of NodeInfos, pops pending pods from
// the queue one at a time, decides synchronously (filters + scores over the
// cache), assumes the pod onto the chosen node at once, and binds in the
// background with bounded concurrency. Failures become FailedScheduling
// events, a PodScheduled=False condition, and a wait in the queue.
import {
  ConflictError,
  NotFoundError,
  componentLogger,
  isTerminalPhase,
  realClock,
  type Clock,
  type KubeObject,
  type Logger,
  type Node,
  type Pod,
  type WatchEvent,
} from '../../api/index.js';
import { StoreEventRecorder, type EventRecorder } from '../events/index.js';
import { InformerFactory } from '../informers/index.js';
import type { Store } from '../storage/store.js';
import { SchedulingAlgorithm } from './algorithm.js';
import { StoreBinder, applyUnschedulableCondition, type Binder } from './binder.js';
import { SchedulerCache } from './cache.js';
import type { Profile } from './framework.js';
import { podKey } from './node-info.js';
import { SchedulingQueue, type QueueOptions, type QueuedPod } from './queue.js';
import { DEFAULT_SCHEDULER_NAME, buildProfile, type ProfileConfig } from './registry.js';

export interface SchedulerOptions {
  store: Store;
  /** The process's shared informers (nodes, pods); default: the scheduler's own over `store`. */
  informers?: InformerFactory;
  /** Default: StoreBinder over `store` (compare-and-swap on spec.nodeName). */
  binder?: Binder;
  /** Default: a StoreEventRecorder with component `default-scheduler`. */
  recorder?: EventRecorder;
  clock?: Clock;
  /** Uniform in [0, 1): breaks score ties. Default Math.random; tests inject a seeded one. */
  random?: () => number;
  log?: Logger;
  profile?: ProfileConfig | Profile;
  /** 0 = adaptive, as Kubernetes; 100 = consider every node for every pod. */
  percentageOfNodesToScore?: number;
  /** Bindings in flight at once. Default 128 (etcd round trips overlap; measured best at 128–256). */
  bindConcurrency?: number;
  queue?: Omit<QueueOptions, 'clock'>;
  /** First pause before listing again after a failed list or watch, with its own informers. Default 500 ms. */
  watchRetryMs?: number;
  /** Where to report attempts, latency and queue sizes; none by default. */
  metrics?: SchedulerMetricsRegistry;
}

/** The slice of a Prometheus registry the scheduler reports to (api's MetricsRegistry fits). */
export interface SchedulerMetricsRegistry {
  counter(name: string, help: string): { inc(labels?: Record<string, string>, by?: number): void };
  gauge(name: string, help: string, fn?: () => number): unknown;
  histogram(name: string, help: string, buckets?: number[]): { observe(v: number, labels?: Record<string, string>): void };
}

export interface SchedulerStats {
  /** Pods bound by this scheduler. */
  scheduled: number;
  /** Attempts that found no node. */
  unschedulableAttempts: number;
  /** Bindings that failed. */
  bindErrors: number;
}

const isProfile = (p: ProfileConfig | Profile): p is Profile => 'preFilters' in p;

/** Scheduling properties of a node: when none changed, unschedulable pods need no retry. */
function nodeSchedulingKey(n: Node): string {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return JSON.stringify([n.metadata.labels, n.spec?.taints, n.spec?.unschedulable, n.status?.allocatable, n.status?.capacity, ready]);
}

export class Scheduler {
  readonly cache = new SchedulerCache();
  readonly queue: SchedulingQueue;
  readonly stats: SchedulerStats = { scheduled: 0, unschedulableAttempts: 0, bindErrors: 0 };
  private readonly store: Store;
  private readonly informers: InformerFactory;
  private readonly binder: Binder;
  private readonly recorder: EventRecorder;
  private readonly ownRecorder: StoreEventRecorder | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly algorithm: SchedulingAlgorithm;
  private readonly schedulerName: string;
  private readonly bindConcurrency: number;
  private readonly nodeKeys = new Map<string, string>();
  private inFlight = 0;
  private slotWaiters: (() => void)[] = [];
  private readonly background = new Set<Promise<unknown>>();
  private readonly attempts: ReturnType<SchedulerMetricsRegistry['counter']> | undefined;
  private readonly latency: ReturnType<SchedulerMetricsRegistry['histogram']> | undefined;

  constructor(opts: SchedulerOptions) {
    this.store = opts.store;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? componentLogger('scheduler');
    this.binder = opts.binder ?? new StoreBinder(opts.store, this.clock);
    if (opts.recorder) this.recorder = opts.recorder;
    else {
      this.ownRecorder = new StoreEventRecorder({ store: opts.store, component: DEFAULT_SCHEDULER_NAME, clock: this.clock, log: this.log });
      this.recorder = this.ownRecorder;
    }
    const profile = opts.profile === undefined ? buildProfile() : isProfile(opts.profile) ? opts.profile : buildProfile(opts.profile);
    this.schedulerName = profile.schedulerName;
    this.algorithm = new SchedulingAlgorithm(profile, {
      random: opts.random ?? Math.random,
      percentageOfNodesToScore: opts.percentageOfNodesToScore ?? 0,
    });
    this.queue = new SchedulingQueue({ clock: this.clock, ...opts.queue });
    this.bindConcurrency = opts.bindConcurrency ?? 128;
    this.informers =
      opts.informers ?? new InformerFactory({ store: opts.store, clock: this.clock, log: this.log, backoff: { initialMs: opts.watchRetryMs ?? 500 } });
    if (opts.metrics) {
      const m = opts.metrics;
      this.attempts = m.counter('scheduler_schedule_attempts_total', 'Scheduling attempts by result (scheduled, unschedulable, error).');
      this.latency = m.histogram(
        'scheduler_pod_scheduling_duration_seconds',
        'From a pod entering the scheduling queue to its binding being written.',
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      );
      m.gauge('scheduler_pending_pods', 'Pods waiting in the scheduling queue (active, back-off and unschedulable).', () => {
        const q = this.queue.size;
        return q.active + q.backoff + q.unschedulable;
      });
      m.gauge('scheduler_cache_nodes', 'Nodes in the scheduler cache.', () => this.cache.nodeCount);
    }
  }

  /** Schedules until `signal` aborts; then waits for bindings and writes in flight. */
  async run(signal: AbortSignal): Promise<void> {
    // The informers retry their lists until they work: a scheduler that starts
    // while etcd is briefly unavailable waits instead of failing its leader term.
    // Nodes first: on informers already synced (the pod feed's), the cache is replayed at once.
    const nodes = this.informers.informerFor<Node>('nodes');
    const pods = this.informers.informerFor<Pod>('pods');
    nodes.addEventHandler(
      {
        onAdd: (n) => this.onNodeEvent({ type: 'ADDED', object: n }),
        onUpdate: (_, n) => this.onNodeEvent({ type: 'MODIFIED', object: n }),
        onDelete: (n) => this.onNodeEvent({ type: 'DELETED', object: n }),
      },
      { signal },
    );
    pods.addEventHandler(
      {
        onAdd: (p) => this.onPodEvent({ type: 'ADDED', object: p }),
        onUpdate: (_, p) => this.onPodEvent({ type: 'MODIFIED', object: p }),
        onDelete: (p) => this.onPodEvent({ type: 'DELETED', object: p }),
      },
      { signal },
    );
    if (!(await nodes.waitForSync(signal)) || !(await pods.waitForSync(signal))) return;
    this.log.info({ nodes: this.cache.nodeCount, pending: this.queue.size.active }, 'scheduler started');
    this.queue.start();
    const onAbort = () => this.queue.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let sinceYield = 0;
      for (;;) {
        const qp = await this.queue.pop(signal);
        if (!qp) break;
        try {
          this.scheduleOne(qp);
        } catch (err) {
          // A plugin bug must not end the leader's scheduling: log, back off, go on.
          this.log.error({ err, pod: qp.key }, 'scheduling attempt failed');
          this.cache.forgetPod(qp.key);
          this.queue.addBackoff(qp);
        }
        if (this.inFlight >= this.bindConcurrency) await new Promise<void>((r) => this.slotWaiters.push(r));
        // Let watch events and binding replies in between bursts of decisions.
        if (++sinceYield >= 16) {
          sinceYield = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.queue.close();
      await Promise.allSettled([...this.background]);
      await this.ownRecorder?.flush();
      this.log.info({ ...this.stats }, 'scheduler stopped');
    }
  }

  /** One decision for a popped pod. Synchronous: the cache cannot change under it. */
  scheduleOne(qp: QueuedPod): void {
    const cycle = this.queue.schedulingCycle;
    if (this.queue.get(qp.key) !== qp) return; // deleted since it was popped
    const pod = qp.pod;
    const result = this.algorithm.schedule(pod, this.cache.nodeInfos());
    if (result.ok) {
      this.cache.assumePod(pod, result.nodeName);
      this.queue.done(qp.key);
      this.bindInBackground(qp, result.nodeName);
      return;
    }
    this.stats.unschedulableAttempts++;
    this.attempts?.inc({ result: 'unschedulable' });
    this.log.debug({ pod: qp.key, message: result.message }, 'pod is unschedulable');
    this.recorder.event(podRefObject(pod), 'Warning', 'FailedScheduling', result.message);
    this.queue.addUnschedulable(qp, cycle);
    this.track(this.markUnschedulable(pod, result.message));
  }

  private bindInBackground(qp: QueuedPod, nodeName: string): void {
    const pod = qp.pod;
    const namespace = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    this.inFlight++;
    const p = this.binder
      .bind({ namespace, name, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}), nodeName }, pod)
      .then(() => {
        this.stats.scheduled++;
        this.attempts?.inc({ result: 'scheduled' });
        this.latency?.observe((this.clock.now() - qp.enqueuedAt) / 1000);
        this.recorder.event(podRefObject(pod), 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${nodeName}`);
      })
      .catch((err: unknown) => {
        this.cache.forgetPod(qp.key);
        if (err instanceof NotFoundError || err instanceof ConflictError) {
          // Deleted, recreated or bound by someone else: the pod watch brings the truth.
          this.log.debug({ pod: qp.key, err: (err as Error).message }, 'binding not applied');
          return;
        }
        this.stats.bindErrors++;
        this.attempts?.inc({ result: 'error' });
        const message = `Binding rejected: ${(err as Error).message}`;
        this.log.warn({ pod: qp.key, node: nodeName, err }, 'binding failed');
        this.recorder.event(podRefObject(pod), 'Warning', 'FailedScheduling', message);
        this.queue.addBackoff(qp);
      })
      .finally(() => {
        this.inFlight--;
        this.slotWaiters.shift()?.();
      });
    this.track(p);
  }

  private async markUnschedulable(pod: Pod, message: string): Promise<void> {
    const key = { resource: 'pods', namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name ?? '' };
    try {
      await this.store.guaranteedUpdate<Pod>(key, (cur) => {
        if (pod.metadata.uid && cur.metadata.uid !== pod.metadata.uid) throw new NoChange();
        const next = applyUnschedulableCondition(cur, message, this.clock.now());
        if (!next) throw new NoChange();
        return next;
      });
    } catch (err) {
      if (err instanceof NoChange || err instanceof NotFoundError) return;
      this.log.warn({ pod: podKey(pod), err }, 'could not set the PodScheduled condition');
    }
  }

  private track(p: Promise<unknown>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  // ------------------------------------------------------------ informers → cache/queue

  onNodeEvent(ev: WatchEvent<Node>): void {
    const node = ev.object;
    const name = node.metadata.name ?? '';
    if (ev.type === 'DELETED') {
      this.cache.removeNode(name);
      this.nodeKeys.delete(name);
      return;
    }
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') return;
    this.cache.addOrUpdateNode(node);
    const k = nodeSchedulingKey(node);
    if (this.nodeKeys.get(name) !== k) {
      this.nodeKeys.set(name, k);
      this.queue.moveAllToActiveOrBackoff();
    }
  }

  onPodEvent(ev: WatchEvent<Pod>): void {
    const pod = ev.object;
    const key = podKey(pod);
    if (ev.type === 'DELETED') {
      this.queue.delete(key);
      if (this.cache.isPlaced(key) && !this.cache.isAssumed(key)) {
        this.cache.removePod(key);
        this.queue.moveAllToActiveOrBackoff();
      }
      return;
    }
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') return;
    if (pod.spec?.nodeName) {
      this.queue.delete(key);
      if (isTerminalPhase(pod.status?.phase)) {
        if (this.cache.isPlaced(key)) {
          this.cache.removePod(key);
          this.queue.moveAllToActiveOrBackoff();
        }
      } else {
        this.cache.addOrUpdateBoundPod(pod);
      }
      return;
    }
    if (this.cache.isAssumed(key)) return; // our binding is on its way
    if (!this.isOurs(pod)) {
      this.queue.delete(key);
      return;
    }
    this.queue.add(pod);
  }

  /** Pending, not finished, not being deleted, and for this scheduler. */
  private isOurs(pod: Pod): boolean {
    if (pod.metadata.deletionTimestamp) return false;
    if (isTerminalPhase(pod.status?.phase)) return false;
    const sn = pod.spec?.schedulerName;
    return !sn || sn === this.schedulerName;
  }
}

class NoChange extends Error {}

/** The pod as an event's involved object (kind and apiVersion may be absent in storage). */
function podRefObject(pod: Pod): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata };
}
