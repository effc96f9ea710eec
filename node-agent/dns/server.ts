// The node's name server: UDP and TCP on one address and port, the cluster
// zone answered from memory, everything else forwarded (and cached). Every
// packet is answered or dropped; no input makes it throw.
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import packet from 'dns-packet';
import type { RecordType } from 'dns-packet';
import { componentLogger, type Logger } from '../../api/index.js';
import { AnswerCache, agedRecords, type UpstreamAnswer } from './cache.js';
import type { Forwarder } from './forwarder.js';
import type { DnsMetrics } from './metrics.js';
import { encodeProblem, encodeResponse, isTruncated, parseQuery, reuseResponse, typeName, udpLimit, type Query, type RcodeName } from './wire.js';
import type { ClusterZone } from './zone.js';

export interface DnsServerOptions {
  zone: ClusterZone;
  /** Absent: names outside the zone are REFUSED. */
  forwarder?: Forwarder;
  metrics?: DnsMetrics;
  /** Milliseconds, for the forward cache; default Date.now. */
  now?: () => number;
  cacheEntries?: number;
  log?: Logger;
}

type Proto = 'udp' | 'tcp';
const RCODE_NAMES: RcodeName[] = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const CLASS_IN = 1;
const ZONE_TRANSFERS = new Set([251, 252]); // IXFR, AXFR
/** Cluster answers kept encoded, per question and size limit, until the catalog changes. */
const ANSWER_CACHE_ENTRIES = 20_000;
/** A TCP client that sends nothing for this long is let go (RFC 7766 suggests seconds). */
const TCP_IDLE_MS = 10_000;
const MAX_TCP_CONNECTIONS = 256;

const rcodeName = (b: Buffer): string => RCODE_NAMES[b.length >= 4 ? b.readUInt16BE(2) & 0xf : 2] ?? `RCODE${b.readUInt16BE(2) & 0xf}`;

export class DnsServer {
  private readonly zone: ClusterZone;
  private readonly forwarder: Forwarder | undefined;
  private readonly metrics: DnsMetrics | undefined;
  private readonly log: Logger;
  private readonly forwardCache: AnswerCache;
  private readonly answers = new Map<string, Buffer>();
  private answersGeneration = -1;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();

  constructor(opts: DnsServerOptions) {
    this.zone = opts.zone;
    this.forwarder = opts.forwarder;
    this.metrics = opts.metrics;
    this.log = opts.log ?? componentLogger('dns');
    this.forwardCache = new AnswerCache(opts.now ?? Date.now, opts.cacheEntries);
  }

  /** Answers one query (PROTO sets the size limit); undefined: drop it. */
  handle(buf: Buffer, proto: Proto): Buffer | undefined | Promise<Buffer | undefined> {
    const t0 = performance.now();
    let out: Buffer | undefined | Promise<Buffer | undefined>;
    try {
      out = this.answer(buf, proto);
    } catch (e) {
      // A bug must cost one answer, not the server.
      this.log.warn({ err: (e as Error).message, at: (e as Error).stack?.split('\n').slice(1, 3).join(' ← ') }, 'DNS query failed');
      out = servfail(buf);
    }
    if (out instanceof Promise) return out.then((b) => this.done(b, t0), () => this.done(servfail(buf), t0));
    return this.done(out, t0);
  }

  private done(b: Buffer | undefined, t0: number): Buffer | undefined {
    if (b) this.metrics?.response(rcodeName(b), (performance.now() - t0) / 1000);
    return b;
  }

  private answer(buf: Buffer, proto: Proto): Buffer | undefined | Promise<Buffer | undefined> {
    const parsed = parseQuery(buf);
    if (!parsed.ok) return parsed.problem ? encodeProblem(parsed.problem, buf) : undefined;
    const q = parsed.query;
    const type = typeName(q.qtype);
    this.metrics?.request(type, proto);
    const limit = proto === 'udp' ? udpLimit(q) : 65535;
    const lname = q.name.toLowerCase();
    const key = `${lname}\u0000${q.qtype}\u0000${q.qclass}\u0000${limit}\u0000${q.ednsSize === undefined ? 0 : 1}`;
    if (this.answersGeneration !== this.zone.generation) {
      this.answers.clear();
      this.answersGeneration = this.zone.generation;
    }
    const cached = this.answers.get(key);
    if (cached) return reuseResponse(cached, buf, q);
    const zoneAnswer = this.zone.answer(q.name, type as RecordType);
    if (zoneAnswer) {
      if (q.qclass !== CLASS_IN || ZONE_TRANSFERS.has(q.qtype)) return refuse(q);
      const out = encodeResponse(q, { ...zoneAnswer, authoritative: true }, limit);
      // full (a client walking random names): start over rather than stop caching
      if (this.answers.size >= ANSWER_CACHE_ENTRIES) this.answers.clear();
      this.answers.set(key, out);
      return out;
    }
    if (!this.forwarder || q.name === '.') return refuse(q);
    return this.forward(buf, q, limit, `${lname}\u0000${q.qtype}\u0000${q.qclass}`);
  }

  private async forward(buf: Buffer, q: Query, limit: number, key: string): Promise<Buffer | undefined> {
    const hit = this.forwardCache.get(key);
    if (hit) {
      this.metrics?.cacheHit(hit.entry.kind);
      const elapsed = hit.entry.ttl - hit.remaining;
      const a = hit.entry.answer;
      return encodeResponse(
        q,
        { rcode: RCODE_NAMES[a.rcode] ?? 'SERVFAIL', authoritative: false, answers: agedRecords(a.answers, elapsed), authorities: agedRecords(a.authorities, elapsed), additionals: agedRecords(a.additionals, elapsed) },
        limit,
      );
    }
    this.metrics?.cacheMiss();
    const raw = await this.forwarder!.forward(buf);
    if (!raw) return encodeResponse(q, { rcode: 'SERVFAIL', authoritative: false, answers: [], authorities: [], additionals: [] }, limit);
    const decoded = decodeUpstream(raw);
    // An answer we cannot read (or with an rcode we cannot re-encode) goes back as it came, if it fits.
    if (!decoded || RCODE_NAMES[decoded.rcode] === undefined) return raw.length <= limit ? raw : servfail(buf);
    // a truncated answer is a partial one: not kept
    if (!isTruncated(raw)) this.forwardCache.put(key, decoded);
    return encodeResponse(q, { rcode: RCODE_NAMES[decoded.rcode]!, authoritative: false, answers: decoded.answers, authorities: decoded.authorities, additionals: decoded.additionals.filter((r) => r.type !== 'OPT') }, limit);
  }

  // ------------------------------------------------------------------ sockets

  /** Listens on HOST:PORT over UDP and TCP (PORT 0: a free port, the same for both). Resolves to the port. */
  async listen(host: string, port: number): Promise<number> {
    const udp = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    udp.on('message', (msg, rinfo) => this.onDatagram(udp, msg, rinfo));
    udp.on('error', (e) => this.log.warn({ err: e.message }, 'DNS UDP socket error'));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    const bound = udp.address().port;
    const tcp = net.createServer((s) => this.onConnection(s));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(bound, host, () => {
        tcp.off('error', reject);
        resolve();
      });
    }).catch((e: unknown) => {
      udp.close();
      this.udp = undefined;
      throw e;
    });
    this.tcp = tcp;
    return bound;
  }

  async close(): Promise<void> {
    this.udp?.close();
    this.udp = undefined;
    for (const c of this.conns) c.destroy();
    const tcp = this.tcp;
    this.tcp = undefined;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    this.forwarder?.close();
  }

  private onDatagram(udp: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const out = this.handle(msg, 'udp');
    const send = (b: Buffer | undefined) => {
      if (b && this.udp === udp) udp.send(b, rinfo.port, rinfo.address);
    };
    if (out instanceof Promise) void out.then(send);
    else send(out);
  }

  private onConnection(s: net.Socket): void {
    this.conns.add(s);
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    s.on('error', () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    // Answers go back in the order asked, one at a time: a client pipelining queries gets them all.
    let chain: Promise<void> = Promise.resolve();
    s.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        chain = chain.then(async () => {
          const out = await this.handle(Buffer.from(msg), 'tcp');
          if (!out || s.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(out.length, 0);
          s.write(Buffer.concat([head, out]));
        });
      }
    });
  }
}

function refuse(q: Query): Buffer {
  return encodeProblem({ rcode: 'REFUSED', id: q.id, opcode: 0, echoFlags: q.echoFlags, reason: '', questionEnd: q.questionEnd }, q.raw);
}

function servfail(buf: Buffer): Buffer | undefined {
  if (buf.length < 12) return undefined;
  return encodeProblem({ rcode: 'SERVFAIL', id: buf.readUInt16BE(0), opcode: 0, echoFlags: buf.readUInt16BE(2) & 0x0110, reason: '' }, buf);
}

function decodeUpstream(raw: Buffer): UpstreamAnswer | undefined {
  try {
    const p = packet.decode(raw);
    return { rcode: raw.readUInt16BE(2) & 0xf, answers: p.answers ?? [], authorities: p.authorities ?? [], additionals: p.additionals ?? [] };
  } catch {
    return undefined;
  }
}
