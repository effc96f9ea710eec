// The service proxy in the agent: keeps this node's nftables table (through
// netplugin/proxy's ServiceProxy) equal to what the ServiceCatalog says.
//  - Nothing is programmed before the catalog's first complete list: an agent
//    restarting over a table its predecessor left must not replace it with an
//    empty one. The first sync rewrites the table whole in one transaction
//    (ServiceProxy takes an existing table over), so traffic has no gap.
//  - Changes are coalesced: a change schedules one sync a few milliseconds out,
//    and changes arriving while a sync runs make exactly one more after it —
//    a burst is one transaction, a single change is programmed at once.
//  - A re-check on a timer reads the kernel's table back and repairs drift
//    (ServiceProxy.check), counted and reported as a Warning event on the Node.
//  - A failed transaction leaves the previous rule set in place (nft's atomic
//    commit); it is reported (event, metric) and retried with a back-off.
// Stopping leaves the table in the kernel: Services keep answering while the
// agent is away, and the next agent takes the table over.
import { componentLogger, realClock, toFlotillaError, type Clock, type Logger, type Timer } from '../../api/index.js';
import type { Counter, Gauge, Histogram, MetricsRegistry } from '../../api/metrics.js';
import type { CheckResult, ProxyNode, ProxyServicePort, SyncResult } from '../../netplugin/proxy/index.js';
import type { ServiceCatalog } from './catalog.js';
import { buildProxyModel } from './proxy-model.js';

/** What the runner drives: ServiceProxy, or a fake in unit tests. */
export interface ProxyApplier {
  sync(services: readonly ProxyServicePort[], node: ProxyNode): Promise<SyncResult>;
  check(): Promise<CheckResult>;
}

/** An Event about this node: the agent sends it to the controller. */
export type NodeEventSink = (type: 'Normal' | 'Warning', reason: string, message: string) => void;

export const PROXY_DRIFT_REASON = 'ProxyRulesDrifted';
export const PROXY_SYNC_FAILED_REASON = 'ProxySyncFailed';
/** Default period of the re-check that repairs drift (kube-proxy's --iptables-sync-period is 30 s too). */
export const DEFAULT_PROXY_RESYNC_MS = 30_000;

export interface ProxyRunnerOptions {
  catalog: ServiceCatalog;
  proxy: ProxyApplier;
  node: ProxyNode;
  event: NodeEventSink;
  metrics?: MetricsRegistry;
  /** Period of the drift re-check; default 30 s. */
  resyncMs?: number;
  /** How long a change waits for others to join its transaction; default 5 ms. */
  coalesceMs?: number;
  clock?: Clock;
  log?: Logger;
}

const MAX_RETRY_MS = 30_000;
/** The same ProxySyncFailed message is recorded again after this long, not on every retry. */
const FAILURE_EVENT_EVERY_MS = 60_000;

interface RunnerMetrics {
  syncs: Counter;
  errors: Counter;
  duration: Histogram;
  repairs: Counter;
  ports: Gauge;
}

function registerMetrics(m: MetricsRegistry): RunnerMetrics {
  return {
    syncs: m.counter('flotilla_proxy_syncs_total', 'Service proxy rule syncs, by mode (full, incremental, none: nothing to change).'),
    errors: m.counter('flotilla_proxy_sync_errors_total', 'Service proxy syncs that failed (the previous rules stayed in place).'),
    duration: m.histogram('flotilla_proxy_sync_duration_seconds', 'Time from a sync starting to its nftables transaction being committed.'),
    repairs: m.counter('flotilla_proxy_drift_repairs_total', 'Times the periodic re-check found the kernel table differing from the plan and rewrote it.'),
    ports: m.gauge('flotilla_proxy_service_ports', 'Service ports programmed by this node\'s proxy.'),
  };
}

export class ProxyRunner {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly metrics: RunnerMetrics | undefined;
  private unsubscribe: (() => void) | undefined;
  private pending: Timer | undefined;
  private running: Promise<void> | undefined;
  /** A change arrived while a sync ran: one more sync after it. */
  private dirty = false;
  private retryMs = 0;
  private retryTimer: Timer | undefined;
  private resyncTimer: Timer | undefined;
  private stopped = false;
  private lastFailure: { message: string; at: number } | undefined;
  /** Invalid Services already warned about (by `ns/name reason`), so each is logged once. */
  private readonly warned = new Set<string>();
  /** Successful syncs and the last one's result (tests, diagnostics). */
  syncCount = 0;
  lastSync: SyncResult | undefined;

  constructor(private readonly o: ProxyRunnerOptions) {
    this.clock = o.clock ?? realClock;
    this.log = o.log ?? componentLogger('service-proxy');
    this.metrics = o.metrics ? registerMetrics(o.metrics) : undefined;
  }

  start(): void {
    this.unsubscribe = this.o.catalog.onChange(() => this.changed());
    if (this.o.catalog.synced()) this.changed();
    this.scheduleResync();
  }

  /** A catalog change: sync soon, in one transaction with whatever else arrives meanwhile. */
  changed(): void {
    if (this.stopped || !this.o.catalog.synced()) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.pending) return;
    this.pending = this.clock.setTimeout(() => {
      this.pending = undefined;
      void this.runSync();
    }, this.o.coalesceMs ?? 5);
  }

  private runSync(): Promise<void> {
    const run = this.syncOnce().finally(() => {
      this.running = undefined;
      if (this.dirty && !this.stopped) {
        this.dirty = false;
        this.changed();
      }
    });
    this.running = run;
    return run;
  }

  private async syncOnce(): Promise<void> {
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    const started = this.clock.now();
    const model = buildProxyModel(this.o.catalog, this.o.node);
    this.warnInvalid(model.skipped);
    try {
      const r = await this.o.proxy.sync(model.ports, this.o.node);
      this.syncCount++;
      this.lastSync = r;
      this.retryMs = 0;
      this.lastFailure = undefined;
      this.metrics?.syncs.inc({ mode: r.mode });
      this.metrics?.duration.observe((this.clock.now() - started) / 1000);
      this.metrics?.ports.set(model.ports.length);
      if (r.mode !== 'none') this.log.debug({ mode: r.mode, lines: r.lines, ports: model.ports.length, ms: this.clock.now() - started }, 'service proxy rules synced');
    } catch (e) {
      this.metrics?.errors.inc();
      const message = toFlotillaError(e).message;
      this.log.error({ err: message }, 'service proxy sync failed: the previous rules stay in place');
      this.reportFailure(message);
      this.retryMs = Math.min(this.retryMs === 0 ? 1_000 : this.retryMs * 2, MAX_RETRY_MS);
      if (!this.stopped) this.retryTimer = this.clock.setTimeout(() => this.changed(), this.retryMs);
    }
  }

  private warnInvalid(skipped: ReturnType<typeof buildProxyModel>['skipped']): void {
    for (const s of skipped) {
      if (!s.invalid) continue;
      const k = `${s.service} ${s.reason}`;
      if (this.warned.has(k)) continue;
      this.warned.add(k);
      this.log.warn({ service: s.service, err: s.reason }, 'Service left out of the proxy rules');
    }
    if (this.warned.size > 10_000) this.warned.clear();
  }

  private reportFailure(message: string): void {
    const now = this.clock.now();
    const last = this.lastFailure;
    if (last && last.message === message && now - last.at < FAILURE_EVENT_EVERY_MS) return;
    this.lastFailure = { message, at: now };
    this.o.event('Warning', PROXY_SYNC_FAILED_REASON, `Service proxy rules could not be applied (the previous rules stay in place): ${cut(message)}`);
  }

  private scheduleResync(): void {
    if (this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      void this.recheck().finally(() => this.scheduleResync());
    }, this.o.resyncMs ?? DEFAULT_PROXY_RESYNC_MS);
  }

  /** The periodic re-check: the kernel's table against the last applied plan; drift is rewritten and reported. */
  async recheck(): Promise<CheckResult | undefined> {
    if (this.stopped || this.syncCount === 0) return undefined;
    // After any sync under way, so the check compares against the newest plan.
    if (this.running) await this.running;
    try {
      const r = await this.o.proxy.check();
      if (r.repaired) {
        this.metrics?.repairs.inc();
        const shown = r.drift.slice(0, 5).join('; ');
        const more = r.drift.length > 5 ? ` and ${r.drift.length - 5} more` : '';
        this.o.event('Warning', PROXY_DRIFT_REASON, `Service proxy rules differed from the plan and were rewritten: ${cut(shown)}${more}`);
      }
      return r;
    } catch (e) {
      const message = toFlotillaError(e).message;
      this.metrics?.errors.inc();
      this.log.error({ err: message }, 'service proxy re-check failed');
      this.reportFailure(message);
      return undefined;
    }
  }

  /** Stops syncing; the table stays in the kernel (see the file comment). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.pending?.cancel();
    this.pending = undefined;
    this.dirty = false;
    this.retryTimer?.cancel();
    this.resyncTimer?.cancel();
    if (this.running) await this.running;
  }
}

/** Event messages stay short: nft's errors can quote a whole transaction. */
function cut(s: string, max = 900): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
