// Request/ack and dump over a netlink socket: sequence numbers, one request in
// flight at a time (the kernel answers a socket's requests in order and allows
// one dump at a time), NLMSG_ERROR → NetlinkError with the kernel's extended-ack
// text, NLM_F_DUMP_INTR → the dump is retried.
import { getSystemErrorMap } from 'node:util';
import { NativeError, strerror as nativeStrerror } from '../../native/index.js';
import { AttrSet, encodeMessage, decodeMessages, type Attr, type NlMessage } from './codec.js';
import * as C from './constants.js';

/** What the connection needs from a socket (native NetlinkSocket, or a fake in unit tests). */
export interface DatagramSocket {
  readonly portId: number;
  send(msg: Buffer): void;
  /** One queued datagram or null. */
  recv(): Buffer | null;
  onReadable(cb: (() => void) | null): void;
  close(): void;
}

/** A kernel refusal of a netlink request: errno, the request type and the kernel's text. */
export class NetlinkError extends NativeError {
  /** RTM_NEWLINK, … */
  readonly request: string;
  /** The extended-ack message, when the kernel sent one. */
  readonly extack: string | undefined;
  constructor(errno: number, request: string, opts: { object?: string; extack?: string; context?: string }) {
    const base = errnoText(errno);
    super({
      errno,
      syscall: request,
      path: opts.object ?? null,
      kernelMessage: opts.extack ? `${base}: ${opts.extack}` : base,
      context: opts.context,
    });
    this.request = request;
    this.extack = opts.extack;
  }
}

/** strerror(errno): from the addon when loaded (glibc's words), else from libuv's table. */
export function errnoText(errno: number): string {
  try {
    return nativeStrerror(errno);
  } catch {
    const m = getSystemErrorMap().get(-errno);
    if (!m) return `errno ${errno}`;
    return m[1].charAt(0).toUpperCase() + m[1].slice(1);
  }
}

/** Parses the body of an NLMSG_ERROR (or NLMSG_DONE of a failed dump). */
export function parseError(msg: NlMessage): { errno: number; extack?: string; offset?: number } {
  const p = msg.payload;
  if (p.length < 4) return { errno: 0 };
  const errno = -p.readInt32LE(0);
  const out: { errno: number; extack?: string; offset?: number } = { errno };
  if (msg.type === C.NLMSG_ERROR && (msg.flags & C.NLM_F_ACK_TLVS) !== 0 && p.length >= 4 + C.NLMSG_HDRLEN) {
    let tlvStart = 4 + C.NLMSG_HDRLEN;
    if ((msg.flags & C.NLM_F_CAPPED) === 0) {
      const origLen = p.readUInt32LE(4);
      tlvStart = 4 + ((origLen + 3) & ~3);
    }
    if (tlvStart <= p.length) {
      const a = new AttrSet(p, tlvStart);
      const text = a.str(C.NLMSGERR_ATTR_MSG);
      if (text) out.extack = text;
      const off = a.u32(C.NLMSGERR_ATTR_OFFS);
      if (off !== undefined) out.offset = off;
    }
  } else if (msg.type === C.NLMSG_DONE && (msg.flags & C.NLM_F_ACK_TLVS) !== 0) {
    const a = new AttrSet(p, 4);
    const text = a.str(C.NLMSGERR_ATTR_MSG);
    if (text) out.extack = text;
  }
  return out;
}

export interface RequestContext {
  /** The object named in errors (a link name, `10.244.1.0/24`, …). */
  object?: string;
  /** The operation named in errors (`linkAdd`, …). */
  op?: string;
}

interface Pending {
  seq: number;
  dump: boolean;
  replies: NlMessage[];
  interrupted: boolean;
  done: (err: Error | null) => void;
}

export interface NetlinkConnectionOptions {
  /** Give up on a reply after this long (the kernel answers rtnetlink at once; this is a safety net). */
  timeoutMs?: number;
  /** How often an interrupted dump (NLM_F_DUMP_INTR) is retried. */
  dumpRetries?: number;
}

export class NetlinkConnection {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private queue: Promise<unknown> = Promise.resolve();
  private pending: Pending | undefined;
  private closed = false;
  private readonly timeoutMs: number;
  private readonly dumpRetries: number;

  constructor(
    private readonly sock: DatagramSocket,
    opts: NetlinkConnectionOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.dumpRetries = opts.dumpRetries ?? 5;
  }

  /** Sends a request with NLM_F_ACK and resolves with the replies that came before the ack (usually none). */
  request(type: number, flags: number, body: Buffer, attrs: Attr[] = [], ctx: RequestContext = {}): Promise<NlMessage[]> {
    return this.enqueue(async () => (await this.exchange(type, flags | C.NLM_F_REQUEST | C.NLM_F_ACK, body, attrs, ctx, false)).replies);
  }

  /** Sends a dump request and resolves with every reply message (retrying an interrupted dump). */
  dump(type: number, body: Buffer, attrs: Attr[] = [], ctx: RequestContext = {}): Promise<NlMessage[]> {
    return this.enqueue(async () => {
      for (let attempt = 0; ; attempt++) {
        const r = await this.exchange(type, C.NLM_F_REQUEST | C.NLM_F_DUMP, body, attrs, ctx, true);
        if (!r.interrupted || attempt >= this.dumpRetries) return r.replies;
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      p.done(new NativeError({ errno: 9, syscall: 'netlink', kernelMessage: 'connection closed' }));
    }
    this.sock.onReadable(null);
    this.sock.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private exchange(
    type: number,
    flags: number,
    body: Buffer,
    attrs: Attr[],
    ctx: RequestContext,
    dump: boolean,
  ): Promise<{ replies: NlMessage[]; interrupted: boolean }> {
    const name = C.RTM_NAMES[type] ?? `netlink type ${type}`;
    if (this.closed) {
      return Promise.reject(new NativeError({ errno: 9, syscall: name, kernelMessage: 'connection closed', context: ctx.op }));
    }
    this.seq = (this.seq + 1) >>> 0 || 1;
    const seq = this.seq;
    const msg = encodeMessage({ type, flags, seq, pid: 0 }, body, attrs);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const p: Pending = {
        seq,
        dump,
        replies: [],
        interrupted: false,
        done: (err) => {
          if (timer) clearTimeout(timer);
          this.pending = undefined;
          this.sock.onReadable(null);
          if (err) reject(err);
          else resolve({ replies: p.replies, interrupted: p.interrupted });
        },
      };
      this.pending = p;
      const fail = (errno: number, extack?: string) =>
        new NetlinkError(errno, name, { object: ctx.object, extack, context: ctx.op });
      try {
        this.sock.send(msg);
      } catch (e) {
        p.done(e as Error);
        return;
      }
      const drain = (): void => {
        try {
          for (;;) {
            if (this.pending !== p) return;
            const dgram = this.sock.recv();
            if (dgram === null) break;
            for (const m of decodeMessages(dgram)) {
              if (m.seq !== seq) continue; // a stale reply of an abandoned request
              if (m.flags & C.NLM_F_DUMP_INTR) p.interrupted = true;
              if (m.type === C.NLMSG_ERROR) {
                const e = parseError(m);
                p.done(e.errno === 0 ? null : fail(e.errno, e.extack));
                return;
              }
              if (m.type === C.NLMSG_DONE) {
                const e = parseError(m);
                p.done(e.errno > 0 ? fail(e.errno, e.extack) : null);
                return;
              }
              if (m.type === C.NLMSG_NOOP) continue;
              if (m.type === C.NLMSG_OVERRUN) {
                p.done(fail(105 /* ENOBUFS */));
                return;
              }
              p.replies.push(m);
            }
          }
        } catch (e) {
          if (this.pending === p) p.done(e as Error);
          return;
        }
        // Not complete yet: wait until the kernel queues more.
        if (this.pending === p && timer === undefined) {
          timer = setTimeout(() => {
            if (this.pending === p) p.done(fail(110 /* ETIMEDOUT */, `no reply within ${this.timeoutMs} ms`));
          }, this.timeoutMs);
          timer.unref();
          this.sock.onReadable(drain);
        }
      };
      // rtnetlink handles the request inside sendmsg, so the answer is usually queued already.
      drain();
    });
  }
}
