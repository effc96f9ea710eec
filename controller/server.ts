// `flotilla-controller run`: the managed (or external) etcd, the store, the
// HTTPS API, the agents' gRPC ports (bootstrap + node service with subnet leases),
// leader election (LeaderElector) and the leader's loops (scheduler, node
// lifecycle, namespace controller, garbage collector) on the process's shared
// informers, wired in one place, with an orderly stop (stop accepting, end
// watches, resign, close the store, stop etcd).
import { hostname } from 'node:os';
import { componentLogger, realClock, type Clock, type Logger } from '../api/index.js';
import { MetricsRegistry } from '../api/metrics.js';
import { NodePodFeed } from './agentapi/pod-feed.js';
import { NodeServiceFeed } from './agentapi/service-feed.js';
import { startAgentServers } from './agentapi/server.js';
import { buildApiServer, type ApiServer } from './apiserver/app.js';
import { controllerAdmission } from './apiserver/admission.js';
import type { LogProvider } from './apiserver/resource-api.js';
import { LeaderElector } from './election/index.js';
import { registerFlotillaApi } from './flotillaapi/routes.js';
import { registerNodeImageApi } from './flotillaapi/images.js';
import { ManagedEtcd } from './etcd/index.js';
import { StoreEventRecorder } from './events/index.js';
import { GarbageCollector } from './gc/index.js';
import { InformerFactory } from './informers/index.js';
import { LEADER_CONTROLLERS, type LeaderContext } from './leader-controllers.js';
import { BootstrapTokenStore } from './join/token-store.js';
import { NamespaceController } from './namespace/index.js';
import { subnetHandlers } from './network/subnet-handlers.js';
import { SubnetRegistry } from './network/subnet-registry.js';
import { NodeLifecycleController } from './nodelifecycle/controller.js';
import type { LifecycleConfig } from './nodelifecycle/decide.js';
import { ensureEncryptionKeyFile, toEncryptionKeys, watchEncryptionKeyFile } from './pki/encryption-keys.js';
import { bootstrapPortOf, loadStateDir, markInitialTokenSeeded, nodePortOf, statePaths, type ControllerState } from './pki/state-dir.js';
import { TokenAuthenticator } from './pki/tokens.js';
import { Scheduler } from './scheduler/index.js';
import { DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, KubernetesServiceReconciler, ensureKubeDnsService, ServiceAllocator, ServiceWrites, ensureServicesConfig, parseServicesConfig } from './services/index.js';
import { createNodeStreams } from './streams/index.js';
import { AesGcmTransformer } from './storage/encryption.js';
import { EtcdStore, createEtcdClient, type EtcdClientTls } from './storage/etcd-store.js';

export interface RunControllerOptions {
  stateDir: string;
  /** Address to serve the API on; default 0.0.0.0. */
  host?: string;
  /** Default: the port `init` recorded (6443). 0 picks a free one. */
  port?: number;
  /** External etcd client URLs; without them a managed etcd child is started. */
  etcdEndpoints?: string[];
  /** TLS towards the external etcd (--etcd-cafile/--etcd-certfile/--etcd-keyfile); the managed one brings its own. */
  etcdTls?: EtcdClientTls;
  /** Run the scheduler when this replica leads; default true. */
  scheduler?: boolean;
  /** Leader lease TTL in seconds; default the elector's (15). */
  leaseTtlSeconds?: number;
  /** Agents' ports; default what init recorded (6444, 6445). 0 picks a free one. */
  bootstrapPort?: number;
  nodePort?: number;
  /** Node heartbeat grace period (default 40 s). */
  nodeLifecycle?: Partial<LifecycleConfig>;
  /** tolerationSeconds of the not-ready / unreachable NoExecute tolerations admission adds to every pod (default 300 each). */
  defaultTolerationSeconds?: { notReady?: number; unreachable?: number };
  logs?: LogProvider;
  /** Flags of the leader's workload controllers (controller/leader-controllers.ts), by name. */
  controllers?: Record<string, string | number | boolean>;
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
  /** Where agents join (TLS + bootstrap token) and then talk (mutual TLS). */
  bootstrapPort: number;
  nodePort: number;
  tokens: BootstrapTokenStore;
  isLeader(): boolean;
  /** Reads the encryption key file again (SIGHUP; it is also polled every second); false when it is invalid. */
  reloadEncryptionKeys(): boolean;
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
    let etcdTls = o.etcdTls;
    if (endpoints.length === 0) {
      const etcd = new ManagedEtcd({ stateDir: o.stateDir, log: componentLogger('etcd', root), clock });
      await etcd.start();
      cleanups.push({ name: 'stop etcd', run: () => etcd.stop() });
      endpoints = etcd.endpoints;
      etcdTls = etcd.clientTls;
    }
    // Secrets are encrypted in etcd under the state dir's keys (a state dir from before them gets one now).
    const keyFile = statePaths(o.stateDir).encryptionKeys;
    const keyring = ensureEncryptionKeyFile(keyFile, clock.now());
    if (keyring.created) {
      log.info({ file: keyFile, keyId: keyring.entries[0]!.id }, 'the state dir had no encryption key (an older init made it): created one; Secrets are encrypted from their next write');
    }
    const encryption = new AesGcmTransformer(toEncryptionKeys(keyring.entries), { source: keyFile });
    const keyWatch = watchEncryptionKeyFile(keyFile, encryption, log);
    cleanups.push({ name: 'stop watching the encryption keys', run: async () => keyWatch.stop() });
    log.info({ file: keyFile, encryptingWith: encryption.primaryKeyId, keys: encryption.keyIds() }, 'Secrets are encrypted at rest');
    const metrics = new MetricsRegistry().withProcessMetrics();
    const store = new EtcdStore({ endpoints, tls: etcdTls, log: componentLogger('store', root), clock, metrics, encryption });
    cleanups.push({ name: 'close the store', run: () => store.close() });

    // One list+watch and one cache per resource for the whole process: the agents' pod feed and
    // the leader's scheduler share the pods informer, every agent's lease stream the leases one.
    const informers = new InformerFactory({ store, clock, log: componentLogger('informers', root) });
    cleanups.push({ name: 'stop the informers', run: async () => informers.stop() });
    const registry = new SubnetRegistry({ store, etcd: store.client, log: componentLogger('network', root), informers });
    const network = await registry.ensureConfig(state.config.network);
    log.info({ network }, 'network config in force');
    // ClusterIPs and NodePorts: the ranges init chose, stored once in etcd for every replica
    const servicesConfig = await ensureServicesConfig(store.client, {
      serviceCIDR: state.config.serviceCIDR ?? DEFAULT_SERVICE_CIDR,
      nodePortRange: state.config.serviceNodePortRange ?? DEFAULT_NODE_PORT_RANGE,
    });
    const serviceRanges = parseServicesConfig(servicesConfig);
    const serviceWrites = new ServiceWrites(new ServiceAllocator({ store, serviceCidr: serviceRanges.cidr, nodePorts: serviceRanges.nodePorts, clock, log: componentLogger('services', root) }));
    log.info({ services: servicesConfig }, 'services config in force');

    const tokens = new BootstrapTokenStore(store, clock);
    await seedInitialToken(state, tokens, clock, log);

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

    const host = o.host ?? '0.0.0.0';
    // The agents' side: Join on the bootstrap port, everything else with a node certificate.
    const lifecycle = { gracePeriodMs: 40_000, ...o.nodeLifecycle };
    const agentLog = componentLogger('agentapi', root);
    const agents = await startAgentServers({
      host,
      bootstrapPort: o.bootstrapPort ?? bootstrapPortOf(state.config),
      nodePort: o.nodePort ?? nodePortOf(state.config),
      servingCertPem: state.serving.certPem,
      servingKeyPem: state.serving.keyPem,
      store,
      tokens,
      ca: state.ca,
      clock,
      log: agentLog,
      // Agents renew every 10 s by default; the lease says how long a silent node is trusted.
      leaseDurationSeconds: Math.max(1, Math.round(lifecycle.gracePeriodMs / 1000)),
      extraNodeHandlers: subnetHandlers(registry, store, agentLog),
      podFeed: new NodePodFeed(informers, agentLog),
      serviceFeed: new NodeServiceFeed(informers, agentLog),
    });
    cleanups.push({ name: 'close the agent ports', run: () => agents.stop() });
    // Logs and exec: the API server dials the pod's agent (its stream port) with a client cert of the CA.
    const nodeStreams = createNodeStreams({ store, ca: state.ca, clock, log: componentLogger('streams', root) });
    cleanups.push({ name: 'close the node stream connections', run: async () => nodeStreams.close() });
    log.info({ bootstrapPort: agents.bootstrapPort, nodePort: agents.nodePort }, 'agent ports listening');

    let election: LeaderElector | undefined;
    const api = buildApiServer({
      store,
      informers,
      admission: controllerAdmission({
        ...(o.defaultTolerationSeconds?.notReady !== undefined ? { notReadySeconds: o.defaultTolerationSeconds.notReady } : {}),
        ...(o.defaultTolerationSeconds?.unreachable !== undefined ? { unreachableSeconds: o.defaultTolerationSeconds.unreachable } : {}),
      }),
      auth: new TokenAuthenticator([{ token: state.adminToken, user: 'admin' }]),
      clock,
      log: componentLogger('apiserver', root),
      metrics,
      health: { etcdUp: () => etcdUp, leader: () => election?.isLeader() ?? false },
      https: { cert: `${state.serving.certPem.trim()}\n${state.ca.certPem.trim()}\n`, key: state.serving.keyPem, clientCa: state.ca.certPem },
      logs: o.logs ?? nodeStreams.logs,
      exec: nodeStreams.exec,
      services: serviceWrites,
      extraRoutes: (app) => {
        registerFlotillaApi(app, {
          tokens,
          subnets: registry,
          join: { address: state.config.advertiseAddresses[0] ?? '127.0.0.1', bootstrapPort: agents.bootstrapPort, caPem: state.ca.certPem },
          clock,
        });
        registerNodeImageApi(app, { images: nodeStreams.images });
      },
    });
    await api.api.bootstrap();
    const address = await api.app.listen({ host, port: o.port ?? state.config.apiPort });
    const port = Number(new URL(address).port);
    cleanups.push({ name: 'close the API server', run: () => api.app.close() });
    // default/kubernetes: this replica's advertised address among its endpoints while it lives
    const kubernetesService = new KubernetesServiceReconciler({
      api: api.api,
      store,
      address: state.config.advertiseAddresses[0] ?? '127.0.0.1',
      port,
      clusterIP: serviceRanges.kubernetesIP,
      clock,
      log: componentLogger('kubernetes-service', root),
    });
    await kubernetesService.start();
    await ensureKubeDnsService(api.api, serviceRanges.dnsIP, componentLogger('kube-dns', root));
    cleanups.push({ name: 'leave the kubernetes Service endpoints', run: () => kubernetesService.stop() });
    log.info({ address: `https://${host.includes(':') ? `[${host}]` : host}:${port}` }, 'API server listening');

    // Its own connection, without the host breaker, so API traffic never starves the lease renewal.
    const electionClient = createEtcdClient({ endpoints, tls: etcdTls, hostBreaker: false });
    cleanups.push({ name: 'close the election etcd client', run: async () => electionClient.close() });
    const elector = new LeaderElector({
      client: electionClient,
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
            log.info({ identity: elector.identity }, 'leading: starting the node lifecycle, namespace and garbage collection controllers and the scheduler');
            const events = new StoreEventRecorder({ store, component: 'node-controller', clock, log: componentLogger('events', root) });
            const nodes = new NodeLifecycleController({
              store,
              api: api.api,
              clock,
              informers,
              metrics,
              config: lifecycle,
              log: componentLogger('nodelifecycle', root),
              recordEvent: async (ev) => events.event({ apiVersion: 'v1', kind: ev.object.kind, metadata: { name: ev.object.name, namespace: ev.object.namespace, uid: ev.object.uid } }, ev.type, ev.reason, ev.message),
              // A deleted node gives its pod subnet back.
              onNodeGone: (node) => registry.release(node),
            });
            const namespaces = new NamespaceController({ api: api.api, store, informers, clock, metrics, log: componentLogger('namespace-controller', root) });
            const gcLog = componentLogger('garbage-collector', root);
            const gcEvents = new StoreEventRecorder({ store, component: 'garbage-collector-controller', clock, log: gcLog });
            const gc = new GarbageCollector({ api: api.api, store, informers, recorder: gcEvents, clock, metrics, log: gcLog });
            // Each loop ends when leadership is lost (the signal): its informer handlers go with it.
            const loops: Promise<void>[] = [nodes.run(signal), namespaces.run(signal), gc.run(signal), purgeExpiredTokens(tokens, clock, signal, log)];
            if (o.scheduler !== false) loops.push(new Scheduler({ store, informers, clock, log: componentLogger('scheduler', root), metrics }).run(signal));
            const recorders: StoreEventRecorder[] = [events, gcEvents];
            const ctx: LeaderContext = {
              api: api.api,
              store,
              informers,
              clock,
              metrics,
              log: (component) => componentLogger(component, root),
              recorder: (component) => {
                const r = new StoreEventRecorder({ store, component, clock, log: componentLogger('events', root) });
                recorders.push(r);
                return r;
              },
              flags: o.controllers ?? {},
            };
            for (const entry of LEADER_CONTROLLERS) loops.push(entry.start(ctx).run(signal));
            await Promise.all(loops);
            await Promise.all(recorders.map((r) => r.flush()));
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
      bootstrapPort: agents.bootstrapPort,
      nodePort: agents.nodePort,
      tokens,
      isLeader: () => el.isLeader(),
      reloadEncryptionKeys: () => keyWatch.reload(),
      stop: () => (stopping ??= cleanup()),
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Puts the token `init` made into etcd (hashed) unless it is there, expired, or was deleted on purpose. */
async function seedInitialToken(state: ControllerState, tokens: BootstrapTokenStore, clock: Clock, log: Logger): Promise<void> {
  const t = state.initialToken;
  if (!t) return;
  const remaining = t.expires ? Date.parse(t.expires) - clock.now() : undefined;
  if (remaining !== undefined && remaining <= 0) return;
  // Seed once: a token an admin deleted must not come back at the next start.
  if (t.seeded) return;
  if (!(await tokens.get(t.token.slice(0, 6)))) {
    await tokens.create(remaining, 'the token printed by flotilla-controller init', t.token);
    log.info({ id: t.token.slice(0, 6) }, 'stored the bootstrap token printed by init');
  }
  markInitialTokenSeeded(state.stateDir);
}

async function purgeExpiredTokens(tokens: BootstrapTokenStore, clock: Clock, signal: AbortSignal, log: Logger): Promise<void> {
  while (!signal.aborted) {
    const n = await tokens.purgeExpired().catch(() => 0);
    if (n > 0) log.info({ tokens: n }, 'removed expired bootstrap tokens');
    try {
      await clock.sleep(60_000, signal);
    } catch {
      return;
    }
  }
}
