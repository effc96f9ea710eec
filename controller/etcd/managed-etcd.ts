// The controller's own etcd: one member as a child process, data under the
// controller's state dir, listening on loopback only, tuned to start fast.
// Its client and peer URLs are https with client-certificate auth, against
// its own CA in `<stateDir>/pki/etcd` (made at the first start, see
// pki/etcd-pki.ts): a local process without the controller's client
// certificate cannot read or rewrite the cluster.
// It is supervised (restarted with back-off if it dies unexpectedly) and
// stopped with SIGTERM, then SIGKILL; the child is also killed when this
// process exits, so it never outlives the controller.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { realClock, UnavailableError, type Clock, type Logger } from '../../api/index.js';
import { componentLogger } from '../../api/index.js';
import { ensureEtcdPki, type EtcdClientCredentials, type EtcdPkiPaths } from '../pki/etcd-pki.js';
import { etcdHealthy } from './health.js';

export interface ManagedEtcdOptions {
  /** The controller's state dir; etcd keeps its data in `<stateDir>/etcd`. */
  stateDir: string;
  /** etcd binary; default /usr/bin/etcd. */
  binary?: string;
  /** Member name; default `flotilla`. */
  name?: string;
  /** Loopback address to listen on; default 127.0.0.1. */
  host?: string;
  /** How long to wait for the member to become healthy; default 20 s. */
  startTimeoutMs?: number;
  /** How long SIGTERM may take before SIGKILL; default 5 s. */
  stopTimeoutMs?: number;
  /** Periodic auto-compaction retention (etcd syntax, e.g. `5m`, `1h`); default `10m`. */
  autoCompactionRetention?: string;
  /** Backend quota in bytes; default 2 GiB. */
  quotaBackendBytes?: number;
  /** Largest request etcd accepts; default 4 MiB (the API accepts bodies up to 3 MiB). */
  maxRequestBytes?: number;
  /**
   * TLS with client-certificate auth on the client and peer URLs; default true.
   * false serves plain HTTP to anyone local: only for throw-away test fixtures.
   */
  tls?: boolean;
  /** Extra etcd flags, appended last. */
  extraArgs?: string[];
  /** First and largest restart back-off; default 200 ms and 10 s. */
  restartBackoffMs?: { initial: number; max: number };
  log?: Logger;
  clock?: Clock;
}

export type ManagedEtcdState = 'stopped' | 'starting' | 'running' | 'restarting' | 'stopping';

interface Ports {
  client: number;
  peer: number;
}

const TAIL_LINES = 40;

/** Asks the kernel for a free TCP port on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The child's environment: ours without ETCD_* (etcd reads every one of them as a flag). */
export function scrubEtcdEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('ETCD_') && !k.startsWith('ETCDCTL_')) out[k] = v;
  return out;
}

/** etcd's command line for one loopback member (pure, unit-tested). */
export function etcdArgs(o: {
  name: string;
  dataDir: string;
  host: string;
  ports: Ports;
  autoCompactionRetention: string;
  quotaBackendBytes: number;
  maxRequestBytes: number;
  /** The etcd PKI's files: https URLs and client-certificate auth; absent = plain http. */
  tls?: EtcdPkiPaths;
  extraArgs?: string[];
}): string[] {
  const scheme = o.tls ? 'https' : 'http';
  const client = `${scheme}://${urlHost(o.host)}:${o.ports.client}`;
  const peer = `${scheme}://${urlHost(o.host)}:${o.ports.peer}`;
  return [
    '--name', o.name,
    '--data-dir', o.dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${o.name}=${peer}`,
    '--initial-cluster-state', 'new',
    // One local member: no network latency to tolerate, so elect within ~100 ms.
    '--heartbeat-interval', '10',
    '--election-timeout', '100',
    '--auto-compaction-mode', 'periodic',
    '--auto-compaction-retention', o.autoCompactionRetention,
    '--quota-backend-bytes', String(o.quotaBackendBytes),
    '--max-request-bytes', String(o.maxRequestBytes),
    '--snapshot-count', '10000',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    '--log-level', 'warn',
    ...(o.tls ? tlsArgs(o.tls) : []),
    ...(o.extraArgs ?? []),
  ];
}

/** As kubeadm runs etcd: every client and peer must present a cert the etcd CA signed. */
function tlsArgs(p: EtcdPkiPaths): string[] {
  return [
    '--client-cert-auth',
    '--trusted-ca-file', p.caCert,
    '--cert-file', p.serverCert,
    '--key-file', p.serverKey,
    '--peer-client-cert-auth',
    '--peer-trusted-ca-file', p.caCert,
    '--peer-cert-file', p.peerCert,
    '--peer-key-file', p.peerKey,
  ];
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export class ManagedEtcd {
  readonly dataDir: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly binary: string;
  private readonly host: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private ports: Ports | undefined;
  private _state: ManagedEtcdState = 'stopped';
  private _restarts = 0;
  private backoff: number;
  private restartTimer: { cancel(): void } | undefined;
  private healthyTimer: { cancel(): void } | undefined;
  private tail: string[] = [];
  private pki: { paths: EtcdPkiPaths; client: EtcdClientCredentials } | undefined;
  private readonly onProcessExit = () => {
    // Last resort when the controller exits without stop(): never leave etcd behind.
    if (this.child?.pid && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };

  constructor(private readonly o: ManagedEtcdOptions) {
    this.dataDir = join(o.stateDir, 'etcd');
    this.log = o.log ?? componentLogger('etcd');
    this.clock = o.clock ?? realClock;
    this.binary = o.binary ?? '/usr/bin/etcd';
    this.host = o.host ?? '127.0.0.1';
    this.backoff = o.restartBackoffMs?.initial ?? 200;
  }

  get state(): ManagedEtcdState {
    return this._state;
  }

  /** Times etcd was restarted after dying unexpectedly. */
  get restarts(): number {
    return this._restarts;
  }

  /** The child's PID while it runs. */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  /** Client URLs, e.g. `['https://127.0.0.1:40123']`; stable across restarts. */
  get endpoints(): string[] {
    if (!this.ports) throw new UnavailableError('managed etcd is not started');
    return [`${this.o.tls === false ? 'http' : 'https'}://${urlHost(this.host)}:${this.ports.client}`];
  }

  /** What a client presents and trusts (the controller's apiserver-etcd-client cert); undefined without TLS. */
  get clientTls(): EtcdClientCredentials | undefined {
    if (this.o.tls === false) return undefined;
    if (!this.pki) throw new UnavailableError('managed etcd is not started');
    return this.pki.client;
  }

  /** Starts etcd and resolves once it answers /health. */
  async start(): Promise<void> {
    if (this._state !== 'stopped') throw new Error(`managed etcd is ${this._state}`);
    this._state = 'starting';
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    if (this.o.tls !== false) this.ensurePki();
    process.on('exit', this.onProcessExit);
    let lastError: unknown;
    // Free ports can be taken between our probe and etcd's bind: pick new ones and retry.
    for (let attempt = 0; attempt < 5; attempt++) {
      this.ports = await this.choosePorts(attempt > 0);
      try {
        await this.launch();
        this._state = 'running';
        this.persistPorts();
        this.log.info({ endpoints: this.endpoints, dataDir: this.dataDir, pid: this.pid }, 'etcd is healthy');
        return;
      } catch (e) {
        lastError = e;
        await this.killChild();
        if (!/address already in use/.test(this.tail.join('\n'))) break;
        this.log.warn({ ports: this.ports }, 'etcd port taken, retrying with other ports');
      }
    }
    this._state = 'stopped';
    process.off('exit', this.onProcessExit);
    throw lastError;
  }

  /** Stops etcd (SIGTERM, then SIGKILL after stopTimeoutMs) and stops supervising it. */
  async stop(): Promise<void> {
    if (this._state === 'stopped') return;
    this._state = 'stopping';
    this.restartTimer?.cancel();
    this.healthyTimer?.cancel();
    await this.killChild();
    this._state = 'stopped';
    process.off('exit', this.onProcessExit);
    this.log.info('etcd stopped');
  }

  /** The etcd PKI; a state dir from before etcd had TLS gets it now. */
  private ensurePki(): void {
    try {
      const pki = ensureEtcdPki(this.o.stateDir, { nowMs: this.clock.now(), hosts: [this.host] });
      this.pki = pki;
      if (pki.written.length > 0) this.log.info({ dir: pki.paths.dir, written: pki.written }, 'issued etcd certificates');
    } catch (e) {
      this._state = 'stopped';
      throw e;
    }
  }

  private portsFile(): string {
    return join(this.o.stateDir, 'etcd-ports.json');
  }

  private async choosePorts(fresh: boolean): Promise<Ports> {
    // Reuse the ports of the last run when possible, so a restarted controller keeps its endpoints.
    if (!fresh && existsSync(this.portsFile())) {
      try {
        const p = JSON.parse(readFileSync(this.portsFile(), 'utf8')) as Ports;
        if (Number.isInteger(p.client) && Number.isInteger(p.peer) && (await portFree(this.host, p.client)) && (await portFree(this.host, p.peer))) {
          return p;
        }
      } catch {
        /* pick new ones */
      }
    }
    const client = await freePort(this.host);
    let peer = await freePort(this.host);
    while (peer === client) peer = await freePort(this.host);
    return { client, peer };
  }

  private persistPorts(): void {
    try {
      writeFileSync(this.portsFile(), JSON.stringify(this.ports));
    } catch (e) {
      this.log.warn({ err: e }, 'cannot record etcd ports');
    }
  }

  private async launch(): Promise<void> {
    const args = etcdArgs({
      name: this.o.name ?? 'flotilla',
      dataDir: this.dataDir,
      host: this.host,
      ports: this.ports!,
      autoCompactionRetention: this.o.autoCompactionRetention ?? '10m',
      quotaBackendBytes: this.o.quotaBackendBytes ?? 2 * 1024 ** 3,
      maxRequestBytes: this.o.maxRequestBytes ?? 4 * 1024 * 1024,
      ...(this.pki ? { tls: this.pki.paths } : {}),
      extraArgs: this.o.extraArgs,
    });
    this.tail = [];
    // setpriv --pdeathsig: the kernel kills etcd if the controller dies without cleaning up.
    const usePdeath = existsSync('/usr/bin/setpriv');
    const file = usePdeath ? '/usr/bin/setpriv' : this.binary;
    const argv = usePdeath ? ['--pdeathsig', 'KILL', '--', this.binary, ...args] : args;
    const child = spawn(file, argv, { env: scrubEtcdEnv(process.env), stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let buf = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.logLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.once('error', (e) => this.log.error({ err: e }, 'cannot run etcd'));
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    await this.waitHealthy(child);
  }

  private logLine(line: string): void {
    if (!line.trim()) return;
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    let level = 'info';
    let msg = line;
    try {
      const j = JSON.parse(line) as { level?: string; msg?: string };
      level = j.level ?? level;
      msg = j.msg ?? line;
    } catch {
      /* not zap JSON */
    }
    if (level === 'error' || level === 'fatal' || level === 'panic') this.log.error({ etcd: line }, msg);
    else if (level === 'warn') this.log.warn({ etcd: line }, msg);
    else this.log.debug({ etcd: line }, msg);
  }

  private async waitHealthy(child: ChildProcess): Promise<void> {
    const deadline = this.clock.now() + (this.o.startTimeoutMs ?? 20_000);
    const endpoint = this.endpoints[0]!;
    while (this.clock.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new UnavailableError(`etcd exited during start (${child.exitCode ?? child.signalCode}): ${this.tail.slice(-3).join(' | ')}`);
      }
      if (await etcdHealthy(endpoint, this.pki?.client)) return;
      await this.clock.sleep(20);
    }
    throw new UnavailableError(`etcd did not become healthy within ${this.o.startTimeoutMs ?? 20_000} ms: ${this.tail.slice(-3).join(' | ')}`);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    if (this._state !== 'running') return; // start() or stop() handle their own exits
    this.healthyTimer?.cancel();
    this._state = 'restarting';
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.o.restartBackoffMs?.max ?? 10_000);
    this.log.error({ code, signal, restartInMs: delay, lastLines: this.tail.slice(-5) }, 'etcd exited unexpectedly; restarting');
    this.restartTimer = this.clock.setTimeout(() => void this.restart(), delay);
  }

  private async restart(): Promise<void> {
    if (this._state !== 'restarting') return;
    try {
      await this.launch();
      if ((this._state as ManagedEtcdState) !== 'restarting') return; // stop() came in meanwhile
      this._state = 'running';
      this._restarts++;
      this.log.info({ restarts: this._restarts, pid: this.pid }, 'etcd restarted');
      // A member that stays up for a while resets the back-off.
      this.healthyTimer = this.clock.setTimeout(() => (this.backoff = this.o.restartBackoffMs?.initial ?? 200), 30_000);
    } catch (e) {
      if ((this._state as ManagedEtcdState) !== 'restarting') return;
      await this.killChild();
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.o.restartBackoffMs?.max ?? 10_000);
      this.log.error({ err: e, restartInMs: delay }, 'etcd restart failed');
      this.restartTimer = this.clock.setTimeout(() => void this.restart(), delay);
    }
  }

  private async killChild(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timeout = this.o.stopTimeoutMs ?? 5000;
    let timer: { cancel(): void } | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = this.clock.setTimeout(() => resolve(true), timeout)));
    const gone = await Promise.race([this.exited!.then(() => false), timedOut]);
    timer?.cancel();
    if (gone === true) {
      this.log.warn({ pid: child.pid }, 'etcd did not stop on SIGTERM; killing it');
      child.kill('SIGKILL');
      await this.exited;
    }
  }
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}
