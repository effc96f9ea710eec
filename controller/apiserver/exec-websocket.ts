// kubectl exec over WebSocket (kubectl 1.30+ asks for `v5.channel.k8s.io`
// first): the HTTP upgrade, a minimal RFC 6455 server (binary messages,
// fragmentation, ping/pong, close) and Kubernetes' channel protocol on top —
// each message is [channel][bytes], 0 stdin, 1 stdout, 2 stderr, 3 the final
// Status; v5 adds [255, channel] for "this channel is closed" (stdin EOF).
// SPDY/3.1 (older kubectl) is not spoken: it gets a 400 Status naming flotctl exec.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { BadRequestError, NotFoundError, podKind, UnauthorizedError, type Status } from '../../api/index.js';
import { exitStatus } from '../../api/exec-framing.js';
import { KUBECTL_EXEC_UNSUPPORTED } from './exec-route.js';
import type { ExecEvent, ResourceApi, Target } from './resource-api.js';
import { statusFromError } from './status.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/;
const PODS = podKind;
/** A client message larger than this is not stdin, it is abuse. */
const MAX_MESSAGE = 16 * 1024 * 1024;

const Op = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export function websocketAccept(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** An unmasked server frame. */
export function encodeWsFrame(opcode: number, payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126) {
    head[0] = 0x80 | opcode;
    if (n < 65536) {
      head[1] = 126;
      head.writeUInt16BE(n, 2);
    } else {
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(n), 2);
    }
  }
  return Buffer.concat([head, payload]);
}

export interface WsMessage {
  opcode: number;
  payload: Buffer;
}

/** Parses client frames (masked, possibly fragmented) into whole messages and control frames. */
export class WsFrameParser {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOp = 0;
  private fragmentLen = 0;

  push(chunk: Buffer): WsMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: WsMessage[] = [];
    for (;;) {
      if (this.buf.length < 2) return out;
      const fin = (this.buf[0]! & 0x80) !== 0;
      const opcode = this.buf[0]! & 0x0f;
      const masked = (this.buf[1]! & 0x80) !== 0;
      let len = this.buf[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return out;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return out;
        const big = this.buf.readBigUInt64BE(2);
        if (big > BigInt(MAX_MESSAGE)) throw new BadRequestError('websocket frame too large');
        len = Number(big);
        at = 10;
      }
      if (!masked) throw new BadRequestError('websocket: client frames must be masked');
      if (this.buf.length < at + 4 + len) return out;
      const mask = this.buf.subarray(at, at + 4);
      const payload = Buffer.from(this.buf.subarray(at + 4, at + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      this.buf = this.buf.subarray(at + 4 + len);
      if (opcode >= 8) {
        out.push({ opcode, payload });
        continue;
      }
      if (opcode !== Op.continuation) {
        this.fragmentOp = opcode;
        this.fragments = [];
        this.fragmentLen = 0;
      }
      this.fragments.push(payload);
      this.fragmentLen += payload.length;
      if (this.fragmentLen > MAX_MESSAGE) throw new BadRequestError('websocket message too large');
      if (fin) {
        out.push({ opcode: this.fragmentOp, payload: Buffer.concat(this.fragments) });
        this.fragments = [];
        this.fragmentLen = 0;
      }
    }
  }
}

/** A Status as Kubernetes writes it on the wire (Status causes already carry `reason`). */
function wireStatus(s: Status): Record<string, unknown> {
  return { ...s };
}

/** An HTTP error answer on a socket that was never upgraded. */
function refuse(socket: Duplex, err: unknown): void {
  const st = statusFromError(err);
  const body = JSON.stringify(st);
  socket.end(
    `HTTP/1.1 ${st.code} ${st.reason ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Stdin of the command: channel-0 messages in, EOF at v5's close signal or when the connection ends. */
class StdinQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;
  constructor(private readonly onDrain: () => void) {}
  push(b: Buffer): number {
    if (!this.ended) this.chunks.push(b);
    this.notify();
    return this.chunks.length;
  }
  end(): void {
    this.ended = true;
    this.notify();
  }
  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const c = this.chunks.shift();
      if (c) {
        if (this.chunks.length === 0) this.onDrain();
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

export interface UpgradeDeps {
  api: ResourceApi;
  authenticate(header: string | undefined): boolean;
  track(ac: AbortController): () => void;
}

/**
 * The server's 'upgrade' listener. Only a WebSocket exec is accepted; any other
 * upgrade (SPDY from older kubectl, attach, port-forward) is answered with a
 * Status, after the pod lookup so a missing pod is still a 404.
 */
export function handleUpgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => socket.destroy());
  void serveUpgrade(deps, req, socket, head).catch((e) => {
    if (!socket.destroyed) refuse(socket, e);
  });
}

async function serveUpgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  if (!deps.authenticate(req.headers.authorization)) throw new UnauthorizedError('Unauthorized');
  const url = new URL(req.url ?? '/', 'https://apiserver');
  const m = EXEC_PATH.exec(url.pathname);
  if (!m) throw new NotFoundError(`the server could not find the requested resource (${req.method} ${url.pathname}): only pods/exec is served over an upgrade`);
  const t: Target = { res: PODS, namespace: decodeURIComponent(m[1]!), name: decodeURIComponent(m[2]!), subresource: 'exec' };
  await deps.api.get(t); // 404 before anything else
  const isWs = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
  const key = req.headers['sec-websocket-key'];
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
  const protocol = PROTOCOLS.find((p) => offered.includes(p));
  if (!isWs || typeof key !== 'string' || req.method !== 'GET') throw new BadRequestError(KUBECTL_EXEC_UNSUPPORTED);
  if (!protocol) throw new BadRequestError(`exec over WebSocket needs one of the subprotocols ${PROTOCOLS.join(', ')}; offered: ${offered.join(', ') || 'none'}`);

  const q = url.searchParams;
  const command = q.getAll('command');
  const container = q.get('container') ?? undefined;
  const wantStdin = q.get('stdin') === 'true' || q.get('stdin') === '1';
  const tty = q.get('tty') === 'true' || q.get('tty') === '1';

  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${websocketAccept(key)}\r\nsec-websocket-protocol: ${protocol}\r\n\r\n`,
  );
  const ac = new AbortController();
  const untrack = deps.track(ac);
  let closed = false;
  const send = (opcode: number, payload: Uint8Array) => {
    if (!closed && !socket.destroyed) socket.write(encodeWsFrame(opcode, payload));
  };
  const sendChannel = (channel: number, data: Uint8Array) => send(Op.binary, Buffer.concat([Buffer.from([channel]), data]));
  const stdin = new StdinQueue(() => socket.resume());
  const parser = new WsFrameParser();
  const onData = (chunk: Buffer) => {
    let msgs: WsMessage[];
    try {
      msgs = parser.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const msg of msgs) {
      if (msg.opcode === Op.ping) send(Op.pong, msg.payload);
      else if (msg.opcode === Op.close) {
        send(Op.close, msg.payload.subarray(0, 2));
        closed = true;
        stdin.end();
        socket.end();
      } else if (msg.opcode === Op.binary && msg.payload.length > 0) {
        const ch = msg.payload[0]!;
        if (ch === 255 && msg.payload[1] === 0) stdin.end();
        else if (ch === 0 && msg.payload.length > 1 && stdin.push(msg.payload.subarray(1)) > 64) socket.pause();
      }
    }
  };
  socket.on('data', onData);
  socket.on('close', () => {
    closed = true;
    stdin.end();
    ac.abort();
  });
  if (head.length > 0) onData(head);

  let final: Status | undefined;
  try {
    const events: AsyncIterable<ExecEvent> = await deps.api.podExec(t, {
      command,
      ...(container ? { container } : {}),
      ...(wantStdin ? { stdin } : {}),
      ...(tty ? { tty: true } : {}),
      signal: ac.signal,
    });
    for await (const ev of events) {
      if ('exitCode' in ev) final = exitStatus(ev.exitCode, command);
      else sendChannel(ev.stream === 'stdout' ? 1 : 2, ev.data);
    }
  } catch (e) {
    final = statusFromError(e);
  } finally {
    untrack();
    if (final) sendChannel(3, Buffer.from(JSON.stringify(wireStatus(final))));
    // A normal closure: kubectl reads it as EOF on every channel and then decodes the status.
    send(Op.close, Buffer.from([0x03, 0xe8]));
    closed = true;
    if (!socket.destroyed) {
      socket.end();
      // The client answers the close and hangs up; one that does not is cut off.
      setTimeout(() => socket.destroy(), 5_000).unref();
    }
  }
}
