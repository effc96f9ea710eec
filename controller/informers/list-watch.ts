// The list/watch/relist loop, written once (Kubernetes' Reflector): list, hand
// the list over as the truth, watch from the list's revision, hand over each
// event; when the watch history is gone (410 after a compaction), the watch
// fails or simply ends, list again — after a back-off that grows while it keeps
// failing. Every informer runs on this loop; so can anything else that lists
// and watches (a source is two functions, not necessarily a Store).
import { GoneError, toFlotillaError, type Clock, type KubeObject, type Logger, type WatchEvent } from '../../api/index.js';
import type { Store } from '../storage/store.js';

/** Where a loop lists and watches. */
export interface ListWatchSource<T> {
  list(): Promise<{ items: T[]; resourceVersion: string }>;
  /** Events after `resourceVersion`; throws GoneError when it was compacted. Ends when `signal` aborts. */
  watch(resourceVersion: string, signal: AbortSignal): AsyncIterable<WatchEvent<T>>;
}

/** What the loop feeds. */
export interface ListWatchSink<T> {
  /** A full list, the truth as of `resourceVersion`. `relist`: not the loop's first. */
  replace(items: T[], resourceVersion: string, relist: boolean): void;
  /** One watch event (ADDED, MODIFIED or DELETED). */
  event(ev: WatchEvent<T>): void;
}

export interface BackoffOptions {
  /** Wait after the first failure (a 410 is relisted at once the first time). Default 200 ms. */
  initialMs?: number;
  /** Ceiling of the doubling wait. Default 5 s. */
  maxMs?: number;
}

export interface ListWatchOptions {
  /** Names the loop in logs (`pods`, `network/subnets`). */
  resource: string;
  signal: AbortSignal;
  clock: Clock;
  log: Logger;
  backoff?: BackoffOptions;
}

/** A source over the Store: one resource, optionally one namespace. */
export function storeSource<T extends KubeObject>(store: Store, resource: string, namespace?: string): ListWatchSource<T> {
  const ns = namespace === undefined ? {} : { namespace };
  return {
    list: () => store.list<T>(resource, ns),
    watch: (resourceVersion, signal) => store.watch<T>(resource, { ...ns, resourceVersion, signal }),
  };
}

/** Runs list → watch → (relist …) until `o.signal` aborts. Never throws. */
export async function runListWatch<T extends KubeObject>(source: ListWatchSource<T>, sink: ListWatchSink<T>, o: ListWatchOptions): Promise<void> {
  const initialMs = o.backoff?.initialMs ?? 200;
  const maxMs = Math.max(initialMs, o.backoff?.maxMs ?? 5_000);
  const { signal, clock, log } = o;
  let failures = 0;
  let listed = false;
  const pause = async (gone: boolean): Promise<void> => {
    failures++;
    // The first 410 is an ordinary compaction: list again at once.
    const ms = gone && failures === 1 ? 0 : Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
    if (ms > 0) await clock.sleep(ms, signal).catch(() => undefined);
  };
  while (!signal.aborted) {
    let rv: string;
    try {
      const list = await source.list();
      if (signal.aborted) return;
      sink.replace(list.items, list.resourceVersion, listed);
      listed = true;
      rv = list.resourceVersion;
    } catch (e) {
      if (signal.aborted) return;
      log.warn({ resource: o.resource, err: toFlotillaError(e).message, failures: failures + 1 }, 'list failed; retrying');
      await pause(false);
      continue;
    }
    const since = clock.now();
    try {
      for await (const ev of source.watch(rv, signal)) {
        if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED' && ev.type !== 'DELETED') continue;
        failures = 0;
        sink.event(ev);
        rv = ev.object.metadata?.resourceVersion ?? rv;
      }
      if (signal.aborted) return;
      log.info({ resource: o.resource }, 'watch ended; listing again');
      if (clock.now() - since > maxMs) failures = 0;
      await pause(false);
    } catch (e) {
      if (signal.aborted) return;
      // A watch that ran for a while before failing starts the back-off afresh.
      if (clock.now() - since > maxMs) failures = 0;
      if (e instanceof GoneError) {
        log.info({ resource: o.resource }, 'watch history compacted; listing again');
        await pause(true);
      } else {
        log.warn({ resource: o.resource, err: toFlotillaError(e).message }, 'watch failed; listing again');
        await pause(false);
      }
    }
  }
}
