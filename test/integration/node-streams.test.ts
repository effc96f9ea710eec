// Logs and exec from user to container, the Kubernetes way: flotctl/kubectl →
// API server → (mutual TLS, gRPC) → the node agent's stream port → PodRuntime.
//
// The controller is the real compiled one (join, node service, pod watch, status);
// the agent is the real Agent + stream server with its real joined credential.
// The API server that serves logs/exec runs in this process on the same etcd,
// built with buildApiServer + createNodeStreams — the wiring runController gets.
//
// The runtime end here is a double (ScriptedRuntime: the hollow runtime plus a
// scripted log and exec) so these tests exercise the transport only: framing,
// follow/tail/-c, stdin, exit codes, errors, and certificate checks both ways.
// The proof against containers run by crun is in node-streams-crun.test.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent as HttpAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, silentLogger, type Pod } from '../../api/index.js';
import { generateCa } from '../../controller/index.js';
import { createNodeStreams, issueControllerClientCert } from '../../controller/streams/index.js';
import { signNodeCsr } from '../../controller/join/node-certificate.js';
import { HollowRuntime } from '../../node-agent/hollow-runtime.js';
import { createNodeCsr } from '../../node-agent/join/credentials.js';
import type { ContainerLogOptions, ExecRequest } from '../../node-agent/pod-runtime.js';
import { startStreamServer } from '../../node-agent/streams/index.js';
import { freeTcpPort } from '../helpers/controller.js';
import { CLI, KUBECTL_WS, KUBECTLS, startStreamsCluster, until, type StreamsCluster } from '../helpers/streams-cluster.js';

const NODE = `streams-${process.pid}`;
const NS = 'default';

/** The transport's runtime double: hollow pods, a scripted log per container, scripted commands. */
class ScriptedRuntime extends HollowRuntime {
  private readonly logs = new Map<string, string[]>();
  private readonly previous = new Map<string, string[]>();
  private readonly waiters = new Set<() => void>();
  followsEnded = 0;
  execsAborted = 0;

  append(pod: Pod, container: string, line: string): void {
    const k = `${pod.metadata.uid}/${container}`;
    this.logs.set(k, [...(this.logs.get(k) ?? []), line]);
    for (const w of [...this.waiters]) w();
  }

  setPrevious(pod: Pod, container: string, lines: string[]): void {
    this.previous.set(`${pod.metadata.uid}/${container}`, lines);
  }

  override containerLogs(pod: Pod, container: string, opts: ContainerLogOptions): AsyncIterable<Uint8Array> {
    const k = `${pod.metadata.uid}/${container}`;
    const self = this;
    return (async function* () {
      const lines = () => (opts.previous ? self.previous.get(k) : self.logs.get(k)) ?? [];
      const fmt = (l: string) => Buffer.from(`${opts.timestamps ? '2026-11-23T07:00:00.000000000Z ' : ''}${l}\n`);
      let at = opts.tailLines !== undefined ? Math.max(0, lines().length - opts.tailLines) : 0;
      for (; at < lines().length; at++) yield fmt(lines()[at]!);
      if (!opts.follow) return;
      try {
        while (!opts.signal?.aborted) {
          await new Promise<void>((resolve) => {
            const w = () => {
              self.waiters.delete(w);
              resolve();
            };
            self.waiters.add(w);
            opts.signal?.addEventListener('abort', w, { once: true });
          });
          for (; at < lines().length; at++) yield fmt(lines()[at]!);
        }
      } finally {
        self.followsEnded++;
      }
    })();
  }

  override async exec(_pod: Pod, _container: string, req: ExecRequest): Promise<number> {
    const [cmd, ...args] = req.command;
    switch (cmd) {
      case 'echo':
        req.onStdout(Buffer.from(`${args.join(' ')}\n`));
        return 0;
      case 'cat':
        for await (const c of req.stdin ?? []) req.onStdout(c);
        return 0;
      case 'wait':
        req.onStdout(Buffer.from('waiting\n'));
        await new Promise<void>((resolve) => req.signal?.addEventListener('abort', () => resolve(), { once: true }));
        this.execsAborted++;
        return 137;
      case 'fail':
        req.onStdout(Buffer.from('some output\n'));
        req.onStderr(Buffer.from('it failed\n'));
        return Number(args[0]);
      default:
        throw new NotFoundError(`exec: "${cmd}": executable file not found in $PATH`);
    }
  }
}

let c: StreamsCluster;
let runtime: ScriptedRuntime;
const extras: { stop(): Promise<void> | void }[] = [];
const rest = (method: string, path: string, body?: unknown) => c.rest(method, path, body);
const run = (bin: string, args: string[], opts: { stdin?: string } = {}) => c.run(bin, args, opts);
const flotctl = (args: string[], opts: { stdin?: string } = {}) => c.flotctl(args, opts);
const runningPod = (name: string, containers: string[]) => c.runningPod(name, containers.map((n) => ({ name: n })));

beforeAll(async () => {
  runtime = new ScriptedRuntime();
  c = await startStreamsCluster({ suite: 'node streams integration', nodeName: NODE, runtime });
});

afterAll(async () => {
  for (const x of extras) await x.stop();
  await c?.stop();
});

describe('[transport, runtime double] logs through the node agent', () => {
  let web: Pod;
  let duo: Pod;
  beforeAll(async () => {
    web = await runningPod('web', ['main']);
    duo = await runningPod('duo', ['main', 'side']);
    for (const l of ['one', 'two', 'three']) runtime.append(web, 'main', l);
    runtime.append(duo, 'side', 'from the sidecar');
  });

  it('the Node advertises the agent stream port', async () => {
    const node = (await rest('GET', `/api/v1/nodes/${NODE}`)).json;
    expect(node.status.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: c.streamServer.port } });
  });

  it('flotctl logs prints the log; --tail, --timestamps and -c pick what is shown', async () => {
    expect(await flotctl(['logs', 'web'])).toEqual({ code: 0, stdout: 'one\ntwo\nthree\n', stderr: '' });
    expect((await flotctl(['logs', 'web', '--tail', '1'])).stdout).toBe('three\n');
    expect((await flotctl(['logs', 'web', '--tail', '0'])).stdout).toBe('');
    expect((await flotctl(['logs', 'web', '--tail', '1', '--timestamps'])).stdout).toBe('2026-11-23T07:00:00.000000000Z three\n');
    expect((await flotctl(['logs', 'duo', '-c', 'side'])).stdout).toBe('from the sidecar\n');
    const noContainer = await flotctl(['logs', 'duo']);
    expect(noContainer.code).toBe(1);
    expect(noContainer.stderr).toBe('Error from server (BadRequest): a container name must be specified for pod duo, choose one of: [main side]\n');
  });

  it('flotctl logs --previous asks for the last terminated instance, refused while there is none', async () => {
    runtime.setPrevious(web, 'main', ['before the restart']);
    const r = await flotctl(['logs', 'web', '--previous']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error from server (BadRequest): previous terminated container "main" in pod "web" not found\n');
  });

  it('flotctl logs -f prints lines written after it started, and stopping it ends the follow on the agent', async () => {
    const child: ChildProcess = spawn(process.execPath, [CLI, 'logs', '-f', '--tail', '1', 'web'], {
      env: { PATH: process.env.PATH, HOME: c.work, KUBECONFIG: c.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('the tail line', async () => (out === 'three\n' ? true : undefined));
      const ended = runtime.followsEnded;
      runtime.append(web, 'main', 'four');
      await until('the new line', async () => (out === 'three\nfour\n' ? true : undefined));
      child.kill('SIGTERM');
      // The client's going away reaches the agent's follow at once, not at the next line.
      await until('the agent to end the follow', async () => (runtime.followsEnded > ended ? true : undefined));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it.each(KUBECTLS)('%s logs -f follows the log', async (_name, bin) => {
    const child: ChildProcess = spawn(bin, ['logs', '-f', '--tail=1', 'web'], {
      env: { PATH: process.env.PATH, HOME: c.work, KUBECONFIG: c.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('the last line', async () => (out !== '' ? true : undefined));
      const last = out;
      const line = `followed by ${bin}`;
      runtime.append(web, 'main', line);
      await until('the new line', async () => (out === `${last}${line}\n` ? true : undefined));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it.each(KUBECTLS)('%s logs prints the log, with --tail and -c', async (_name, bin) => {
    const all = (await flotctl(['logs', 'web'])).stdout;
    expect(all.startsWith('one\ntwo\nthree\nfour\n')).toBe(true);
    expect(await run(bin, ['logs', 'web'])).toMatchObject({ code: 0, stdout: all });
    expect((await run(bin, ['logs', 'web', '--tail=2'])).stdout).toBe(all.split('\n').slice(-3).join('\n'));
    expect((await run(bin, ['logs', 'duo', '-c', 'side'])).stdout).toBe('from the sidecar\n');
  });
});

describe('[transport, runtime double] exec through the node agent', () => {
  beforeAll(async () => {
    await runningPod('shell', ['main']);
  });

  it('flotctl exec writes stdout and exits 0', async () => {
    expect(await flotctl(['exec', 'shell', '--', 'echo', 'hello', 'world'])).toEqual({ code: 0, stdout: 'hello world\n', stderr: '' });
  });

  it("flotctl exec keeps stdout and stderr apart and exits with the command's exit code", async () => {
    expect(await flotctl(['exec', 'shell', '--', 'fail', '7'])).toEqual({
      code: 7,
      stdout: 'some output\n',
      stderr: 'it failed\ncommand terminated with exit code 7\n',
    });
  });

  it('flotctl exec -i streams stdin to the command', async () => {
    const input = 'line one\nline two\n'.repeat(5000);
    const r = await flotctl(['exec', '-i', 'shell', '--', 'cat'], { stdin: input });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(input.length);
    expect(r.stdout === input).toBe(true);
  });

  it("a user who goes away cancels the command's session on the agent", async () => {
    const child = spawn(process.execPath, [CLI, 'exec', 'shell', '--', 'wait'], {
      env: { PATH: process.env.PATH, HOME: c.work, KUBECONFIG: c.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const before = runtime.execsAborted;
    try {
      await until('the command to start', async () => (out === 'waiting\n' ? true : undefined));
    } finally {
      child.kill('SIGKILL');
    }
    await until('the runtime to see the abort', async () => (runtime.execsAborted > before ? true : undefined));
  });

  it('without -i the command reads an empty stdin', async () => {
    expect(await flotctl(['exec', 'shell', '--', 'cat'], { stdin: 'ignored' })).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('a command the runtime cannot run is an error line, not an exit code', async () => {
    const r = await flotctl(['exec', 'shell', '--', 'nope']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Error from server (NotFound): exec: "nope": executable file not found in $PATH\n' });
  });
});

describe('[transport, runtime double] kubectl exec over WebSocket (kubectl 1.30+)', () => {
  const kubectl = KUBECTL_WS;
  beforeAll(async () => {
    await runningPod('wsshell', ['main']);
  });

  it('prints stdout and exits 0', async () => {
    const dbg = await run(kubectl, ['exec', 'wsshell', '-v=8', '--', 'echo', 'hello', 'websocket']);
    console.error(dbg.stderr.split('\n').filter((l) => /websocket|Upgrade|Sec-|GET|POST|Response|fallback|error/i.test(l)).slice(0, 30).join('\n'));
    expect(await run(kubectl, ['exec', 'wsshell', '--', 'echo', 'hello', 'websocket'])).toEqual({ code: 0, stdout: 'hello websocket\n', stderr: '' });
  });

  it("keeps stderr apart and exits with the command's exit code", async () => {
    const r = await run(kubectl, ['exec', 'wsshell', '--', 'fail', '5']);
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('some output\n');
    expect(r.stderr).toBe('it failed\ncommand terminated with exit code 5\n');
  });

  it('-i streams stdin and ends it at EOF', async () => {
    const input = 'through kubectl\n'.repeat(20_000);
    const r = await run(kubectl, ['exec', '-i', 'wsshell', '--', 'cat'], { stdin: input });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(input.length);
    expect(r.stdout === input).toBe(true);
  });

  it('a missing pod is the same 404 as over plain HTTP', async () => {
    const r = await run(kubectl, ['exec', 'ghost', '--', 'ls']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('pods "ghost" not found');
  });

  it('a command the runtime cannot run is an error, not an exit code', async () => {
    const r = await run(kubectl, ['exec', 'wsshell', '--', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exec: "nope": executable file not found in $PATH');
  });
});

describe('[transport, runtime double] errors are Kubernetes Status objects', () => {
  it('an unknown pod is 404, an unscheduled one 400, an unknown container 400', async () => {
    const missing = await rest('POST', `/api/v1/namespaces/${NS}/pods/ghost/exec?command=ls`);
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'pods "ghost" not found' });
    await rest('POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unbound' }, spec: { containers: [{ name: 'main', image: 'busybox' }] } });
    for (const path of ['exec?command=ls', 'log']) {
      const r = await rest(path === 'log' ? 'GET' : 'POST', `/api/v1/namespaces/${NS}/pods/unbound/${path}`);
      expect(r.status).toBe(400);
      expect(r.json.message).toBe('pod unbound does not have a host assigned');
    }
    const badContainer = await rest('POST', `/api/v1/namespaces/${NS}/pods/shell/exec?command=ls&container=nope`);
    expect(badContainer.status).toBe(400);
    expect(badContainer.json.message).toBe('container nope is not valid for pod shell');
    const noCommand = await rest('POST', `/api/v1/namespaces/${NS}/pods/shell/exec`);
    expect(noCommand.status).toBe(400);
  });

  it.each(KUBECTLS)('%s exec (SPDY) is refused with a message naming the upgrade and flotctl exec', async (_name, bin) => {
    const r = await run(bin, ['exec', 'shell', '--', 'ls']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('over a SPDY/3.1 upgrade (kubectl before 1.30) are not supported');
    expect(r.stderr).toContain('flotctl exec');
    const missing = await run(bin, ['exec', 'ghost', '--', 'ls']);
    expect(missing.stderr).toContain('pods "ghost" not found');
  });

  it("a node's certificate may neither exec nor read logs through the API (node restriction)", async () => {
    const asNode = new HttpAgent({ connect: { ca: c.state.ca.certPem, cert: c.cred.certPem, key: c.cred.keyPem } });
    try {
      const ask = async (method: string, path: string) => {
        const r = await request(`${c.server}${path}`, { method: method as 'GET', dispatcher: asNode });
        return { status: r.statusCode, json: (await r.body.json()) as { message: string } };
      };
      const exec = await ask('POST', `/api/v1/namespaces/${NS}/pods/shell/exec?command=ls`);
      expect(exec.status).toBe(403);
      expect(exec.json.message).toContain(`User "system:node:${NODE}" cannot create resource "pods/exec"`);
      const log = await ask('GET', `/api/v1/namespaces/${NS}/pods/shell/log`);
      expect(log.status).toBe(403);
      // the same certificate reads pods, as a node must
      expect((await ask('GET', `/api/v1/namespaces/${NS}/pods/shell`)).status).toBe(200);
    } finally {
      await asNode.close();
    }
  });

  it('the agent answers NOT_FOUND for a pod it does not hold', async () => {
    const stranger: Pod = {
      metadata: { name: 'stranger', namespace: NS, uid: 'not-here' },
      spec: { nodeName: NODE, containers: [{ name: 'main', image: 'busybox' }] },
      status: { phase: 'Running', containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'busybox', state: { running: {} } }] },
    } as Pod;
    await expect(c.streams.logs(stranger, {})).rejects.toMatchObject({ code: 'NotFound', message: `pod "stranger" in namespace "${NS}" is not on node "${NODE}"` });
  });

  it('a node whose agent does not answer is 503 naming the node', async () => {
    const port = await freeTcpPort();
    await c.store.create('nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'silent' },
      status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } } },
    });
    await podOnNode('on-silent', 'silent');
    const r = await rest('POST', `/api/v1/namespaces/${NS}/pods/on-silent/exec?command=ls`);
    expect(r.status).toBe(503);
    expect(r.json.message).toMatch(new RegExp(`^cannot reach the agent of node "silent" at 127.0.0.1:${port}: `));
  });
});

/** A pod bound to `node` whose status says Running (written directly: no agent runs it). */
async function podOnNode(name: string, node: string): Promise<Pod> {
  await rest('POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'main', image: 'busybox' }] } });
  await rest('POST', `/api/v1/namespaces/${NS}/pods/${name}/binding`, { kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: node } });
  const cur = (await rest('GET', `/api/v1/namespaces/${NS}/pods/${name}`)).json as Pod;
  const st = await rest('PUT', `/api/v1/namespaces/${NS}/pods/${name}/status`, {
    ...cur,
    status: { phase: 'Running', containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'busybox', containerID: 'x://1', state: { running: {} } }] },
  });
  expect(st.status).toBe(200);
  return st.json as Pod;
}

describe('[transport] mutual TLS between the controller and the agent', () => {
  it("the agent refuses a cluster-CA client certificate that is not the controller's", async () => {
    const impostor = createNodeStreams({
      store: c.store,
      ca: c.state.ca,
      log: silentLogger(),
      clientCert: issueControllerClientCert(c.state.ca, { nowMs: Date.now(), commonName: `system:node:${NODE}` }),
    });
    try {
      const web = (await rest('GET', `/api/v1/namespaces/${NS}/pods/web`)).json as Pod;
      await expect(impostor.logs(web, {})).rejects.toMatchObject({
        code: 'Forbidden',
        message: `"system:node:${NODE}" may not read logs or exec on node "${NODE}": only system:flotilla-controller may`,
      });
    } finally {
      impostor.close();
    }
  });

  it('the agent refuses a client certificate from another CA during the handshake', async () => {
    const otherCa = generateCa({ nowMs: Date.now() });
    const outsider = createNodeStreams({
      store: c.store,
      ca: c.state.ca,
      log: silentLogger(),
      connectTimeoutMs: 2_000,
      clientCert: issueControllerClientCert(otherCa, { nowMs: Date.now() }),
    });
    try {
      const web = (await rest('GET', `/api/v1/namespaces/${NS}/pods/web`)).json as Pod;
      await expect(outsider.logs(web, {})).rejects.toMatchObject({ code: 'Unavailable' });
    } finally {
      outsider.close();
    }
  });

  it("the controller refuses an agent that presents another node's certificate", async () => {
    // An agent serving node A's credential, while the Node object of "forger" points at it.
    const { csrPem, keyPem } = createNodeCsr('someone-else');
    const other = { caPem: c.state.ca.certPem, keyPem, certPem: signNodeCsr(csrPem, 'someone-else', c.state.ca, Date.now()) };
    const fake = await startStreamServer({ host: '127.0.0.1', port: 0, credential: other, runtime, pods: { nodeName: 'someone-else', findPod: () => undefined }, log: silentLogger() });
    extras.push(fake);
    await c.store.create('nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'forger' },
      status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: fake.port } } },
    });
    await podOnNode('on-forger', 'forger');
    const r = await rest('POST', `/api/v1/namespaces/${NS}/pods/on-forger/exec?command=ls`);
    expect(r.status).toBe(503);
    expect(r.json.message).toBe(
      `cannot reach the agent of node "forger" at 127.0.0.1:${fake.port}: the agent at 127.0.0.1:${fake.port} presented a certificate for "system:node:someone-else", not for node "forger" (system:node:forger)`,
    );
  });
});
