// `flotilla-controller run`: the managed (or external) etcd, the store, the
// HTTPS API, leader election and the leader's loops, wired in one place, with
// an orderly stop (stop accepting, end watches, resign, close the store, stop etcd).
import { hostname } from 'node:os';
import type { Etcd3 } from 'etcd3';
import { componentLogger, realClock, type Clock, type Logger } from '../api/index.js';
import { MetricsRegistry } from '../api/metrics.js';
import { buildApiServer, type ApiServer } from './apiserver/app.js';
import type { LogProvider } from './apiserver/resource-api.js';
import { ManagedEtcd } from './etcd/index.js';
import { SubnetRegistry } from './network/subnet-registry.js';
import { loadStateDir, type ControllerState } from './pki/state-dir.js';
import { TokenAuthenticator } from './pki/tokens.js';
import { Scheduler } from './scheduler/index.js';
import { EtcdStore } from './storage/etcd-store.js';

export interface RunControllerOptions {
  stateDir: string;
  /** Address to serve the API on; default 0.0.0.0. */
  host?: string;
  /** Default: the port `init` recorded (6443). 0 picks a free one. */
  port?: number;
  /** External etcd client URLs; without them a managed etcd child is started. */
  etcdEndpoints?: string[];
  /** Run the scheduler when this replica leads; default true. */
  scheduler?: boolean;
  /** Leader lease TTL in seconds; default 10. */
  leaseTtlSeconds?: number;
  logs?: LogProvider;
  log?: Logger;
  clock?: Clock;
}

export interface RunningController {
  /** https://host:port the API listens on. */
  url: string;
  port: number;
  state: ControllerState;
  store: EtcdStore;
  api: ApiServer;
  etcdEndpoints: string[];
  isLeader(): boolean;
  stop(): Promise<void>;
}

/**
 * One replica's bid for leadership (an etcd election). While elected it runs
 * `lead(signal)`; on losing the lease the signal aborts and it campaigns again.
 */
class LeaderElection {
  private leader = false;
  private stopped = false;
  private campaign: ReturnType<ReturnType<Etcd3['election']>['campaign']> | undefined;
  private leading: AbortController | undefined;
  private retry: { cancel(): void } | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly identity: string,
    private readonly ttl: number,
    private readonly lead: (signal: AbortSignal) => Promise<void>,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    if (this.stopped) return;
    const c = this.client.election('flotilla/leader', this.ttl).campaign(this.identity);
    this.campaign = c;
    c.on('elected', () => {
      if (this.stopped) return;
      this.leader = true;
      this.log.info({ identity: this.identity }, 'elected leader');
      const ac = new AbortController();
      this.leading = ac;
      this.lead(ac.signal).catch((e) => this.log.error({ err: (e as Error).message }, 'leader loop failed'));
    });
    c.on('error', (e: Error) => {
      this.log.warn({ err: e.message }, 'leader campaign failed; campaigning again');
      this.demote();
      if (!this.stopped) this.retry = this.clock.setTimeout(() => this.start(), 1000);
    });
  }

  private demote(): void {
    if (this.leader) this.log.info('no longer leader');
    this.leader = false;
    this.leading?.abort();
    this.leading = undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.retry?.cancel();
    this.demote();
    await this.campaign?.resign().catch(() => undefined);
  }
}

export async function runController(o: RunControllerOptions): Promise<RunningController> {
  const root = o.log;
  const log = componentLogger('controller', root);
  const clock = o.clock ?? realClock;
  const state = loadStateDir(o.stateDir);
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((e) => log.warn({ err: (e as Error).message }, 'cleanup step failed'));
    cleanups.length = 0;
  };
  try {
    let endpoints = o.etcdEndpoints ?? [];
    if (endpoints.length === 0) {
      const etcd = new ManagedEtcd({ stateDir: o.stateDir, log: componentLogger('etcd', root), clock });
      await etcd.start();
      cleanups.push(() => etcd.stop());
      endpoints = etcd.endpoints;
    }
    const store = new EtcdStore({ endpoints, log: componentLogger('store', root), clock });
    cleanups.push(() => store.close());

    const network = await new SubnetRegistry({ store, etcd: store.client, log: componentLogger('network', root) }).ensureConfig(state.config.network);
    log.info({ network }, 'network config in force');

    let etcdUp = true;
    const probe = async () => {
      try {
        await store.currentRevision();
        etcdUp = true;
      } catch {
        if (etcdUp) log.warn('etcd does not answer');
        etcdUp = false;
      }
    };
    const probeTimer = setInterval(() => void probe(), 2000);
    probeTimer.unref();
    cleanups.push(async () => clearInterval(probeTimer));

    let election: LeaderElection | undefined;
    const metrics = new MetricsRegistry().withProcessMetrics();
    const api = buildApiServer({
      store,
      auth: new TokenAuthenticator([{ token: state.adminToken, user: 'admin' }]),
      clock,
      log: componentLogger('apiserver', root),
      metrics,
      health: { etcdUp: () => etcdUp, leader: () => election?.isLeader() ?? false },
      https: { cert: `${state.serving.certPem.trim()}\n${state.ca.certPem.trim()}\n`, key: state.serving.keyPem },
      ...(o.logs ? { logs: o.logs } : {}),
    });
    await api.api.bootstrap();
    const host = o.host ?? '0.0.0.0';
    const address = await api.app.listen({ host, port: o.port ?? state.config.apiPort });
    const port = Number(new URL(address).port);
    cleanups.push(() => api.app.close());
    log.info({ address: `https://${host.includes(':') ? `[${host}]` : host}:${port}` }, 'API server listening');

    const identity = `${hostname()}-${process.pid}-${port}`;
    election = new LeaderElection(
      store.client,
      identity,
      o.leaseTtlSeconds ?? 10,
      async (signal) => {
        if (o.scheduler === false) return;
        const scheduler = new Scheduler({ store, clock, log: componentLogger('scheduler', root) });
        await scheduler.run(signal);
      },
      componentLogger('election', root),
      clock,
    );
    election.start();
    const el = election;
    cleanups.push(() => el.stop());

    let stopping: Promise<void> | undefined;
    return {
      url: `https://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`,
      port,
      state,
      store,
      api,
      etcdEndpoints: endpoints,
      isLeader: () => el.isLeader(),
      stop: () => (stopping ??= cleanup()),
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
