#!/usr/bin/env -S node --max-semi-space-size=1
// flotilla-agent: the node agent daemon.
// (The shebang caps V8's young generation at 1 MB a semi-space: the agent's
// allocation is many small short-lived objects, and the default 16 MB
// semi-spaces alone cost it ~30 MB of RSS with 30 pods — see BENCHMARKS.md,
// pod-running. Start it with the same flag when not through the bin.)
//   flotilla-agent join --server HOST:PORT --token T --ca-hash sha256:H [--node-name N] [--node-ip IP]
//   flotilla-agent run  [--state-dir DIR]          (after a join: the credential is in the state dir)
//   flotilla-agent join … --hollow N               (N simulated nodes in one process, for scale tests)
import { Command, CommanderError, Option } from 'commander';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { componentLogger, createRootLogger, dns1123SubdomainErrors, InvalidError, toFlotillaError, type Logger } from '../api/index.js';
import { MetricsRegistry } from '../api/metrics.js';
import { startDaemonHttp } from '../api/daemon-http.js';
import { DEFAULT_STREAM_PORT } from '../api/streams-protocol.js';
import { Agent } from './agent.js';
import { clearImageScratch, imageAdminOf, startStreamServer } from './streams/index.js';
import { ControllerClient } from './controller-client.js';
import { HollowRuntime } from './hollow-runtime.js';
import { createNodeCsr } from './join/credentials.js';
import { credentialFor } from './join/join.js';
import { createNodeRuntime } from './runtime-factory.js';
import { DEFAULT_CLUSTER_DNS, DEFAULT_CLUSTER_DOMAIN } from './dns/index.js';
import { parseResyncPeriod, startServiceProxy } from './services/proxy-start.js';

interface Flags {
  server?: string;
  token?: string;
  caHash?: string;
  nodeName?: string;
  nodeIp?: string;
  stateDir: string;
  runDir: string;
  runtime: string;
  insecureRegistry: string[];
  registryMirror: string[];
  cgroupParent?: string;
  /** false with --no-pod-network. */
  podNetwork: boolean;
  hollow?: string;
  healthPort: string;
  heartbeatSeconds: string;
  streamPort: string;
  logLevel?: string;
  /** The kubelet's --cluster-dns (comma-separated IPs) and --cluster-domain; false with --no-node-dns. */
  clusterDns: string;
  clusterDomain: string;
  nodeDns: boolean;
  /** false with --no-service-proxy. */
  serviceProxy: boolean;
  proxyResyncPeriod: string;
}

function firstIPv4(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Closers of what runOne started besides the agent (the pod runtime's helpers), run after the agent stops. */
const onShutdown: Array<() => Promise<void>> = [];

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--cluster-dns 10.96.0.10[,IP…]` as a list (the kubelet's flag takes several). */
function parseClusterDns(flag: string): string[] {
  const ips = flag.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = ips.find((ip) => !isIPv4(ip));
  if (ips.length === 0 || bad !== undefined) throw new InvalidError(`--cluster-dns must be one or more IPv4 addresses separated by commas, got "${flag}"`);
  return ips;
}

/** `--cluster-domain cluster.local`: a DNS subdomain (a trailing dot allowed). */
function parseClusterDomain(flag: string): string {
  const d = flag.endsWith('.') ? flag.slice(0, -1) : flag;
  const errs = dns1123SubdomainErrors(d);
  if (errs.length > 0) throw new InvalidError(`--cluster-domain must be a DNS subdomain such as cluster.local, got "${flag}": ${errs[0]}`);
  return d;
}

/** `--registry-mirror docker.io=10.200.0.1:5000` (repeatable) as a registry → endpoint map. */
function parseMirrors(flags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const m = /^([^=\s]+)=([^=\s]+)$/.exec(f);
    if (!m) throw new InvalidError(`--registry-mirror must be REGISTRY=HOST[:PORT] (e.g. docker.io=10.200.0.1:5000), got "${f}"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

async function runOne(f: Flags, log: Logger, metrics: MetricsRegistry): Promise<Agent[]> {
  const nodeName = (f.nodeName ?? os.hostname()).toLowerCase();
  if (f.serviceProxy) parseResyncPeriod(f.proxyResyncPeriod); // a bad flag fails before anything starts
  const cred = await credentialFor({ server: f.server, token: f.token, caHash: f.caHash, nodeName, stateDir: f.stateDir, log });
  const client = new ControllerClient(cred);
  const nodeIP = f.nodeIp ?? firstIPv4();
  const { runtime, podCIDR, clusterCIDR, close } = await createNodeRuntime({
    client,
    nodeName: cred.nodeName,
    nodeIP,
    stateDir: f.stateDir,
    runDir: f.runDir,
    runtimeName: f.runtime,
    insecureRegistries: f.insecureRegistry,
    registryMirrors: parseMirrors(f.registryMirror),
    cgroupParent: f.cgroupParent,
    startPodNetwork: f.podNetwork,
    dns: { clusterDNS: parseClusterDns(f.clusterDns), clusterDomain: parseClusterDomain(f.clusterDomain) },
    log,
  });
  onShutdown.push(close);
  const streamPort = Number(f.streamPort);
  if (!Number.isInteger(streamPort) || streamPort < 0 || streamPort > 65535) throw new InvalidError(`--stream-port must be a port number (0 = off), got "${f.streamPort}"`);
  // The controller dials this for logs, exec and image import/export, as kube-apiserver dials the kubelet.
  let agentRef: Agent | undefined;
  const imageScratch = join(f.stateDir, 'image-transfers');
  await clearImageScratch(imageScratch);
  const streams =
    streamPort > 0
      ? await startStreamServer({
          port: streamPort,
          credential: cred,
          runtime,
          pods: { nodeName: cred.nodeName, findPod: (ns, name) => agentRef?.findPod(ns, name) },
          images: { admin: imageAdminOf(runtime.images), scratchDir: imageScratch },
          log: componentLogger('streams', log),
        })
      : undefined;
  if (streams) onShutdown.unshift(() => streams.stop());
  const agent = new Agent({
    client,
    runtime,
    nodeIP,
    log,
    heartbeatMs: Number(f.heartbeatSeconds) * 1000,
    ...(podCIDR ? { podCIDR } : {}),
    ...(streams ? { streamPort: streams.port } : {}),
    // Pods reach the node's name server through the pod network; without one there is nobody to serve.
    ...(f.nodeDns && f.podNetwork ? { nodeDns: { clusterDNS: parseClusterDns(f.clusterDns)[0], clusterDomain: f.clusterDomain, metrics } } : {}),
  });
  agentRef = agent;
  await agent.start();
  // The service proxy needs the pod network (its subnets decide masquerading and Local traffic).
  if (f.serviceProxy && podCIDR && clusterCIDR) {
    const proxy = await startServiceProxy({ agent, clusterCIDR, podSubnet: podCIDR, resyncPeriod: f.proxyResyncPeriod, metrics, log });
    onShutdown.unshift(() => proxy.stop());
  }
  return [agent];
}

async function runHollow(f: Flags, n: number, log: Logger): Promise<Agent[]> {
  const prefix = (f.nodeName ?? 'hollow').toLowerCase();
  const agents: Agent[] = [];
  const key = createNodeCsr(`${prefix}-0`); // one key for all: key generation dominates joins otherwise
  const concurrency = 16;
  let next = 0;
  const forge = (await import('node-forge')).default;
  const privateKey = forge.pki.privateKeyFromPem(key.keyPem);
  const publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  const csrFor = (name: string) => {
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = publicKey;
    csr.setSubject([
      { name: 'commonName', value: `system:node:${name}` },
      { name: 'organizationName', value: 'system:nodes' },
    ]);
    csr.sign(privateKey, forge.md.sha256.create());
    return { csrPem: forge.pki.certificationRequestToPem(csr), keyPem: key.keyPem };
  };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const name = `${prefix}-${i}`;
        const stateDir = join(f.stateDir, 'hollow', name);
        const { joinCluster } = await import('./join/join.js');
        const { loadCredential } = await import('./join/credentials.js');
        const cred =
          (await loadCredential(stateDir)) ??
          (await joinCluster({ server: f.server!, token: f.token!, caHash: f.caHash!, nodeName: name, stateDir, log, csr: csrFor(name) }));
        const client = new ControllerClient(cred);
        const agent = new Agent({
          client,
          runtime: new HollowRuntime(`10.250.${i % 250}`),
          nodeIP: `10.201.${Math.floor(i / 250)}.${(i % 250) + 1}`,
          log: log.child({ node: name }),
          heartbeatMs: Number(f.heartbeatSeconds) * 1000,
          capacity: { cpu: '4', memory: '8Gi', pods: '110' },
          labels: { 'flotilla.io/hollow': 'true' },
        });
        await agent.start();
        agents.push(agent);
      }
    }),
  );
  log.info({ nodes: agents.length }, 'hollow nodes running');
  return agents;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('flotilla-agent')
    .description('Flotilla node agent: joins a cluster and runs the pods bound to this node')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const common = (c: Command) =>
    c
      .option('--node-name <name>', 'node name (default: hostname)')
      .option('--node-ip <ip>', 'this node\'s underlay IP (default: first non-loopback IPv4)')
      .option('--state-dir <dir>', 'state directory (credential, images, pod state)', '/var/lib/flotilla-agent')
      .option('--run-dir <dir>', 'run directory (namespaces, sockets)', '/run/flotilla-agent')
      .addOption(new Option('--runtime <name>', 'OCI runtime').choices(['crun', 'runc']).default('crun'))
      .option('--insecure-registry <host:port>', 'registry to pull from over plain HTTP (repeatable)', collect, [] as string[])
      .option('--registry-mirror <registry=host:port>', 'pull REGISTRY\'s images from HOST:PORT instead (repeatable), e.g. docker.io=10.200.0.1:5000', collect, [] as string[])
      .option('--cgroup-parent <path>', 'absolute cgroup parent of this agent\'s pods (default /flotilla/<node-name>)')
      .option('--no-pod-network', 'do not start the pod network (subnet lease, VXLAN, bridge): pods get loopback only')
      .option('--hollow <n>', 'simulate N nodes in this process (control-plane scale tests)')
      .option('--health-port <port>', 'port of /healthz and /metrics on 127.0.0.1 (0 = any)', '10248')
      .option('--cluster-dns <ips>', 'the cluster DNS IP(s) pods are given (comma-separated; the kube-dns Service IP, served on this node)', DEFAULT_CLUSTER_DNS)
      .option('--cluster-domain <domain>', 'the cluster\'s DNS domain', DEFAULT_CLUSTER_DOMAIN)
      .option('--no-node-dns', 'do not serve cluster DNS on this node (pods are still pointed at --cluster-dns)')
      .option('--heartbeat-seconds <s>', 'node lease renewal period', '10')
      .option('--stream-port <port>', 'port of the logs/exec server the controller dials (0 = off)', String(DEFAULT_STREAM_PORT))
      .option('--log-level <level>', 'log level')
      .option('--no-service-proxy', 'do not program Services (ClusterIP, NodePort) into this node\'s nftables table')
      .option('--proxy-resync-period <duration>', 'how often the service proxy re-reads its nftables table and repairs drift (e.g. 30s, 500ms)', '30s');
  const start = async (f: Flags) => {
    const root = createRootLogger({ level: f.logLevel });
    const log = componentLogger('agent', root);
    await mkdir(f.stateDir, { recursive: true, mode: 0o700 });
    const metrics = new MetricsRegistry().withProcessMetrics();
    let agents: Agent[] = [];
    metrics.gauge('flotilla_agent_pods', 'Pods bound to this agent\'s node(s).', () => agents.reduce((n, a) => n + a.podCount, 0));
    metrics.gauge('flotilla_agent_nodes', 'Nodes this process runs (hollow mode: many).', () => agents.length);
    if (f.hollow !== undefined) {
      const n = Number(f.hollow);
      if (!Number.isInteger(n) || n < 1 || n > 10000) throw new Error(`--hollow must be a number of nodes between 1 and 10000, got "${f.hollow}"`);
      agents = await runHollow(f, n, log);
    } else {
      agents = await runOne(f, log, metrics);
    }
    const http = await startDaemonHttp({ host: '127.0.0.1', port: Number(f.healthPort), metrics, healthy: () => agents.every((a) => a.healthy) });
    log.info({ healthPort: http.port }, 'serving /healthz and /metrics');
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    log.info('shutting down (running containers are left running)');
    await Promise.allSettled(agents.map((a) => a.stop()));
    for (const close of onShutdown) await close().catch((e: unknown) => log.warn({ err: toFlotillaError(e).message }, 'shutdown step failed'));
    await http.close();
  };
  common(program.command('join').description('join a cluster, then run'))
    .requiredOption('--server <host:port>', 'the controller\'s bootstrap address, as printed by flotilla-controller init')
    .requiredOption('--token <token>', 'bootstrap token [a-z0-9]{6}.[a-z0-9]{16}')
    .requiredOption('--ca-hash <sha256:hash>', 'pin of the cluster CA public key')
    .action((opts: Flags) => start(opts));
  common(program.command('run').description('run with the credential kept in the state dir')).action((opts: Flags) => start(opts));
  await program.parseAsync(argv, { from: 'user' });
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  process.stderr.write(`flotilla-agent: ${toFlotillaError(e).message}\n`);
  process.exit(1);
});
