// The controller's side of logs and exec: find the pod's node, dial its agent's
// stream port (kube-apiserver → kubelet:10250), and relay. The agent must prove
// it is that node — a cluster-CA certificate with CN=system:node:<node> — since
// the address comes from the Node object, which any node could have pointed
// elsewhere; host names do not matter, the CN does.
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import {
  BadRequestError,
  FlotillaError,
  UnavailableError,
  realClock,
  type Clock,
  type Logger,
  type Node,
  type Pod,
} from '../../api/index.js';
import {
  podStreamsDefinition,
  streamErrorFromGrpc,
  type ExecInputMsg,
  type ExecOutputMsg,
  type LogChunkMsg,
  type LogsRequestMsg,
} from '../../api/streams-protocol.js';
import type { ExecEvent, ExecOptions, ExecProvider, LogProvider } from '../apiserver/index.js';
import type { CertAndKey } from '../pki/index.js';
import type { Store } from '../storage/store.js';
import { checkExecTarget, checkLogTarget, pickContainer } from './checks.js';
import { CallReader } from './call-reader.js';
import { issueControllerClientCert } from './client-cert.js';
import type { NodeConn } from './node-conn.js';
import { createNodeImages, type NodeImagesProvider } from './node-images.js';

const NODE_CN_PREFIX = 'system:node:';

export interface NodeStreamsOptions {
  store: Store;
  /** The cluster CA: trusts the agents and issues the controller's client certificate. */
  ca: CertAndKey;
  log: Logger;
  clock?: Clock;
  /** How long to wait for a node's agent to accept the connection; default 5 s. */
  connectTimeoutMs?: number;
  /** A ready-made client certificate (tests use one the agent must refuse); default one issued now. */
  clientCert?: CertAndKey;
}

export interface NodeStreams {
  logs: LogProvider;
  exec: ExecProvider;
  /** The image stores of the nodes (flotctl image import/export/list). */
  images: NodeImagesProvider;
  /** Closes the connections to the agents. */
  close(): void;
}

function isTrue(v: string | undefined): boolean {
  return v === 'true' || v === '1';
}

function intQuery(q: Record<string, string | undefined>, name: string, min: number): number | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw new BadRequestError(`invalid ${name} "${v}": must be an integer`);
  const n = Number(v);
  if (n < min) {
    // Kubernetes treats a negative tailLines as "all"; the other limits must be positive.
    if (name === 'tailLines') return undefined;
    throw new BadRequestError(`${name} must be greater than ${min - 1}, got ${n}`);
  }
  return n;
}

/** The LogsRequest for a GET …/log query (Kubernetes' PodLogOptions); `nowMs` turns sinceTime into seconds. */
export function logsRequestOf(pod: Pod, container: string, q: Record<string, string | undefined>, nowMs = Date.now()): LogsRequestMsg {
  const req: LogsRequestMsg = {
    pod: { namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
    container,
    follow: isTrue(q.follow),
    previous: isTrue(q.previous),
    timestamps: isTrue(q.timestamps),
  };
  const tail = intQuery(q, 'tailLines', 0);
  let since = intQuery(q, 'sinceSeconds', 1);
  if (q.sinceTime !== undefined && q.sinceTime !== '') {
    if (since !== undefined) throw new BadRequestError('at most one of sinceTime or sinceSeconds may be specified');
    const t = Date.parse(q.sinceTime);
    if (Number.isNaN(t)) throw new BadRequestError(`invalid sinceTime "${q.sinceTime}": must be an RFC 3339 time`);
    // The agent filters by age; a time in the future asks for nothing older than now.
    since = Math.max(1, Math.ceil((nowMs - t) / 1000));
  }
  const limit = intQuery(q, 'limitBytes', 1);
  if (tail !== undefined) req.tailLines = tail;
  if (since !== undefined) req.sinceSeconds = since;
  if (limit !== undefined) req.limitBytes = limit;
  return req;
}

/** The node's address for the controller and its agent's stream port. */
export function streamEndpointOf(node: Node): { address: string; port: number } {
  const name = node.metadata.name ?? '';
  const addrs = node.status?.addresses ?? [];
  const address = (addrs.find((a) => a.type === 'InternalIP') ?? addrs.find((a) => a.type === 'ExternalIP'))?.address;
  if (!address) throw new UnavailableError(`node "${name}" has no InternalIP address to reach its agent at`);
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!port) throw new UnavailableError(`node "${name}" does not serve logs, exec or images: its agent advertises no stream port (was it started with --stream-port 0?)`);
  return { address, port };
}

export function createNodeStreams(o: NodeStreamsOptions): NodeStreams {
  const clock = o.clock ?? realClock;
  const log = o.log;
  const connectTimeoutMs = o.connectTimeoutMs ?? 5_000;
  // Issued lazily: a controller that never streams never pays for an RSA key.
  let clientCert = o.clientCert;
  const conns = new Map<string, NodeConn>();
  const { Client } = podStreamsDefinition();

  function dial(nodeName: string, address: string, port: number): NodeConn {
    const target = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    const key = `${nodeName}|${target}`;
    const have = conns.get(nodeName);
    if (have && have.key === key) return have;
    if (have) have.client.close();
    clientCert ??= issueControllerClientCert(o.ca, { nowMs: clock.now() });
    const want = `${NODE_CN_PREFIX}${nodeName}`;
    const conn = { key, target } as NodeConn;
    const creds = grpc.credentials.createSsl(Buffer.from(o.ca.certPem), Buffer.from(clientCert.keyPem), Buffer.from(clientCert.certPem), {
      // The chain was verified against the CA already; the identity is the node's CN, not a host name.
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const cn = cert.subject?.CN;
        const got = Array.isArray(cn) ? cn[0] : cn;
        if (got === want) return undefined;
        conn.refused = `the agent at ${target} presented a certificate for "${got ?? ''}", not for node "${nodeName}" (${want})`;
        return new Error(conn.refused);
      },
    });
    conn.client = new Client(target, creds, {
      // TLS names a host, never an IP (RFC 6066); the node name is one, and the CN check ignores it anyway.
      'grpc.ssl_target_name_override': nodeName,
      'grpc.default_authority': nodeName,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    }) as NodeConn['client'];
    conns.set(nodeName, conn);
    return conn;
  }

  function drop(nodeName: string, conn: NodeConn): void {
    if (conns.get(nodeName) === conn) conns.delete(nodeName);
    conn.client.close();
  }

  /** Dials the node's agent; `known` is the Node when the caller read it already. */
  async function connect(nodeName: string, known?: Node): Promise<NodeConn> {
    let node: Node;
    try {
      node = known ?? (await o.store.get<Node>({ resource: 'nodes', name: nodeName }));
    } catch (e) {
      if (e instanceof FlotillaError && e.code === 'NotFound') throw new UnavailableError(`node "${nodeName}" of the pod is not registered`);
      throw e;
    }
    const { address, port } = streamEndpointOf(node);
    const conn = dial(nodeName, address, port);
    try {
      await new Promise<void>((resolve, reject) =>
        conn.client.waitForReady(clock.now() + connectTimeoutMs, (err?: Error) => (err ? reject(err) : resolve())),
      );
    } catch (e) {
      // A failed channel backs off for a long time: the next request dials afresh.
      drop(nodeName, conn);
      const why = conn.refused ?? `no answer within ${connectTimeoutMs} ms (${(e as Error).message})`;
      log.warn({ node: nodeName, target: conn.target, err: why }, 'cannot reach a node agent on its stream port');
      throw new UnavailableError(`cannot reach the agent of node "${nodeName}" at ${conn.target}: ${why}`);
    }
    return conn;
  }

  const convertFor = (nodeName: string, conn: NodeConn) => (e: unknown) => {
    const fe = streamErrorFromGrpc(e, `node "${nodeName}" at ${conn.target}`);
    if (fe.code === 'Unavailable') drop(nodeName, conn);
    return fe;
  };

  const logs: LogProvider = async (pod, query) => {
    const container = pickContainer(pod, query.container);
    const nodeName = checkLogTarget(pod, container, isTrue(query.previous));
    const req = logsRequestOf(pod, container, query, clock.now());
    const conn = await connect(nodeName);
    const call = (conn.client.Logs as (r: unknown) => grpc.ClientReadableStream<LogChunkMsg>).call(conn.client, req);
    const reader = new CallReader<LogChunkMsg>(call, convertFor(nodeName, conn));
    // The agent's first (empty) message says the pod and container exist: until
    // then, errors are still the HTTP answer.
    const first = await reader.next();
    if (first.done) return '';
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<Uint8Array>> => {
          for (;;) {
            const r = await reader.next();
            if (r.done) return { value: undefined, done: true };
            if (r.value.data && r.value.data.length > 0) return { value: r.value.data, done: false };
          }
        },
        return: async (): Promise<IteratorResult<Uint8Array>> => {
          await reader.return();
          return { value: undefined, done: true };
        },
      }),
    };
  };

  const exec: ExecProvider = async (pod, opts: ExecOptions) => {
    const container = pickContainer(pod, opts.container);
    const nodeName = checkExecTarget(pod, container);
    if (opts.command.length === 0) throw new BadRequestError('you must specify at least one command for the container');
    const conn = await connect(nodeName);
    const call = (conn.client.Exec as () => grpc.ClientDuplexStream<ExecInputMsg, ExecOutputMsg>).call(conn.client);
    const reader = new CallReader<ExecOutputMsg>(call, convertFor(nodeName, conn));
    const onAbort = () => void reader.return();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    call.write({
      start: {
        pod: { namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
        container,
        command: opts.command,
        stdin: opts.stdin !== undefined,
        tty: opts.tty ?? false,
      },
    });
    void pumpStdin(call, opts.stdin, log);
    let first: IteratorResult<ExecOutputMsg>;
    try {
      first = await reader.next();
    } catch (e) {
      opts.signal?.removeEventListener('abort', onAbort);
      throw e;
    }
    if (first.done || !('started' in first.value)) {
      await reader.return();
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) throw new UnavailableError('the client went away before the command started');
      throw new UnavailableError(`the agent of node "${nodeName}" ended the exec before starting the command`);
    }
    async function* events(): AsyncGenerator<ExecEvent> {
      try {
        for (;;) {
          const r = await reader.next();
          if (r.done) {
            if (opts.signal?.aborted) return;
            throw new UnavailableError(`the agent of node "${nodeName}" ended the exec without an exit code`);
          }
          const m = r.value as { stdout?: Buffer; stderr?: Buffer; exitCode?: number };
          if (m.stdout !== undefined && m.stdout !== null) yield { stream: 'stdout', data: m.stdout };
          else if (m.stderr !== undefined && m.stderr !== null) yield { stream: 'stderr', data: m.stderr };
          else if (m.exitCode !== undefined && m.exitCode !== null) {
            yield { exitCode: m.exitCode };
            return;
          }
        }
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        await reader.return();
      }
    }
    return events();
  };

  return {
    logs,
    exec,
    images: createNodeImages({ store: o.store, connect, convertFor, log }),
    close() {
      for (const c of conns.values()) c.client.close();
      conns.clear();
    },
  };
}

/** Sends the client's stdin to the agent, then EOF; stops when the call ends. */
async function pumpStdin(call: grpc.ClientDuplexStream<ExecInputMsg, ExecOutputMsg>, stdin: AsyncIterable<Uint8Array> | undefined, log: Logger): Promise<void> {
  let over = false;
  const end = () => (over = true);
  call.once('close', end);
  call.once('error', end);
  try {
    if (stdin) {
      for await (const chunk of stdin) {
        if (over) return;
        if (chunk.length === 0) continue;
        if (!call.write({ stdin: Buffer.from(chunk) })) {
          await new Promise<void>((resolve) => {
            call.once('drain', resolve);
            call.once('close', resolve);
          });
        }
      }
      if (!over) call.write({ stdinClose: true });
    }
  } catch (e) {
    // The HTTP client hung up mid-body: the command sees EOF.
    log.debug({ err: (e as Error).message }, 'exec stdin ended early');
  } finally {
    if (!over) call.end();
  }
}
