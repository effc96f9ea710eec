// `flotilla-controller run`: the managed (or external) etcd, the store, the
// HTTPS API, leader election (LeaderElector) and the leader's loops, wired in one place, with
// an orderly stop (stop accepting, end watches, resign, close the store, stop etcd).
import { hostname } from 'node:os';
import { componentLogger, realClock, type Clock, type Logger } from '../api/index.js';
import { MetricsRegistry } from '../api/metrics.js';
import { buildApiServer, type ApiServer } from './apiserver/app.js';
import type { LogProvider } from './apiserver/resource-api.js';
import { LeaderElector } from './election/index.js';
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
  /** Leader lease TTL in seconds; default the elector's (5). */
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

export async function runController(o: RunControllerOptions): Promise<RunningController> {
  const root = o.log;
  const log = componentLogger('controller', root);
  const clock = o.clock ?? realClock;
  const state = loadStateDir(o.stateDir);
  const cleanups: { name: string; run: () => Promise<void> }[] = [];
  const cleanup = async () => {
    // Each step is bounded, so one stuck step cannot keep etcd running.
    for (const { name, run: c } of cleanups.reverse()) {
      log.debug({ step: name }, 'shutdown step');
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn({ step: name }, 'a shutdown step took more than 5 s; going on');
          resolve();
        }, 5000);
      });
      await Promise.race([c().catch((e) => log.warn({ err: (e as Error).message }, 'cleanup step failed')), limit]);
      clearTimeout(timer);
    }
    cleanups.length = 0;
  };
  try {
    let endpoints = o.etcdEndpoints ?? [];
    if (endpoints.length === 0) {
      const etcd = new ManagedEtcd({ stateDir: o.stateDir, log: componentLogger('etcd', root), clock });
      await etcd.start();
      cleanups.push({ name: 'stop etcd', run: () => etcd.stop() });
      endpoints = etcd.endpoints;
    }
    const store = new EtcdStore({ endpoints, log: componentLogger('store', root), clock });
    cleanups.push({ name: 'close the store', run: () => store.close() });

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
    cleanups.push({ name: 'stop the etcd probe', run: async () => clearInterval(probeTimer) });

    let election: LeaderElector | undefined;
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
    cleanups.push({ name: 'close the API server', run: () => api.app.close() });
    log.info({ address: `https://${host.includes(':') ? `[${host}]` : host}:${port}` }, 'API server listening');

    const elector = new LeaderElector({
      client: store.client,
      identity: `${hostname()}-${process.pid}-${port}`,
      ...(o.leaseTtlSeconds ? { ttlSeconds: o.leaseTtlSeconds } : {}),
      clock,
      log: componentLogger('election', root),
    });
    election = elector;
    const electionStop = new AbortController();
    const electionDone = elector
      .run(
        {
          onStartedLeading: async (signal) => {
            log.info({ identity: elector.identity }, 'leading: starting the scheduler');
            if (o.scheduler === false) return;
            const scheduler = new Scheduler({ store, clock, log: componentLogger('scheduler', root) });
            await scheduler.run(signal);
          },
          onStoppedLeading: () => log.info('no longer leading'),
        },
        electionStop.signal,
      )
      .catch((e) => log.error({ err: (e as Error).message }, 'leader election ended with an error'));
    cleanups.push({
      name: 'leave the election',
      run: async () => {
        electionStop.abort();
        await electionDone;
      },
    });
    const el = elector;

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
