// A one-node cluster for logs/exec tests: the real compiled controller (join,
// node service, pod watch, status) on a test etcd; one real Agent with its
// joined credential and its stream server on loopback, over the PodRuntime the
// test gives; and an API server in this process on the same etcd, built with
// buildApiServer + createNodeStreams — what runController wires. flotctl and
// kubectl get a kubeconfig for that API server.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent as HttpAgent, request } from 'undici';
import { silentLogger, type Container, type Pod } from '../../api/index.js';
import {
  buildApiServer,
  EtcdStore,
  loadStateDir,
  registerNodeImageApi,
  renderKubeconfig,
  TokenAuthenticator,
  type ApiServer,
  type ControllerState,
} from '../../controller/index.js';
import { createNodeStreams, type NodeStreams } from '../../controller/streams/index.js';
import { Agent } from '../../node-agent/agent.js';
import { ControllerClient } from '../../node-agent/controller-client.js';
import type { NodeCredential } from '../../node-agent/join/credentials.js';
import { joinCluster } from '../../node-agent/join/join.js';
import type { PodRuntime } from '../../node-agent/pod-runtime.js';
import { startStreamServer, type ImageAdminOptions, type StreamServer } from '../../node-agent/streams/index.js';
import { REPO_ROOT, startController, type StartedController } from './controller.js';
import { startEtcd, type TestEtcd } from './etcd.js';
import { requireBinaries } from './require.js';

export const CLI = join(REPO_ROOT, 'dist/cli/main.js');
export const KUBECTLS: [string, string][] = [
  ['kubectl 1.20 (Debian)', '/opt/flotilla/kubernetes-client/usr/bin/kubectl'],
  ['kubectl on PATH', '/usr/bin/kubectl'],
];

/**
 * kubectl 1.30+ for exec over WebSocket: /usr/bin/kubectl dispatches to the release
 * matching the server's minor version (1.28, SPDY only), so this one is called by name.
 */
export const KUBECTL_WS = '/usr/lib/google-cloud-sdk/bin/kubectl.1.32';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StreamsCluster {
  nodeName: string;
  ctl: StartedController;
  state: ControllerState;
  cred: NodeCredential;
  agent: Agent;
  streamServer: StreamServer;
  store: EtcdStore;
  streams: NodeStreams;
  api: ApiServer;
  /** https://127.0.0.1:PORT of the API server with logs/exec. */
  server: string;
  kubeconfig: string;
  work: string;
  rest(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: any }>;
  run(bin: string, args: string[], opts?: { stdin?: string }): Promise<Run>;
  flotctl(args: string[], opts?: { stdin?: string }): Promise<Run>;
  /** Creates the pod in `default`, binds it to the node, waits until every container runs. */
  runningPod(name: string, containers: Array<Partial<Container> & { name: string }>, timeoutMs?: number): Promise<Pod>;
  stop(): Promise<void>;
}

export async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startStreamsCluster(o: {
  suite: string;
  nodeName: string;
  runtime: PodRuntime;
  /** The node's image store for `flotctl image` (absent: the image RPCs answer NotSupported). */
  images?: ImageAdminOptions;
}): Promise<StreamsCluster> {
  requireBinaries(o.suite, 'etcd');
  for (const bin of [...KUBECTLS.map(([, b]) => b), KUBECTL_WS]) if (!existsSync(bin)) throw new Error(`${o.suite} needs ${bin}: run hack/deps.sh first`);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: compile first with "npx tsc -p tsconfig.json"`);
  const work = mkdtempSync(join(tmpdir(), 'flotilla-streams-'));
  const stops: Array<() => Promise<void> | void> = [() => rmSync(work, { recursive: true, force: true })];
  const stop = async () => {
    for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
    stops.length = 0;
  };
  try {
    const etcd: TestEtcd = await startEtcd();
    stops.push(() => etcd.stop());
    const ctl = await startController({ etcdEndpoints: etcd.endpoints, runArgs: ['--no-scheduler'] });
    stops.push(() => ctl.stop());
    const state = loadStateDir(ctl.stateDir);
    const cred = await joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: o.nodeName, stateDir: join(work, 'agent'), log: silentLogger() });

    // The stream server looks pods up in the agent, which needs the server's port first.
    let agentRef: Agent | undefined;
    const streamServer = await startStreamServer({
      host: '127.0.0.1',
      port: 0,
      credential: cred,
      runtime: o.runtime,
      pods: { nodeName: o.nodeName, findPod: (ns, name) => agentRef?.findPod(ns, name) },
      ...(o.images ? { images: o.images } : {}),
      log: silentLogger(),
    });
    stops.push(() => streamServer.stop());
    const agent = new Agent({
      client: new ControllerClient(cred),
      runtime: o.runtime,
      nodeIP: '127.0.0.1',
      log: silentLogger(),
      heartbeatMs: 2_000,
      relistMs: 1_000,
      streamPort: streamServer.port,
    });
    agentRef = agent;
    await agent.start();
    stops.push(() => agent.stop());

    const store = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger() });
    stops.push(() => store.close());
    const streams = createNodeStreams({ store, ca: state.ca, log: silentLogger(), connectTimeoutMs: 2_000 });
    stops.push(() => streams.close());
    const api = buildApiServer({
      store,
      auth: new TokenAuthenticator([{ token: state.adminToken, user: 'admin' }]),
      log: silentLogger(),
      // As runController: node certificates are accepted too, under the node restriction.
      https: { cert: `${state.serving.certPem.trim()}\n${state.ca.certPem.trim()}\n`, key: state.serving.keyPem, clientCa: state.ca.certPem },
      logs: streams.logs,
      exec: streams.exec,
      // As runController: the node image routes of /apis/flotilla.io/v1 (flotctl image).
      extraRoutes: (app) => registerNodeImageApi(app, { images: streams.images }),
    });
    await api.api.bootstrap();
    const address = await api.app.listen({ host: '127.0.0.1', port: 0 });
    stops.push(() => api.app.close());
    const server = `https://127.0.0.1:${new URL(address).port}`;
    const kubeconfig = join(work, 'kubeconfig');
    writeFileSync(kubeconfig, renderKubeconfig({ server, caPem: state.ca.certPem, token: state.adminToken }));
    const http = new HttpAgent({ connect: { ca: state.ca.certPem } });
    stops.push(() => http.close());

    const rest: StreamsCluster['rest'] = async (method, path, body) => {
      const r = await request(`${server}${path}`, {
        method: method as 'GET',
        dispatcher: http,
        headers: { authorization: `Bearer ${state.adminToken}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await r.body.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: r.statusCode, text, json };
    };

    const run: StreamsCluster['run'] = (bin, args, opts = {}) =>
      new Promise((resolve, reject) => {
        const child = spawn(bin, args, { env: { PATH: process.env.PATH, HOME: work, KUBECONFIG: kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
        child.stdin.end(opts.stdin ?? '');
      });

    const runningPod: StreamsCluster['runningPod'] = async (name, containers, timeoutMs = 20_000) => {
      const created = await rest('POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: { containers: containers.map((c) => ({ image: 'busybox', ...c })) },
      });
      if (created.status !== 201) throw new Error(`creating pod ${name}: ${created.text}`);
      const bound = await rest('POST', `/api/v1/namespaces/default/pods/${name}/binding`, { kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: o.nodeName } });
      if (bound.status !== 201) throw new Error(`binding pod ${name}: ${bound.text}`);
      return until(
        `pod ${name} running`,
        async () => {
          const p = (await rest('GET', `/api/v1/namespaces/default/pods/${name}`)).json as Pod;
          return p.status?.phase === 'Running' && p.status.containerStatuses?.every((c) => c.state?.running) ? p : undefined;
        },
        timeoutMs,
      );
    };

    return {
      nodeName: o.nodeName,
      ctl,
      state,
      cred,
      agent,
      streamServer,
      store,
      streams,
      api,
      server,
      kubeconfig,
      work,
      rest,
      run,
      flotctl: (args, opts) => run(process.execPath, [CLI, ...args], opts),
      runningPod,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
