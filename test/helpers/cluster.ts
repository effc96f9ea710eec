// A whole lab cluster for the e2e suite, made the way a user makes one: by
// running hack/up.sh (with SKIP_BUILD=1, a unique lab prefix, underlay, ports and
// state dir) and removed by hack/down.sh. Helpers stop, restart and inspect the
// daemons up.sh started, by the PIDs it recorded.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent as HttpsAgent, request } from 'undici';
import { freeTcpPort } from './controller.js';
import { eventually, flotctl, type FlotctlRun } from './flotctl.js';
import { labLeftovers, REPO_ROOT } from './lab.js';
import { readWatchEvents } from './watch.js';

export interface ClusterOptions {
  nodes?: number;
  /** Extra `flotilla-controller run` / `flotilla-agent join` flags. */
  controllerArgs?: string[];
  agentArgs?: string[];
}

export class LabCluster {
  readonly prefix: string;
  readonly net: string;
  readonly clusterDir: string;
  readonly labState: string;
  readonly apiPort: number;
  readonly env: NodeJS.ProcessEnv;
  /** Everything up.sh printed. */
  upOutput = '';

  private constructor(apiPort: number, o: ClusterOptions) {
    this.prefix = `e${randomInt(0, 36 ** 5).toString(36).padStart(5, '0')}`;
    this.net = `10.200.${randomInt(100, 250)}`;
    this.clusterDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-'));
    this.labState = `/run/flotilla-lab/${this.prefix}`;
    this.apiPort = apiPort;
    this.env = {
      ...process.env,
      LAB_PREFIX: this.prefix,
      LAB_NET: this.net,
      LAB_STATE: this.labState,
      CLUSTER_DIR: this.clusterDir,
      API_PORT: String(apiPort),
      REGISTRY_PORT: String(apiPort + 3),
      SKIP_BUILD: '1',
      WAIT_SECONDS: '240',
      CONTROLLER_ARGS: (o.controllerArgs ?? []).join(' '),
      AGENT_ARGS: (o.agentArgs ?? []).join(' '),
    };
  }

  /** Runs hack/up.sh; on failure, the error carries up.sh's output and the daemons' logs. */
  static async up(o: ClusterOptions = {}): Promise<LabCluster> {
    // Four consecutive ports on the lab gateway: API, bootstrap, node service, registry.
    let port = 0;
    for (let i = 0; i < 20 && port === 0; i++) {
      const p = await freeTcpPort();
      if (p < 60000) port = p;
    }
    const c = new LabCluster(port, o);
    try {
      await c.runUp(o.nodes ?? 3);
    } catch (e) {
      const logs = c.logs();
      await c.down().catch(() => undefined);
      throw new Error(`${(e as Error).message}\n--- logs ---\n${logs}`);
    }
    return c;
  }

  async runUp(nodes: number): Promise<string> {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(join(REPO_ROOT, 'hack/up.sh'), ['--nodes', String(nodes)], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 420_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(text);
        else reject(new Error(`hack/up.sh exited ${code}:\n${text.slice(-6000)}`));
      });
    });
    this.upOutput = out;
    return out;
  }

  get gateway(): string {
    return `${this.net}.1`;
  }

  /** The registry the nodes pull from (read-only), on the lab gateway. */
  get registry(): string {
    return `${this.gateway}:${this.apiPort + 3}`;
  }

  /** The registry's writer, on loopback only, with the push credentials up.sh made. */
  get registryWriter(): { host: string; username: string; password: string } {
    const password = readFileSync(join(this.clusterDir, 'registry', 'push-password'), 'utf8').trim();
    return { host: `127.0.0.1:${this.apiPort + 3}`, username: 'flotilla-push', password };
  }

  get kubeconfig(): string {
    return join(this.clusterDir, 'controller', 'admin.kubeconfig');
  }

  hostIp(host: string): string {
    return `${this.net}.${10 + Number(host.slice(1))}`;
  }

  flotctl(args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<FlotctlRun> {
    return flotctl(this.kubeconfig, args, opts);
  }

  /** flotctl that must succeed; returns stdout. */
  async ok(args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.flotctl(args, opts);
    if (r.code !== 0) throw new Error(`flotctl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async json<T>(args: string[]): Promise<T> {
    return JSON.parse(await this.ok([...args, '-o', 'json'])) as T;
  }

  /**
   * Lists `path` (a collection, query allowed) and watches it from the list's
   * resourceVersion with the admin token: every object arrives as an event,
   * the listed ones first as ADDED, then one SYNCED (no object) when the list is
   * in. ERROR events are kept in `errors`.
   */
  async watch(path: string, onEvent: (type: string, obj: any) => void): Promise<{ stop(): void; errors: unknown[] }> {
    const dir = join(this.clusterDir, 'controller');
    const headers = { authorization: `Bearer ${readFileSync(join(dir, 'admin.token'), 'utf8').trim()}` };
    const dispatcher = new HttpsAgent({ connect: { ca: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8') }, bodyTimeout: 0 });
    const base = `https://${this.gateway}:${this.apiPort}`;
    const list = await request(`${base}${path}`, { headers, dispatcher });
    const body = (await list.body.json()) as { items?: unknown[]; metadata?: { resourceVersion?: string } };
    if (list.statusCode !== 200 || !body.items) throw new Error(`GET ${path}: HTTP ${list.statusCode}: ${JSON.stringify(body)}`);
    for (const o of body.items) onEvent('ADDED', o);
    onEvent('SYNCED', undefined);
    const ac = new AbortController();
    const res = await request(`${base}${path}${path.includes('?') ? '&' : '?'}watch=true&resourceVersion=${body.metadata?.resourceVersion ?? ''}`, { headers, dispatcher, signal: ac.signal });
    if (res.statusCode !== 200) throw new Error(`watch ${path}: HTTP ${res.statusCode}: ${await res.body.text()}`);
    const errors: unknown[] = [];
    const reading = readWatchEvents(res.body, onEvent, errors, ac.signal);
    return {
      errors,
      stop() {
        ac.abort();
        void reading.finally(() => dispatcher.close());
      },
    };
  }

  /** Runs a command inside a lab host's network namespace. */
  hostExec(host: string, cmd: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', `${this.prefix}-${host}`, ...cmd], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  private pidFile(name: string): string {
    return join(this.labState, 'pids', `${name}.pid`);
  }

  pidOf(name: string): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile(name), 'utf8').trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** Signals (SIGTERM unless told) a daemon up.sh started (`controller`, `h2-agent`…), waits for it to exit, returns its command line. */
  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<string[]> {
    const pid = this.pidOf(name);
    if (!pid) throw new Error(`${name} is not running`);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    process.kill(pid, signal);
    await eventually(`${name} (pid ${pid}) to exit`, async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 20_000, 100);
    return cmdline;
  }

  /** Starts a daemon again with the command line `stop` returned, recorded as up.sh does. */
  start(name: string, cmdline: string[]): number {
    const fd = openSync(join(this.labState, 'logs', `${name}.restart.log`), 'a');
    // Agents run in their lab host's network namespace, as hack/lab.sh spawn starts them.
    const host = /^(h\d+)-agent$/.exec(name)?.[1];
    const argv = host ? ['nsenter', `--net=/var/run/netns/${this.prefix}-${host}`, '--', ...cmdline] : cmdline;
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.unref();
    writeFileSync(this.pidFile(name), `${child.pid}\n`);
    return child.pid!;
  }

  /** The daemons' logs (tails), for failure messages. */
  logs(): string {
    const dir = join(this.labState, 'logs');
    if (!existsSync(dir)) return '(no logs)';
    return readdirSync(dir)
      .map((f) => `== ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-25).join('\n')}`)
      .join('\n');
  }

  /** What the cluster left on the machine: lab namespaces/links/mounts, cgroups, mounts under the state dir. */
  leftovers(): string[] {
    const left = labLeftovers(this.prefix);
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const target = line.split(' ')[1];
      if (target && target.startsWith(`${this.clusterDir}/`)) left.push(`mount ${target}`);
    }
    const cg = execFileSync('find', ['/sys/fs/cgroup', '-mindepth', '1', '-maxdepth', '2', '-type', 'd', '-name', `flotilla-${this.prefix}`], { encoding: 'utf8' }).trim();
    if (cg) left.push(...cg.split('\n').map((d) => `cgroup ${d}`));
    if (existsSync(this.clusterDir)) left.push(`dir ${this.clusterDir}`);
    return left;
  }

  async down(): Promise<string> {
    const r = spawnSync(join(REPO_ROOT, 'hack/down.sh'), [], { env: this.env, encoding: 'utf8', timeout: 180_000 });
    rmSync(this.clusterDir, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`hack/down.sh exited ${r.status}: ${r.stderr}${r.stdout}`);
    return r.stdout + r.stderr;
  }
}
