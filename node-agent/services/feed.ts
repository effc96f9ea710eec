// Keeps the agent's ServiceCatalog current from the controller's WatchServices
// stream (agents never talk to etcd). Each connection starts with a complete
// snapshot: it is gathered aside and swapped in whole at SYNC, so the proxy and
// the DNS server go on reading the previous state while a reconnect (or the
// controller's restart over a relist) is under way — never a half-filled catalog.
import { realClock, toFlotillaError, type Clock, type EndpointSlice, type Logger, type Service } from '../../api/index.js';
import type { ServiceWatchEvent } from '../controller-client.js';
import type { MemoryServiceCatalog } from './catalog.js';

export interface ServiceFeedSource {
  watchServices(signal: AbortSignal): AsyncIterable<ServiceWatchEvent>;
}

export interface ServiceFeedOptions {
  source: ServiceFeedSource;
  catalog: MemoryServiceCatalog;
  log: Logger;
  clock?: Clock;
  /** Called after each complete snapshot is in the catalog (metrics, tests). */
  onSnapshot?: (services: number, slices: number) => void;
}

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

/** Runs until `signal` aborts: watch, apply, and on any end reconnect with a capped back-off. */
export async function runServiceFeed(o: ServiceFeedOptions, signal: AbortSignal): Promise<void> {
  const clock = o.clock ?? realClock;
  let backoff = MIN_BACKOFF_MS;
  while (!signal.aborted) {
    try {
      await followOnce(o, signal, () => (backoff = MIN_BACKOFF_MS));
      if (!signal.aborted) o.log.info('service watch ended (the controller starts over): reconnecting');
    } catch (e) {
      if (signal.aborted) return;
      o.log.warn({ err: toFlotillaError(e).message }, 'service watch failed; reconnecting');
    }
    try {
      await clock.sleep(backoff, signal);
    } catch {
      return;
    }
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

/** One stream: the snapshot into the catalog at SYNC, then each change as it comes. */
async function followOnce(o: ServiceFeedOptions, signal: AbortSignal, connected: () => void): Promise<void> {
  let snapshot: { services: Service[]; slices: EndpointSlice[] } | undefined = { services: [], slices: [] };
  for await (const ev of o.source.watchServices(signal)) {
    if (ev.type === 'SYNC') {
      if (snapshot) {
        o.catalog.replace(snapshot.services, snapshot.slices);
        o.onSnapshot?.(snapshot.services.length, snapshot.slices.length);
        snapshot = undefined;
        connected();
      }
      continue;
    }
    if (snapshot) {
      if (ev.type === 'DELETED') continue; // not sent during a snapshot; nothing to hold if it were
      if (ev.resource === 'services') snapshot.services.push(ev.object);
      else snapshot.slices.push(ev.object);
      continue;
    }
    apply(o.catalog, ev);
  }
}

function apply(catalog: MemoryServiceCatalog, ev: Exclude<ServiceWatchEvent, { type: 'SYNC' }>): void {
  const ns = ev.object.metadata.namespace ?? '';
  const name = ev.object.metadata.name ?? '';
  if (ev.resource === 'services') {
    if (ev.type === 'DELETED') catalog.deleteService(ns, name);
    else catalog.upsertService(ev.object);
  } else if (ev.type === 'DELETED') catalog.deleteSlice(ns, name);
  else catalog.upsertSlice(ev.object);
}
