// The agent's logs/exec server (api/proto/streams.proto), the kubelet's port
// 10250 in Kubernetes terms: the controller dials in when a user asks for a
// container's log or an exec. TLS with the node credential; the caller must
// present a certificate of the cluster CA naming the controller, because these
// calls read pod output and run commands in containers.
import * as grpc from '@grpc/grpc-js';
import {
  BadRequestError,
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
  toFlotillaError,
  type Logger,
  type Pod,
} from '../../api/index.js';
import {
  CONTROLLER_CLIENT_CN,
  podStreamsDefinition,
  streamErrorToGrpc,
  type ExecInputMsg,
  type ExecOutputMsg,
  type ExecStartMsg,
  type LogChunkMsg,
  type LogsRequestMsg,
  type StreamPodRef,
} from '../../api/streams-protocol.js';
import type { ContainerLogOptions, PodRuntime } from '../pod-runtime.js';
import { imageHandlers, type ImageAdminOptions } from './images.js';

/** The pods bound to this node (the Agent). */
export interface PodLookup {
  readonly nodeName: string;
  findPod(namespace: string, name: string): Pod | undefined;
}

export interface StreamServerOptions {
  /** Address to listen on; default 0.0.0.0. */
  host?: string;
  /** 0 picks a free port (tests); the default in main.ts is 10250. */
  port: number;
  /** The node credential: it serves with the node certificate and trusts only the cluster CA. */
  credential: { caPem: string; certPem: string; keyPem: string };
  runtime: PodRuntime;
  pods: PodLookup;
  log: Logger;
  /** The CN a caller must carry; default the controller's. */
  allowedClientCN?: string;
  /** The node's image store for ImportImage/ExportImage/ListImages; absent (hollow nodes): NotSupported. */
  images?: ImageAdminOptions;
}

export interface StreamServer {
  port: number;
  stop(): Promise<void>;
}

type AuthCall = { getAuthContext(): { sslPeerCertificate?: { subject?: { CN?: string | string[] } } } | undefined };

/** Resolves the pod and container a call names, with Kubernetes' wording when either is unknown. */
export function resolveTarget(pods: PodLookup, ref: StreamPodRef | undefined, container: string | undefined): { pod: Pod; container: string } {
  const ns = ref?.namespace ?? '';
  const name = ref?.name ?? '';
  if (!ns || !name) throw new BadRequestError('pod namespace and name are required');
  const pod = pods.findPod(ns, name);
  if (!pod || (ref?.uid && pod.metadata.uid !== ref.uid)) {
    throw new NotFoundError(`pod "${name}" in namespace "${ns}" is not on node "${pods.nodeName}"`, { name, kind: 'pods' });
  }
  const names = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => c.name);
  if (!container) {
    if (pod.spec.containers.length === 1) return { pod, container: pod.spec.containers[0]!.name };
    throw new BadRequestError(`a container name must be specified for pod ${name}, choose one of: [${pod.spec.containers.map((c) => c.name).join(' ')}]`);
  }
  if (!names.includes(container)) throw new NotFoundError(`container "${container}" not found in pod "${name}" in namespace "${ns}"`);
  return { pod, container };
}

export function logOptionsOf(req: LogsRequestMsg, signal: AbortSignal): ContainerLogOptions {
  const o: ContainerLogOptions = { signal };
  if (req.follow) o.follow = true;
  if (req.previous) o.previous = true;
  if (req.timestamps) o.timestamps = true;
  if (req.tailLines !== undefined && req.tailLines !== null && req.tailLines >= 0) o.tailLines = Number(req.tailLines);
  if (req.sinceSeconds !== undefined && req.sinceSeconds !== null && req.sinceSeconds > 0) o.sinceSeconds = Number(req.sinceSeconds);
  if (req.limitBytes !== undefined && req.limitBytes !== null && req.limitBytes > 0) o.limitBytes = Number(req.limitBytes);
  return o;
}

/**
 * Ends a call with an error status. grpc-js sends the status from its own
 * 'error' listener; destroy(err) would tear the stream down without sending it,
 * leaving the caller waiting.
 */
function fail(call: { emit(event: 'error', e: unknown): boolean }, e: unknown): void {
  call.emit('error', streamErrorToGrpc(e));
}

export function streamHandlers(o: Pick<StreamServerOptions, 'runtime' | 'pods' | 'log' | 'allowedClientCN' | 'images'>): grpc.UntypedServiceImplementation {
  const allowed = o.allowedClientCN ?? CONTROLLER_CLIENT_CN;
  const authorize = (call: AuthCall): void => {
    const cn = call.getAuthContext()?.sslPeerCertificate?.subject?.CN;
    const who = Array.isArray(cn) ? cn[0] : cn;
    if (!who) throw new UnauthorizedError('a client certificate is required');
    if (who !== allowed) throw new ForbiddenError(`"${who}" may not read logs or exec on node "${o.pods.nodeName}": only ${allowed} may`);
  };

  return {
    ...imageHandlers({ images: o.images, nodeName: o.pods.nodeName, log: o.log, authorize: (call) => authorize(call as AuthCall) }),

    Logs: (call: grpc.ServerWritableStream<LogsRequestMsg, LogChunkMsg>) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      const run = async () => {
        authorize(call as unknown as AuthCall);
        const { pod, container } = resolveTarget(o.pods, call.request.pod, call.request.container);
        const it = o.runtime.containerLogs(pod, container, logOptionsOf(call.request, ac.signal));
        // "Opened": the caller may answer its client now, before any line exists (logs -f).
        call.write({ data: Buffer.alloc(0) });
        for await (const chunk of it) {
          if (ac.signal.aborted) return;
          // Respect a slow reader: the log may be far bigger than memory allows buffering.
          if (!call.write({ data: Buffer.from(chunk) })) await new Promise<void>((resolve) => {
            call.once('drain', resolve);
            ac.signal.addEventListener('abort', () => resolve(), { once: true });
          });
        }
        call.end();
      };
      run().catch((e) => {
        if (ac.signal.aborted) return;
        const fe = toFlotillaError(e);
        o.log.debug({ err: fe.message, code: fe.code }, 'logs call failed');
        fail(call, fe);
      });
    },

    Exec: (call: grpc.ServerDuplexStream<ExecInputMsg, ExecOutputMsg>) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      const inputs = (call as unknown as AsyncIterable<ExecInputMsg>)[Symbol.asyncIterator]();
      // Stdin is pulled from the call as the command reads it, so the caller's
      // sending is paced by the command (gRPC flow control does the rest).
      async function* stdin(): AsyncGenerator<Uint8Array> {
        for (;;) {
          let r: IteratorResult<ExecInputMsg>;
          try {
            r = await inputs.next();
          } catch {
            return; // the caller went away: EOF for the command
          }
          if (r.done) return;
          const m = r.value as ExecInputMsg & { stdin?: Buffer; stdinClose?: boolean };
          if (m.stdin !== undefined && m.stdin !== null) yield Buffer.from(m.stdin);
          else if (m.stdinClose) return;
        }
      }
      const run = async () => {
        authorize(call as unknown as AuthCall);
        const first = await inputs.next();
        const start = first.done ? undefined : (first.value as { start?: ExecStartMsg }).start;
        if (!start) throw new BadRequestError('an exec call must begin with its start message');
        const command = start.command ?? [];
        if (command.length === 0) throw new BadRequestError('you must specify at least one command for the container');
        const { pod, container } = resolveTarget(o.pods, start.pod, start.container);
        call.write({ started: true });
        o.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, container, command: command[0] }, 'exec');
        const code = await o.runtime.exec(pod, container, {
          command,
          ...(start.stdin ? { stdin: stdin() } : {}),
          ...(start.tty ? { tty: true } : {}),
          onStdout: (c) => void (!ac.signal.aborted && call.write({ stdout: Buffer.from(c) })),
          onStderr: (c) => void (!ac.signal.aborted && call.write({ stderr: Buffer.from(c) })),
          signal: ac.signal,
        });
        if (ac.signal.aborted) return;
        call.write({ exitCode: code });
        call.end();
      };
      run().catch((e) => {
        if (ac.signal.aborted) return;
        const fe = toFlotillaError(e);
        o.log.debug({ err: fe.message, code: fe.code }, 'exec call failed');
        fail(call, fe);
      });
    },
  };
}

export async function startStreamServer(o: StreamServerOptions): Promise<StreamServer> {
  const server = new grpc.Server({ 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_permit_without_calls': 1 });
  server.addService(podStreamsDefinition().service, streamHandlers(o));
  const host = o.host ?? '0.0.0.0';
  const addr = `${host.includes(':') ? `[${host}]` : host}:${o.port}`;
  // checkClientCertificate: the TLS handshake itself refuses callers without a cluster-CA certificate.
  const creds = grpc.ServerCredentials.createSsl(
    Buffer.from(o.credential.caPem),
    [{ private_key: Buffer.from(o.credential.keyPem), cert_chain: Buffer.from(o.credential.certPem) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(addr, creds, (err, p) => (err ? reject(new UnavailableError(`cannot listen on ${addr} for logs/exec: ${err.message}`)) : resolve(p))),
  );
  o.log.info({ port }, 'serving container logs and exec to the controller');
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        // A follow or an interactive exec never ends by itself: force after a short grace.
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
