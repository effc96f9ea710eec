// Starts the real, compiled controller (`node dist/controller/main.js init` then
// `run`) as a child process with its managed etcd on loopback and a free port.
// Build first: `npx tsc -p tsconfig.json`. stop() sends SIGTERM (the controller
// stops its etcd child), waits, and removes the state directory. The managed
// etcd is https with client-certificate auth: managedEtcdAccess() has the certs.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent as HttpsAgent, request, type Dispatcher } from 'undici';
import { caPinOf } from '../../api/ca-pin.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CONTROLLER_MAIN = join(REPO_ROOT, 'dist', 'controller', 'main.js');

export interface StartControllerOptions {
  /** Address to listen on and to put into the kubeconfig; default 127.0.0.1. */
  host?: string;
  /** Port; default a free one. */
  port?: number;
  /** External etcd; default the controller's managed etcd. */
  etcdEndpoints?: string[];
  /** Extra `init` flags (e.g. ['--cluster-cidr', '10.99.0.0/16']). */
  initArgs?: string[];
  /** Extra `run` flags (e.g. ['--no-scheduler']). */
  runArgs?: string[];
  /** Use this state dir (kept by stop()); default a fresh temp dir that stop() removes. */
  stateDir?: string;
  /** Agents' ports; default free ones. */
  bootstrapPort?: number;
  nodePort?: number;
  /** How long to wait for the API; default 30 s. */
  startTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface StartedController {
  /** https://host:port */
  server: string;
  /** host:port agents join at (`flotilla-agent join --server`). */
  bootstrapAddress: string;
  nodePort: number;
  /** The bootstrap token init printed (stored in etcd by run). */
  joinToken: string;
  /** sha256:… pin of the cluster CA (`--ca-hash`). */
  caHash: string;
  /** The join command init printed (with the bootstrap port `run` actually uses). */
  joinCommand: string;
  /** Path of the admin kubeconfig. */
  kubeconfig: string;
  token: string;
  caFile: string;
  stateDir: string;
  pid: number;
  /** Everything the controller wrote to stderr (pino JSON lines) so far. */
  logs(): string;
  stop(): Promise<void>;
}

export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** SIGKILLs a process and its direct children (the managed etcd), by PID. */
export function killWithChildren(pid: number): void {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  for (const p of [pid, ...kids]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export async function startController(opts: StartControllerOptions = {}): Promise<StartedController> {
  if (!existsSync(CONTROLLER_MAIN)) {
    throw new Error(`${CONTROLLER_MAIN} is missing: compile first with "npx tsc -p tsconfig.json"`);
  }
  const host = opts.host ?? '127.0.0.1';
  const ownDir = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'flotilla-ctl-'));
  const cleanupDir = () => {
    if (ownDir) rmSync(stateDir, { recursive: true, force: true });
  };
  let child: ChildProcess | undefined;
  try {
    const port = opts.port ?? (await freeTcpPort(host));
    const env = { ...process.env, FLOTILLA_LOG_LEVEL: process.env.FLOTILLA_LOG_LEVEL ?? 'info', ...opts.env };
    let initOut = '';
    if (!existsSync(join(stateDir, 'pki', 'ca.crt'))) {
      initOut = execFileSync(process.execPath, [CONTROLLER_MAIN, 'init', '--state-dir', stateDir, '--advertise-address', host, '--api-port', String(port), ...(opts.initArgs ?? [])], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
      });
    }
    const bootstrapPort = opts.bootstrapPort ?? (await freeTcpPort(host));
    const nodePort = opts.nodePort ?? (await freeTcpPort(host));
    const listen = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const args = [
      CONTROLLER_MAIN,
      'run',
      '--state-dir',
      stateDir,
      '--listen',
      listen,
      '--bootstrap-port',
      String(bootstrapPort),
      '--node-port',
      String(nodePort),
      ...(opts.runArgs ?? []),
    ];
    if (opts.etcdEndpoints && opts.etcdEndpoints.length > 0) args.push('--etcd-endpoints', opts.etcdEndpoints.join(','));
    const c = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let stderr = '';
    let stdout = '';
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`controller did not start within ${opts.startTimeoutMs ?? 30_000} ms:\n${stderr.slice(-4000)}`)), opts.startTimeoutMs ?? 30_000);
      c.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('serving https://')) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`controller exited (${code ?? signal}) before serving:\n${stderr.slice(-4000)}`));
      });
    });
    const server = `https://${listen}`;
    const token = readFileSync(join(stateDir, 'admin.token'), 'utf8').trim();
    const joinToken = (JSON.parse(readFileSync(join(stateDir, 'bootstrap-token.json'), 'utf8')) as { token: string }).token;
    const caHash = caPinOf(readFileSync(join(stateDir, 'pki', 'ca.crt')));
    const bootstrapAddress = host.includes(':') ? `[${host}]:${bootstrapPort}` : `${host}:${bootstrapPort}`;
    const printed = /flotilla-agent join .*/.exec(initOut)?.[0];
    let stopped: Promise<void> | undefined;
    return {
      server,
      bootstrapAddress,
      nodePort,
      joinToken,
      caHash,
      joinCommand: (printed ?? `flotilla-agent join --server ${host}:6444 --token ${joinToken} --ca-hash ${caHash}`).replace(/--server \S+/, `--server ${bootstrapAddress}`),
      kubeconfig: join(stateDir, 'admin.kubeconfig'),
      token,
      caFile: join(stateDir, 'pki', 'ca.crt'),
      stateDir,
      pid: c.pid!,
      logs: () => stderr,
      stop: () =>
        (stopped ??= (async () => {
          if (c.exitCode === null && c.signalCode === null) {
            c.kill('SIGTERM');
            if (!(await waitExit(c, 15_000))) {
              killWithChildren(c.pid!);
              await waitExit(c, 5_000);
            }
          }
          cleanupDir();
        })()),
    };
  } catch (e) {
    if (child && child.exitCode === null) {
      killWithChildren(child.pid!);
      await waitExit(child, 5_000);
    }
    cleanupDir();
    throw e;
  }
}

/** How a test reaches a controller's managed etcd: https, the etcd CA and the controller's client certificate. */
export interface ManagedEtcdAccess {
  endpoint: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** For `new Etcd3({ hosts: [endpoint], credentials })`. */
  credentials: { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer };
  /** `etcdctl` flags for this etcd with the client certificate. */
  etcdctlArgs: string[];
}

export function managedEtcdAccess(stateDir: string): ManagedEtcdAccess {
  const { client } = JSON.parse(readFileSync(join(stateDir, 'etcd-ports.json'), 'utf8')) as { client: number };
  const endpoint = `https://127.0.0.1:${client}`;
  const caFile = join(stateDir, 'pki', 'etcd', 'ca.crt');
  const certFile = join(stateDir, 'pki', 'apiserver-etcd-client.crt');
  const keyFile = join(stateDir, 'pki', 'apiserver-etcd-client.key');
  return {
    endpoint,
    caFile,
    certFile,
    keyFile,
    credentials: { rootCertificate: readFileSync(caFile), certChain: readFileSync(certFile), privateKey: readFileSync(keyFile) },
    etcdctlArgs: ['--endpoints', endpoint, '--cacert', caFile, '--cert', certFile, '--key', keyFile],
  };
}

/**
 * A REST call to the controller as the admin (a fresh connection trusting the
 * cluster CA, unless `init.dispatcher` gives one to reuse); the body parsed as
 * JSON, or undefined when empty.
 */
export async function controllerApi<T = any>(ctl: Pick<StartedController, 'server' | 'token' | 'caFile'>, path: string, init: { method?: string; body?: unknown; dispatcher?: Dispatcher } = {}): Promise<{ status: number; body: T }> {
  const dispatcher = init.dispatcher ?? new HttpsAgent({ connect: { ca: readFileSync(ctl.caFile) } });
  try {
    const res = await request(`${ctl.server}${path}`, {
      method: (init.method ?? 'GET') as 'GET',
      dispatcher,
      headers: { authorization: `Bearer ${ctl.token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
  } finally {
    if (!init.dispatcher) await dispatcher.close();
  }
}
