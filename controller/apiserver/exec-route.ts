// POST /api/v1/namespaces/{ns}/pods/{name}/exec for flotctl: plain HTTP with
// the framing of api/exec-framing.ts (stdin as the request body, stdout/stderr/
// status frames back). kubectl's exec upgrades the connection instead: WebSocket
// (kubectl 1.30+) is served by exec-websocket.ts, SPDY/3.1 gets a 400 Status.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { BadRequestError, podKind, type Status } from '../../api/index.js';
import { EXEC_CONTENT_TYPE, ExecChannel, encodeExecFrame, exitStatus } from '../../api/exec-framing.js';
import type { ExecEvent, ResourceApi, Target } from './resource-api.js';
import { statusFromError } from './status.js';

type Query = Record<string, string | string[] | undefined>;

const PODS = podKind;

function all(q: Query, name: string): string[] {
  const v = q[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function flag(q: Query, name: string): boolean {
  const v = all(q, name).at(-1);
  return v === 'true' || v === '1';
}

export const KUBECTL_EXEC_UNSUPPORTED =
  'exec, attach and port-forward over a SPDY/3.1 upgrade (kubectl before 1.30) are not supported by the Flotilla API server; use kubectl 1.30 or newer (exec over WebSocket) or "flotctl exec POD -- COMMAND"';

/** The request body as the command's stdin: a stream (flotctl -i) or bytes already read. */
function stdinOf(body: unknown): AsyncIterable<Uint8Array> {
  if (body instanceof Readable) return body;
  if (Buffer.isBuffer(body)) return (async function* () {
    if (body.length > 0) yield body;
  })();
  return (async function* () {})();
}

export interface ExecRouteHooks {
  /** Counts the request once the stream ends (the reply is hijacked). */
  done(req: FastifyRequest, code: number): void;
  /** Lets the server end the session on shutdown. */
  track(ac: AbortController): () => void;
}

export async function serveExec(api: ResourceApi, req: FastifyRequest, reply: FastifyReply, hooks: ExecRouteHooks): Promise<void> {
  const { namespace, name } = req.params as { namespace: string; name: string };
  if (req.headers.upgrade) throw new BadRequestError(KUBECTL_EXEC_UNSUPPORTED);
  const q = req.query as Query;
  const command = all(q, 'command');
  const t: Target = { res: PODS, namespace, name, subresource: 'exec' };
  const ac = new AbortController();
  const untrack = hooks.track(ac);
  const container = all(q, 'container').at(-1);
  const wantStdin = flag(q, 'stdin');
  let events: AsyncIterable<ExecEvent>;
  try {
    events = await api.podExec(t, {
      command,
      ...(container ? { container } : {}),
      ...(wantStdin ? { stdin: stdinOf(req.body) } : {}),
      ...(flag(q, 'tty') ? { tty: true } : {}),
      signal: ac.signal,
    });
  } catch (e) {
    untrack();
    throw e;
  }

  // From here the answer is 200 and every outcome, failures included, is the status frame.
  const res = reply.raw;
  reply.hijack();
  res.on('close', () => ac.abort());
  res.writeHead(200, { 'content-type': EXEC_CONTENT_TYPE, 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
  res.flushHeaders();
  const write = async (b: Buffer) => {
    if (res.destroyed || res.writableEnded) return;
    if (!res.write(b)) await new Promise<void>((resolve) => {
      res.once('drain', resolve);
      ac.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  };
  let final: Status | undefined;
  try {
    for await (const ev of events) {
      if ('exitCode' in ev) final = exitStatus(ev.exitCode, command);
      else await write(encodeExecFrame(ev.stream === 'stdout' ? ExecChannel.stdout : ExecChannel.stderr, ev.data));
    }
  } catch (e) {
    final = statusFromError(e);
  } finally {
    untrack();
    if (final && !res.destroyed && !res.writableEnded) res.write(encodeExecFrame(ExecChannel.status, Buffer.from(JSON.stringify(final))));
    if (!res.writableEnded && !res.destroyed) res.end();
    hooks.done(req, 200);
  }
}
