// A whole cluster without containers, for integration suites that drive the
// control plane with real kubectl, flotctl and REST: the compiled controller
// (test/helpers/controller.ts) on its managed etcd — or on a separate test etcd
// (test/helpers/etcd.ts) — and in-process node agents on the hollow runtime,
// joined through the real join path with a bootstrap token, as a remote agent
// joins. Build first: these tests spawn dist/.
//
//   const c = new HollowCluster({ prefix: 'dph1', nodes: 3 });
//   const { api, ok } = c;
//   beforeAll(() => c.start(), 120_000);
//   afterAll(() => c.stop(), 60_000);
//
// Methods are bound, so suites may take them apart before start() runs.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent as HttpsAgent, request } from 'undici';
import { silentLogger, type Node } from '../../api/index.js';
import { Agent, type AgentOptions } from '../../node-agent/agent.js';
import { ControllerClient } from '../../node-agent/controller-client.js';
import { HollowRuntime } from '../../node-agent/hollow-runtime.js';
import { joinCluster } from '../../node-agent/join/join.js';
import { controllerApi, startController, type StartedController } from './controller.js';
import { startEtcd, type TestEtcd } from './etcd.js';
import { eventually, flotctl, type FlotctlRun } from './flotctl.js';
import { requireBinaries } from './require.js';
import { readWatchEvents } from './watch.js';

/** The real kubectl clients the suites check against (installed by hack/deps.sh). */
export const KUBECTL = {
  '1.33': '/usr/lib/google-cloud-sdk/bin/kubectl.1.33',
  '1.20': '/opt/flotilla/kubernetes-client/usr/bin/kubectl',
} as const;
export type KubectlVersion = keyof typeof KUBECTL;
/** Newest first. */
export const KUBECTL_VERSIONS: readonly KubectlVersion[] = ['1.33', '1.20'];

export interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Default 1.33. */
  version?: KubectlVersion;
  stdin?: string;
  timeoutMs?: number;
}

/**
 * Runs a real kubectl against `kubeconfig` with nothing of the caller's
 * environment but PATH: HOME points at `home`, so kubectl's discovery cache
 * belongs to this cluster and never to the user's.
 */
export function runKubectl(kubeconfig: string, home: string, args: string[], opts: KubectlOptions = {}): Promise<KubectlRun> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig };
  return new Promise((resolve) => {
    const child = execFile(KUBECTL[opts.version ?? '1.33'], args, { env, timeout: opts.timeoutMs ?? 120_000 }, (err, stdout, stderr) => {
      // execFile's error carries the exit status as a number; a spawn failure or a timeout does not
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  });
}

export interface HollowClusterOptions {
  /** Names the nodes (`<prefix>-n1`, `<prefix>-n2`…) and the temporary directory. */
  prefix: string;
  /** Nodes joined by start(); default 3. */
  nodes?: number;
  /** Labels the agents of start()'s nodes register with. */
  labels?: Record<string, string>;
  /** The kubectl versions the suite drives; start() fails loudly if one is missing. Default all. */
  kubectl?: readonly KubectlVersion[];
  /** Extra `flotilla-controller run` flags. */
  runArgs?: string[];
  /** Run the controller on a separate test etcd instead of its managed one. */
  externalEtcd?: boolean;
  /** Agent periods; heartbeatMs defaults to 500 so node conditions move within a second. */
  agent?: Pick<AgentOptions, 'heartbeatMs' | 'relistMs'>;
}

export type WatchEvent = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'SYNCED';

export class HollowCluster {
  /** The joined nodes' running agents, by node name. */
  readonly agents = new Map<string, Agent>();
  private controller?: StartedController;
  private etcd?: TestEtcd;
  private dispatcher?: HttpsAgent;
  private workDir?: string;
  private joined = 0;
  private stopping?: Promise<void>;
  private readonly watches = new Set<AbortController>();
  private readonly log = silentLogger();

  constructor(private readonly opts: HollowClusterOptions) {}

  get ctl(): StartedController {
    if (!this.controller) throw new Error('the hollow cluster is not started');
    return this.controller;
  }

  /** A temporary directory removed by stop(): kubectl's HOME, the agents' state, files a suite writes. */
  get work(): string {
    if (!this.workDir) throw new Error('the hollow cluster is not started');
    return this.workDir;
  }

  /** Names of the nodes start() joins. */
  get nodeNames(): string[] {
    return Array.from({ length: this.opts.nodes ?? 3 }, (_, i) => `${this.opts.prefix}-n${i + 1}`);
  }

  /**
   * Starts etcd (when external), the controller and the nodes, each one Ready
   * before the next joins. On failure everything started so far is stopped.
   */
  start = async (): Promise<void> => {
    const suite = `${this.opts.prefix} (hollow cluster)`;
    requireBinaries(suite, 'etcd');
    for (const v of this.opts.kubectl ?? KUBECTL_VERSIONS) {
      if (!existsSync(KUBECTL[v])) throw new Error(`${suite} needs ${KUBECTL[v]}: run hack/deps.sh first`);
    }
    try {
      this.workDir = mkdtempSync(join(tmpdir(), `flotilla-${this.opts.prefix}-`));
      if (this.opts.externalEtcd) this.etcd = this.unlessStopped(await startEtcd());
      this.controller = this.unlessStopped(await startController({ runArgs: this.opts.runArgs, ...(this.etcd ? { etcdEndpoints: this.etcd.endpoints } : {}) }));
      this.dispatcher = new HttpsAgent({ connect: { ca: readFileSync(this.controller.caFile) } });
      for (const name of this.nodeNames) await this.joinNode(name, { labels: this.opts.labels });
    } catch (e) {
      await this.stop().catch(() => undefined); // the start error is the one worth reporting
      throw e;
    }
  };

  /** A REST call as the admin over the cluster's one connection pool; the body parsed as JSON. */
  api = <T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> =>
    controllerApi<T>(this.ctl, path, { method, body, dispatcher: this.connection() });

  /** GET of a non-JSON path (such as /metrics) as the admin; the body as text. */
  text = async (path: string): Promise<string> => {
    const res = await request(`${this.ctl.server}${path}`, { dispatcher: this.connection(), headers: { authorization: `Bearer ${this.ctl.token}` } });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${res.statusCode}: ${text}`);
    return text;
  };

  /** Real kubectl (1.33 unless told) with the admin kubeconfig; never throws on a non-zero exit. */
  kubectl = (args: string[], opts: KubectlVersion | KubectlOptions = {}): Promise<KubectlRun> =>
    runKubectl(this.ctl.kubeconfig, this.work, args, typeof opts === 'string' ? { version: opts } : opts);

  /** kubectl that must succeed; returns its stdout. */
  ok = async (args: string[], opts: KubectlVersion | KubectlOptions = {}): Promise<string> => {
    const r = await this.kubectl(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  /** `kubectl apply -f -` of a manifest, which must succeed; returns its stdout. */
  apply = (manifest: string, version?: KubectlVersion): Promise<string> => this.ok(['apply', '-f', '-'], { version, stdin: manifest });

  /** The compiled flotctl with the admin kubeconfig. */
  flotctl = (args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<FlotctlRun> => flotctl(this.ctl.kubeconfig, args, opts);

  /**
   * Joins one more hollow node with a bootstrap token and waits for it to be
   * Ready. Each node gets its own pod subnet (10.250.<n>.0/24) and node IP.
   */
  joinNode = async (name: string, opts: { labels?: Record<string, string> } = {}): Promise<void> => {
    if (this.stopping) throw new Error(`node ${name} cannot join: the hollow cluster is stopping`);
    const n = ++this.joined;
    const ctl = this.ctl;
    const cred = await joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: name, stateDir: join(this.work, name), log: this.log });
    if (this.stopping) throw new Error(`node ${name} joined while the hollow cluster was stopping; its agent is not started`);
    const agent = new Agent({
      client: new ControllerClient(cred),
      runtime: new HollowRuntime(`10.250.${n}`),
      nodeIP: `10.201.0.${n}`,
      log: this.log,
      heartbeatMs: 500,
      ...this.opts.agent,
      ...(opts.labels ? { labels: opts.labels } : {}),
    });
    // registered before it starts, so a stop() from now on stops it too
    this.agents.set(name, agent);
    await agent.start();
    await eventually(`node ${name} Ready`, async () => {
      const node = (await this.api<Node>('GET', `/api/v1/nodes/${name}`)).body;
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    });
  };

  /** Stops a node's agent, as when its host goes away; the Node object stays. */
  stopNode = async (name: string): Promise<void> => {
    const agent = this.agents.get(name);
    if (!agent) throw new Error(`node ${name} has no running agent`);
    this.agents.delete(name);
    await agent.stop();
  };

  /**
   * Lists `path` (a collection, query allowed) and watches it from the list's
   * resourceVersion: the listed objects arrive as ADDED, then one SYNCED with
   * no object, then the watch's events. ERROR events and a broken stream are
   * kept in `errors`. stop() ends it; so does the cluster's.
   */
  watch = async <T = any>(path: string, onEvent: (type: WatchEvent, obj: T | undefined) => void): Promise<{ stop(): void; errors: unknown[] }> => {
    const list = await this.api<{ items?: T[]; metadata?: { resourceVersion?: string } }>('GET', path);
    if (list.status !== 200 || !list.body.items) throw new Error(`GET ${path}: HTTP ${list.status}: ${JSON.stringify(list.body)}`);
    for (const o of list.body.items) onEvent('ADDED', o);
    onEvent('SYNCED', undefined);
    const ac = new AbortController();
    this.watches.add(ac);
    const query = `${path.includes('?') ? '&' : '?'}watch=true&resourceVersion=${list.body.metadata?.resourceVersion ?? ''}`;
    const res = await request(`${this.ctl.server}${path}${query}`, { dispatcher: this.connection(), headers: { authorization: `Bearer ${this.ctl.token}` }, signal: ac.signal });
    if (res.statusCode !== 200) throw new Error(`watch ${path}: HTTP ${res.statusCode}: ${await res.body.text()}`);
    const errors: unknown[] = [];
    void readWatchEvents(res.body, onEvent as (type: string, obj: any) => void, errors, ac.signal).finally(() => this.watches.delete(ac));
    return { stop: () => ac.abort(), errors };
  };

  /**
   * Stops everything start() and joinNode() started — agents, watches, the
   * controller, the external etcd — and removes the temporary directory, each
   * step whether or not an earlier one failed; the failures are thrown together.
   */
  stop = (): Promise<void> =>
    (this.stopping ??= (async () => {
      const results: PromiseSettledResult<unknown>[] = await Promise.allSettled([...this.agents.values()].map((a) => a.stop()));
      this.agents.clear();
      for (const w of this.watches) w.abort();
      results.push(await settle(this.controller?.stop()), await settle(this.etcd?.stop()), await settle(this.dispatcher?.close()));
      if (this.workDir) rmSync(this.workDir, { recursive: true, force: true });
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      if (errors.length > 0) throw new AggregateError(errors, `stopping the hollow cluster ${this.opts.prefix}: ${errors.map(String).join('; ')}`);
    })());

  private connection(): HttpsAgent {
    if (!this.dispatcher) throw new Error('the hollow cluster is not started');
    return this.dispatcher;
  }

  /** A part started while stop() ran (a beforeAll that timed out) is not kept: stop() has already looked. */
  private unlessStopped<T extends { stop(): Promise<void> }>(part: T): T {
    if (this.stopping) {
      void part.stop().catch(() => undefined);
      throw new Error(`the hollow cluster ${this.opts.prefix} was stopped while starting`);
    }
    return part;
  }
}

function settle(p: Promise<unknown> | undefined): Promise<PromiseSettledResult<unknown>> {
  return Promise.allSettled([p]).then(([r]) => r!);
}
