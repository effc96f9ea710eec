#!/usr/bin/env node
// flotilla-controller: the control plane daemon.
//   init  creates the cluster CA, serving certificate, admin token and kubeconfig
//   run   serves the API (starting a managed etcd unless --etcd-endpoints is given)
//   rotate-encryption-key  a new key for Secrets at rest, and every Secret re-written under it
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { createRootLogger, isFlotillaError } from '../api/index.js';
import { parseTtl } from './join/bootstrap-token.js';
import { initStateDir } from './pki/state-dir.js';
import { rotateEncryptionKey } from './rotate-encryption-key.js';
import { runController } from './server.js';
import type { EtcdClientTls } from './storage/etcd-store.js';

function fail(e: unknown): never {
  const msg = isFlotillaError(e) || e instanceof Error ? e.message : String(e);
  process.stderr.write(`flotilla-controller: ${msg}\n`);
  process.exit(1);
}

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}`);
    return n;
  };
}

function listenArg(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected HOST:PORT, e.g. 0.0.0.0:6443');
  const port = Number(m[3]);
  if (port > 65535) throw new InvalidArgumentError('port must be at most 65535');
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

interface EtcdTlsFlags {
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
}

/** The external etcd's TLS from the flags; undefined without them. */
function etcdTlsFrom(o: EtcdTlsFlags, endpoints: string[]): EtcdClientTls | undefined {
  if (!o.etcdCafile && !o.etcdCertfile && !o.etcdKeyfile) return undefined;
  if (endpoints.length === 0) {
    throw new InvalidArgumentError('--etcd-cafile, --etcd-certfile and --etcd-keyfile apply to --etcd-endpoints (the managed etcd uses the state dir\'s pki/etcd)');
  }
  if (!o.etcdCertfile !== !o.etcdKeyfile) throw new InvalidArgumentError('--etcd-certfile and --etcd-keyfile must be given together');
  const read = (flag: string, f: string | undefined) => {
    if (!f) return undefined;
    try {
      return readFileSync(f, 'utf8');
    } catch (e) {
      throw new InvalidArgumentError(`${flag}: cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const caPem = read('--etcd-cafile', o.etcdCafile);
  const certPem = read('--etcd-certfile', o.etcdCertfile);
  const keyPem = read('--etcd-keyfile', o.etcdKeyfile);
  return { ...(caPem ? { caPem } : {}), ...(certPem ? { certPem } : {}), ...(keyPem ? { keyPem } : {}) };
}

const program = new Command('flotilla-controller')
  .description('The Flotilla control plane: API server on etcd, scheduler, node lifecycle.')
  .showHelpAfterError();

program
  .command('init')
  .description('create the cluster CA, the API serving certificate, the admin token and kubeconfig, and the network config')
  .requiredOption('--state-dir <dir>', 'where the controller keeps its state')
  .option('--advertise-address <ip...>', 'addresses agents and users reach the API at (first one goes into the kubeconfig)')
  .option('--api-port <port>', 'API port recorded in the kubeconfig', intArg('--api-port', 1, 65535), 6443)
  .option('--bootstrap-port <port>', 'port agents join at (TLS + bootstrap token)', intArg('--bootstrap-port', 1, 65535), 6444)
  .option('--node-port <port>', 'port of the agents\' node service (mutual TLS)', intArg('--node-port', 1, 65535), 6445)
  .option('--token-ttl <duration>', 'lifetime of the printed join token (24h, 30m, 0 = never expires)', '24h')
  .option('--cluster-cidr <cidr>', 'pod network of the cluster', '10.244.0.0/16')
  .option('--subnet-len <len>', 'prefix length of each node subnet', intArg('--subnet-len', 1, 30), 24)
  .option('--vni <vni>', 'VXLAN network identifier', intArg('--vni', 1, 16777215), 1)
  .option('--vxlan-port <port>', 'VXLAN UDP port', intArg('--vxlan-port', 1, 65535), 8472)
  .option('--service-cidr <cidr>', 'where Service ClusterIPs come from (must not overlap the pod network)', '10.96.0.0/16')
  .option('--service-node-port-range <min-max>', 'the range of NodePorts', '30000-32767')
  .option('--force', 'replace an existing CA (agents must join again)', false)
  .action((o: { stateDir: string; advertiseAddress?: string[]; apiPort: number; bootstrapPort: number; nodePort: number; tokenTtl: string; clusterCidr: string; subnetLen: number; vni: number; vxlanPort: number; serviceCidr: string; serviceNodePortRange: string; force: boolean }) => {
    try {
      const r = initStateDir({
        stateDir: o.stateDir,
        ...(o.advertiseAddress ? { advertiseAddresses: o.advertiseAddress.flatMap((a) => a.split(',')).filter(Boolean) } : {}),
        apiPort: o.apiPort,
        bootstrapPort: o.bootstrapPort,
        nodePort: o.nodePort,
        tokenTtlMs: parseTtl(o.tokenTtl),
        network: { network: o.clusterCidr, subnetLen: o.subnetLen, vni: o.vni, vxlanPort: o.vxlanPort },
        serviceCIDR: o.serviceCidr,
        serviceNodePortRange: o.serviceNodePortRange,
        force: o.force,
      });
      const lines = [
        `Cluster initialised in ${r.stateDir}`,
        `  CA certificate:      ${r.caFile}`,
        `  serving certificate: ${r.certFile} (for ${[...new Set(['127.0.0.1', 'localhost', ...r.config.advertiseAddresses])].join(', ')})`,
        `  admin token:         ${r.tokenFile}`,
        `  admin kubeconfig:    ${r.kubeconfigFile} (server ${r.server})`,
        `  encryption keys:     ${r.encryptionKeysFile} (Secrets in etcd; copy it to every controller replica)`,
        `  etcd CA:             ${r.etcdCaFile} (the managed etcd takes only clients with ${r.etcdClientCertFile})`,
        `  pod network:         ${r.config.network.network}, /${r.config.network.subnetLen} per node, VXLAN VNI ${r.config.network.backend.vni} port ${r.config.network.backend.port}`,
        `  services:            ClusterIPs from ${r.config.serviceCIDR}, NodePorts ${r.config.serviceNodePortRange}`,
        '',
        `Start the control plane:  flotilla-controller run --state-dir ${r.stateDir}`,
        `Use it:                   export KUBECONFIG=${r.kubeconfigFile}`,
        '',
        `Then join each node (as root), the token ${r.bootstrapToken.expires ? `expires ${r.bootstrapToken.expires}` : 'never expires'}; more with "flotctl token create --print-join-command":`,
        '',
        `  ${r.joinCommand}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    } catch (e) {
      fail(e);
    }
  });

program
  .command('run')
  .description('serve the API; starts a managed etcd unless --etcd-endpoints is given')
  .requiredOption('--state-dir <dir>', 'the directory init wrote')
  .option('--listen <host:port>', 'where to serve the HTTPS API (default 0.0.0.0 and the port init recorded)', listenArg)
  .option('--etcd-endpoints <urls>', 'external etcd client URLs, comma separated')
  .option('--etcd-cafile <file>', 'SSL Certificate Authority file used to secure etcd communication (with --etcd-endpoints)')
  .option('--etcd-certfile <file>', 'SSL certification file used to secure etcd communication (with --etcd-endpoints)')
  .option('--etcd-keyfile <file>', 'SSL key file used to secure etcd communication (with --etcd-endpoints)')
  .option('--no-scheduler', 'do not run the scheduler even when leader')
  .option('--bootstrap-port <port>', 'port agents join at (default: what init recorded, 6444; 0 = any)', intArg('--bootstrap-port', 0, 65535))
  .option('--node-port <port>', 'port of the agents\' node service (default: what init recorded, 6445; 0 = any)', intArg('--node-port', 0, 65535))
  .option('--node-monitor-grace-period <seconds>', 'a node silent this long turns NotReady', intArg('--node-monitor-grace-period', 1, 86400), 40)
  .option('--default-not-ready-toleration-seconds <seconds>', 'tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute toleration every pod gets (default 300)', intArg('--default-not-ready-toleration-seconds', 0, 86400 * 30))
  .option('--default-unreachable-toleration-seconds <seconds>', 'tolerationSeconds of the node.kubernetes.io/unreachable:NoExecute toleration every pod gets (default 300)', intArg('--default-unreachable-toleration-seconds', 0, 86400 * 30))
  .option('--pod-eviction-timeout <seconds>', 'deprecated: the default of both --default-*-toleration-seconds', intArg('--pod-eviction-timeout', 0, 86400 * 30))
  .option('--log-level <level>', 'pino log level', process.env.FLOTILLA_LOG_LEVEL ?? 'info')
  .action(async (o: EtcdTlsFlags & {
    stateDir: string;
    listen?: { host: string; port: number };
    etcdEndpoints?: string;
    scheduler: boolean;
    bootstrapPort?: number;
    nodePort?: number;
    nodeMonitorGracePeriod: number;
    podEvictionTimeout?: number;
    defaultNotReadyTolerationSeconds?: number;
    defaultUnreachableTolerationSeconds?: number;
    logLevel: string;
  }) => {
    const log = createRootLogger({ level: o.logLevel });
    let running: Awaited<ReturnType<typeof runController>>;
    try {
      const endpoints = (o.etcdEndpoints ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const etcdTls = etcdTlsFrom(o, endpoints);
      running = await runController({
        stateDir: o.stateDir,
        ...(o.listen ? { host: o.listen.host, port: o.listen.port } : {}),
        ...(endpoints.length > 0 ? { etcdEndpoints: endpoints } : {}),
        ...(etcdTls ? { etcdTls } : {}),
        scheduler: o.scheduler,
        ...(o.bootstrapPort !== undefined ? { bootstrapPort: o.bootstrapPort } : {}),
        ...(o.nodePort !== undefined ? { nodePort: o.nodePort } : {}),
        nodeLifecycle: { gracePeriodMs: o.nodeMonitorGracePeriod * 1000 },
        defaultTolerationSeconds: {
          notReady: o.defaultNotReadyTolerationSeconds ?? o.podEvictionTimeout ?? 300,
          unreachable: o.defaultUnreachableTolerationSeconds ?? o.podEvictionTimeout ?? 300,
        },
        log,
      });
    } catch (e) {
      log.error({ err: (e as Error).message }, 'controller failed to start');
      log.flush();
      fail(e);
    }
    // A stray rejection is a bug to log, not a reason to drop every client and the etcd child.
    process.on('unhandledRejection', (reason) => log.error({ err: reason instanceof Error ? reason.stack : String(reason) }, 'unhandled promise rejection'));
    // One line on stdout for scripts and tests that wait for readiness.
    process.stdout.write(`flotilla-controller: agents join at port ${running.bootstrapPort}, node service at port ${running.nodePort}\n`);
    process.stdout.write(`flotilla-controller: serving ${running.url}\n`);
    let exiting = false;
    const shutdown = (signal: string) => {
      if (exiting) return;
      exiting = true;
      log.info({ signal }, 'shutting down');
      const hard = setTimeout(() => {
        log.error('shutdown took too long; exiting');
        process.exit(1);
      }, 15_000);
      hard.unref();
      running
        .stop()
        .then(() => {
          log.info('stopped');
          log.flush();
          process.exit(0);
        })
        .catch((e) => {
          log.error({ err: (e as Error).message }, 'shutdown failed');
          process.exit(1);
        });
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    // The encryption key file is polled every second; SIGHUP re-reads it at once.
    process.on('SIGHUP', () => {
      log.info('SIGHUP: reloading the encryption keys');
      running.reloadEncryptionKeys();
    });
  });

program
  .command('rotate-encryption-key')
  .description('put a new encryption key first in the state dir\'s key file and re-write every Secret under it (old keys stay for reading)')
  .requiredOption('--state-dir <dir>', 'the directory init wrote')
  .option('--etcd-endpoints <urls>', 'external etcd client URLs, comma separated (default: the state dir\'s managed etcd, started for the rewrite when no controller runs)')
  .option('--etcd-cafile <file>', 'SSL Certificate Authority file used to secure etcd communication (with --etcd-endpoints)')
  .option('--etcd-certfile <file>', 'SSL certification file used to secure etcd communication (with --etcd-endpoints)')
  .option('--etcd-keyfile <file>', 'SSL key file used to secure etcd communication (with --etcd-endpoints)')
  .option('--no-rewrite', 'only add the key; re-write later with --rewrite-only (after copying the key file to every replica)')
  .option('--rewrite-only', 'add no key: re-write every Secret under the key that encrypts now', false)
  .option('--prune', 'after a verified rewrite, drop the old keys from the file (etcd history and backups from before then no longer decrypt)', false)
  .option('--log-level <level>', 'pino log level', process.env.FLOTILLA_LOG_LEVEL ?? 'warn')
  .action(async (o: EtcdTlsFlags & { stateDir: string; etcdEndpoints?: string; rewrite: boolean; rewriteOnly: boolean; prune: boolean; logLevel: string }) => {
    const log = createRootLogger({ level: o.logLevel });
    try {
      if (!o.rewrite && (o.rewriteOnly || o.prune)) throw new InvalidArgumentError('--no-rewrite cannot be combined with --rewrite-only or --prune');
      const endpoints = (o.etcdEndpoints ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const etcdTls = etcdTlsFrom(o, endpoints);
      const r = await rotateEncryptionKey({
        stateDir: o.stateDir,
        ...(endpoints.length > 0 ? { etcdEndpoints: endpoints } : {}),
        ...(etcdTls ? { etcdTls } : {}),
        noRewrite: !o.rewrite,
        rewriteOnly: o.rewriteOnly,
        prune: o.prune,
        log,
      });
      process.stdout.write(`${rotationReport(r, !o.rewrite).join('\n')}\n`);
      log.flush();
    } catch (e) {
      log.flush();
      fail(e);
    }
  });

/** What rotate-encryption-key prints. */
function rotationReport(r: Awaited<ReturnType<typeof rotateEncryptionKey>>, noRewrite: boolean): string[] {
  const lines: string[] = [];
  if (r.added) lines.push(`Added encryption key ${r.added} to ${r.keyFile}: it encrypts from now on (keys: ${r.keys.join(', ')})`);
  if (noRewrite) {
    lines.push(`Nothing re-written. Copy ${r.keyFile} to every controller replica's state dir (running ones re-read it within a second), then run:`);
    lines.push(`  flotilla-controller rotate-encryption-key --rewrite-only --state-dir <dir>`);
    return lines;
  }
  if (r.etcd === 'none') lines.push('No etcd data in the state dir yet: nothing to re-write.');
  else lines.push(`Re-wrote ${r.rewritten} of ${r.total} Secrets under key ${r.keyId} (${r.total - r.rewritten} already were); checked in ${r.passes} scan${r.passes === 1 ? '' : 's'} of etcd.`);
  if (r.dropped.length > 0) lines.push(`Dropped keys ${r.dropped.join(', ')} from ${r.keyFile}.`);
  else if (r.keys.length > 1) lines.push(`Kept keys ${r.keys.slice(1).join(', ')} for reading (etcd history, backups); --prune drops them.`);
  lines.push(`Every controller replica needs this ${r.keyFile}: one without key ${r.keyId} fails to read these Secrets.`);
  return lines;
}

program.parseAsync(process.argv).catch(fail);
