// Names outside the cluster go to the node's upstream resolvers: over UDP
// from one shared socket (queries told apart by a fresh ID each), retried
// over TCP when the answer comes back truncated, and on the next upstream
// when one does not answer in time.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwarderOptions {
  upstreams: readonly Upstream[];
  /** Per upstream and attempt; default 2 s (glibc's resolver waits 5 s for all). */
  timeoutMs?: number;
}

interface Pending {
  upstream: Upstream;
  resolve(b: Buffer | undefined): void;
  timer: NodeJS.Timeout;
}

const TC = 0x0200;
const MAX_TCP_MESSAGE = 65535;

export class Forwarder {
  readonly upstreams: readonly Upstream[];
  private readonly timeoutMs: number;
  /** One socket per address family, made on first use. */
  private readonly sockets = new Map<4 | 6, dgram.Socket>();
  private readonly pending = new Map<number, Pending>();

  constructor(opts: ForwarderOptions) {
    this.upstreams = opts.upstreams;
    this.timeoutMs = opts.timeoutMs ?? 2000;
  }

  /**
   * QUERY (a client's query, its ID left as is) answered by the first upstream
   * that answers; the answer carries the client's ID. Undefined when none did.
   */
  async forward(query: Buffer): Promise<Buffer | undefined> {
    const clientId = query.readUInt16BE(0);
    for (const up of this.upstreams) {
      let answer = await this.overUdp(up, query);
      if (answer && (answer.readUInt16BE(2) & TC) !== 0) answer = (await this.overTcp(up, query).catch(() => undefined)) ?? answer;
      if (answer) {
        const out = Buffer.from(answer);
        out.writeUInt16BE(clientId, 0);
        return out;
      }
    }
    return undefined;
  }

  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }

  private udp(host: string): dgram.Socket {
    const family = net.isIPv6(host) ? 6 : 4;
    const have = this.sockets.get(family);
    if (have) return have;
    const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    s.on('message', (msg, rinfo) => this.onAnswer(msg, rinfo));
    s.on('error', () => {
      // a socket error fails only the queries in flight (their timers); the socket is made again on the next one
      if (this.sockets.get(family) === s) this.sockets.delete(family);
      s.close();
    });
    s.unref();
    this.sockets.set(family, s);
    return s;
  }

  private onAnswer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    const p = this.pending.get(msg.readUInt16BE(0));
    // an answer from anywhere but the upstream asked is not the answer (spoofing, a late reply)
    if (!p || rinfo.port !== p.upstream.port || rinfo.address !== p.upstream.host) return;
    this.pending.delete(msg.readUInt16BE(0));
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  private freshId(): number {
    for (;;) {
      const id = randomInt(0, 0x10000);
      if (!this.pending.has(id)) return id;
    }
  }

  private overUdp(up: Upstream, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      if (this.pending.size >= 0xf000) return resolve(undefined); // IDs nearly spent: shed load
      const id = this.freshId();
      const out = Buffer.from(query);
      out.writeUInt16BE(id, 0);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, this.timeoutMs);
      this.pending.set(id, { upstream: up, resolve, timer });
      this.udp(up.host).send(out, up.port, up.host, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(undefined);
      });
    });
  }

  private overTcp(up: Upstream, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = net.connect({ host: up.host, port: up.port });
      let buf = Buffer.alloc(0);
      const done = (b: Buffer | undefined) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(b);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      sock.on('error', () => done(undefined));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length, 0);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length > MAX_TCP_MESSAGE + 2) return done(undefined);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
      sock.on('end', () => done(undefined));
    });
  }
}
