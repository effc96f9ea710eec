// What the leader gives each workload controller (controller/leader-controllers.ts
// lists them); a module of types only, so controllers import it without a cycle.
import type { Clock, Logger } from '../api/index.js';
import type { MetricsRegistry } from '../api/metrics.js';
import type { ResourceApi } from './apiserver/resource-api.js';
import type { EventRecorder } from './events/index.js';
import type { InformerFactory } from './informers/index.js';
import type { Store } from './storage/store.js';

export interface LeaderContext {
  /** Writes with the API's semantics (defaults, validation, admission, graceful deletes). */
  api: ResourceApi;
  /** Live reads and compare-and-swap writes. */
  store: Store;
  informers: InformerFactory;
  clock: Clock;
  metrics: MetricsRegistry;
  /** A logger with the component's name. */
  log(component: string): Logger;
  /** An event recorder reporting as `component` (e.g. `replicaset-controller`); flushed when leadership ends. */
  recorder(component: string): EventRecorder;
  /** Controller flags given to `flotilla-controller run` (see RunControllerOptions.controllers). */
  flags: Readonly<Record<string, string | number | boolean>>;
}

export interface LeaderController {
  run(signal: AbortSignal): Promise<void>;
}
