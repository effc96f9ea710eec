// A controller is one function: `reconcile(key)` reads the latest state for the
// key (from informers), acts idempotently and returns. runController hands it
// the keys of its queue with `workers` in parallel (never one key twice at
// once): a reconcile that throws is retried after the key's back-off, one that
// succeeds is forgotten (its back-off starts afresh); it may ask to be run again
// after a while (a deadline) or, without counting as a failure, after its back-off.
import { componentLogger, realClock, toFlotillaError, type Clock, type Logger } from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { WorkQueue } from './work-queue.js';

export interface ReconcileResult {
  /** Run this key again after this long (a deadline the controller waits for). */
  requeueAfterMs?: number;
  /** Run this key again after its back-off (work left, no error): as a failure for the back-off, not in the error count. */
  requeue?: boolean;
}

/** Something to wait for before the first reconcile (an informer's initial list). */
export interface Syncable {
  waitForSync(signal?: AbortSignal): Promise<boolean>;
}

export interface RunControllerOptions {
  /** `namespace`, `garbage-collector`…: metrics label and log field. */
  name: string;
  queue: WorkQueue;
  reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult | void> | ReconcileResult | void;
  /** Reconciles at once. Default 1. */
  workers?: number;
  /** The controller stops (queue shut down, workers finish their key) when this aborts. */
  signal: AbortSignal;
  /** Waited for before the workers start. */
  waitFor?: Syncable[];
  log?: Logger;
  metrics?: MetricsRegistry;
  clock?: Clock;
}

/** Queue and reconcile metrics of one controller, registered once per process. */
function instrument(o: RunControllerOptions): ((seconds: number, result: 'success' | 'error' | 'requeue') => void) | undefined {
  const m = o.metrics;
  if (!m) return undefined;
  const labels = { name: o.name };
  const depth = m.gauge('workqueue_depth', 'Keys ready in a controller work queue.');
  const adds = m.counter('workqueue_adds_total', 'Keys added to a controller work queue.').with(labels);
  const retries = m.counter('workqueue_retries_total', 'Keys put back into a work queue with back-off.').with(labels);
  const total = m.counter('controller_reconcile_total', 'Reconciles by controller and result (success, error, requeue).');
  const duration = m.histogram('controller_reconcile_duration_seconds', 'Time one reconcile took, by controller.', [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
  ]);
  o.queue.observe({ depth: (n) => depth.set(n, labels), added: () => adds.inc(), retried: () => retries.inc() });
  const series = {
    success: total.with({ controller: o.name, result: 'success' }),
    error: total.with({ controller: o.name, result: 'error' }),
    requeue: total.with({ controller: o.name, result: 'requeue' }),
  };
  return (seconds, result) => {
    series[result].inc();
    duration.observe(seconds, { controller: o.name });
  };
}

/** Runs the controller until `o.signal` aborts; resolves once every worker has finished its key. */
export async function runController(o: RunControllerOptions): Promise<void> {
  const log = o.log ?? componentLogger(o.name);
  const clock = o.clock ?? realClock;
  const { queue, signal } = o;
  const record = instrument(o);
  const onAbort = () => queue.shutDown();
  if (signal.aborted) return queue.shutDown();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (const s of o.waitFor ?? []) {
      if (!(await s.waitForSync(signal))) return;
    }
    log.info({ workers: o.workers ?? 1 }, 'controller started');
    const worker = async (): Promise<void> => {
      for (;;) {
        const key = await queue.get();
        if (key === undefined) return;
        const t0 = clock.now();
        try {
          const r = await o.reconcile(key, signal);
          if (r?.requeue) {
            record?.((clock.now() - t0) / 1000, 'requeue');
            queue.addRateLimited(key);
          } else {
            record?.((clock.now() - t0) / 1000, 'success');
            queue.forget(key);
            if (r?.requeueAfterMs !== undefined) queue.addAfter(key, r.requeueAfterMs);
          }
        } catch (e) {
          record?.((clock.now() - t0) / 1000, 'error');
          if (!signal.aborted) {
            log.warn({ key, retries: queue.retries(key), err: toFlotillaError(e).message }, 'reconcile failed; retrying after a back-off');
            queue.addRateLimited(key);
          }
        } finally {
          queue.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.workers ?? 1) }, () => worker()));
  } finally {
    signal.removeEventListener('abort', onAbort);
    queue.shutDown();
    log.info('controller stopped');
  }
}
