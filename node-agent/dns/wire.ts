// The DNS wire format at the server's edge: the query's header, its one
// question and its EDNS0 OPT record read by hand (the hot path of every query,
// and where bad input must become FORMERR rather than an exception), answers
// written by dns-packet, and the truncation rule for UDP.
import packet from 'dns-packet';
import type { Answer, RecordType } from 'dns-packet';

/** dns-packet's record codec (exported by the library, left out of its type declarations). */
interface RecordCodec {
  encode: ((r: Answer, buf: Buffer, offset: number) => Buffer) & { bytes: number };
  encodingLength(r: Answer): number;
}
const records = (packet as unknown as { answer: RecordCodec }).answer;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = keyof typeof RCODE;

const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;
const CD = 0x0010;
const OPT_TYPE = 41;
/** RFC 1035's limits: 63 octets a label, 255 a name on the wire. */
export const MAX_LABEL = 63;
export const MAX_NAME_WIRE = 255;
/** Without EDNS0 a UDP answer is at most 512 bytes; with it, what the client says, up to what we offer. */
export const UDP_PLAIN_MAX = 512;
export const EDNS_OFFER = 1232;

const TYPE_NAMES: Record<number, RecordType> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR', 39: 'DNAME',
  43: 'DS', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 50: 'NSEC3', 52: 'TLSA', 64: 'SVCB' as RecordType, 65: 'HTTPS' as RecordType, 99: 'SPF' as RecordType, 252: 'AXFR', 255: 'ANY' as RecordType, 257: 'CAA',
};

/** A type number's name (`TYPE65534` for one without), as the metrics and logs name it. */
export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `TYPE${t}`;
}

export interface Query {
  id: number;
  opcode: number;
  /** RD and CD, echoed in the answer. */
  echoFlags: number;
  /** The question name as sent (case kept), without the trailing dot; "." for the root. */
  name: string;
  qtype: number;
  qclass: number;
  /** The question's bytes (name, type, class), offset 12 of the query. */
  questionEnd: number;
  /** Set when the query carries an OPT record: the UDP size it says it can take. */
  ednsSize?: number;
  /** The query as received. */
  raw: Buffer;
}

/** Why a query cannot be answered normally: the answer is just its header (and question when it was readable). */
export interface QueryProblem {
  rcode: RcodeName;
  id: number;
  opcode: number;
  echoFlags: number;
  reason: string;
  /** Set when the question was readable: the answer echoes it. */
  questionEnd?: number;
}

export type ParseResult = { ok: true; query: Query } | { ok: false; problem?: QueryProblem };

/**
 * Reads a query. `{ ok: false }` without a problem: drop the packet (too short
 * for a header, or a response — answering those invites loops).
 */
export function parseQuery(buf: Buffer): ParseResult {
  if (buf.length < 12) return { ok: false };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & QR) return { ok: false };
  const opcode = (flags >> 11) & 0xf;
  const echoFlags = flags & (RD | CD);
  const fail = (rcode: RcodeName, reason: string, questionEnd?: number): ParseResult => ({
    ok: false,
    problem: { rcode, id, opcode, echoFlags, reason, ...(questionEnd !== undefined ? { questionEnd } : {}) },
  });
  const qd = buf.readUInt16BE(4);
  const q = qd === 1 ? readQuestion(buf) : undefined;
  if (opcode !== 0) return fail('NOTIMP', `opcode ${opcode}`, typeof q === 'object' ? q.end : undefined);
  if (qd !== 1) return fail('FORMERR', `${qd} questions`);
  if (typeof q === 'string') return fail('FORMERR', q);
  const { labels, end } = q!;
  const query: Query = { id, opcode, echoFlags, name: labels.length === 0 ? '.' : labels.join('.'), qtype: buf.readUInt16BE(end - 4), qclass: buf.readUInt16BE(end - 2), questionEnd: end, raw: buf };
  if (buf.readUInt16BE(6) !== 0 || buf.readUInt16BE(8) !== 0) return fail('FORMERR', 'a query with answer or authority records');
  const ar = buf.readUInt16BE(10);
  if (ar > 0) {
    const edns = readOpt(buf, end, ar);
    if (edns === 'bad') return fail('FORMERR', 'malformed additional records');
    if (edns !== undefined) query.ednsSize = edns;
  }
  // A dot inside a label has no text form here: no Service can have such a name.
  if (labels.some((l) => l.includes('.'))) return fail('REFUSED', 'a label holding a dot', end);
  return { ok: true, query };
}

/** The question at offset 12: its labels and where it ends (after type and class), or why it cannot be read. */
function readQuestion(buf: Buffer): { labels: string[]; end: number } | string {
  const labels: string[] = [];
  let off = 12;
  let wire = 1;
  for (;;) {
    if (off >= buf.length) return 'question cut short';
    const len = buf[off]!;
    off++;
    if (len === 0) break;
    // Pointers cannot point before a question that starts right after the header; 0x40/0x80 are reserved.
    if (len > MAX_LABEL) return (len & 0xc0) === 0 ? 'label over 63 octets' : 'compressed or reserved label in the question';
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) return 'name over 255 octets';
    if (off + len > buf.length) return 'question cut short';
    labels.push(buf.toString('latin1', off, off + len));
    off += len;
  }
  if (off + 4 > buf.length) return 'question cut short';
  return { labels, end: off + 4 };
}

/** The UDP size of the query's OPT record, undefined without one, 'bad' when the records do not parse or there are two. */
function readOpt(buf: Buffer, off: number, count: number): number | undefined | 'bad' {
  let size: number | undefined;
  for (let i = 0; i < count; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return 'bad';
    const type = buf.readUInt16BE(off);
    const cls = buf.readUInt16BE(off + 2);
    const rdlen = buf.readUInt16BE(off + 8);
    off += 10 + rdlen;
    if (off > buf.length) return 'bad';
    if (type !== OPT_TYPE) continue;
    if (size !== undefined) return 'bad';
    size = cls;
  }
  return size;
}

function skipName(buf: Buffer, off: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (off >= buf.length) return -1;
    const len = buf[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (len > MAX_LABEL) return -1;
    off += len + 1;
  }
  return -1;
}

/** The largest UDP answer the client takes. */
export function udpLimit(q: Pick<Query, 'ednsSize'>): number {
  if (q.ednsSize === undefined) return UDP_PLAIN_MAX;
  return Math.min(Math.max(q.ednsSize, UDP_PLAIN_MAX), EDNS_OFFER);
}

function optRecord(): Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: EDNS_OFFER, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as Answer;
}

export interface ResponseParts {
  rcode: RcodeName;
  authoritative: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

/**
 * The answer to Q, encoded: our header, the question exactly as the client
 * wrote it (case and odd octets kept), then the records by dns-packet. Over
 * UDP (LIMIT) an answer that does not fit is cut to header and question with
 * TC set: the client asks again over TCP (RFC 7766).
 */
export function encodeResponse(q: Query, parts: ResponseParts, limit = 65535): Buffer {
  const flags = QR | q.echoFlags | RA | (parts.authoritative ? AA : 0) | RCODE[parts.rcode];
  const additionals = q.ednsSize !== undefined ? [...parts.additionals, optRecord()] : parts.additionals;
  const sections = [parts.answers, parts.authorities, additionals];
  const qlen = q.questionEnd - 12;
  let size = 12 + qlen;
  for (const list of sections) for (const r of list) size += records.encodingLength(r);
  if (size > limit) return writeMessage(q, flags | TC, [[], [], q.ednsSize !== undefined ? [optRecord()] : []]);
  return writeMessage(q, flags, sections, size);
}

function writeMessage(q: Query, flags: number, sections: Answer[][], size?: number): Buffer {
  const qlen = q.questionEnd - 12;
  size ??= 12 + qlen + sections.flat().reduce((n, r) => n + records.encodingLength(r), 0);
  const out = Buffer.alloc(size);
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(sections[0]!.length, 6);
  out.writeUInt16BE(sections[1]!.length, 8);
  out.writeUInt16BE(sections[2]!.length, 10);
  q.raw.copy(out, 12, 12, q.questionEnd);
  let off = 12 + qlen;
  for (const list of sections) {
    for (const r of list) {
      records.encode(r, out, off);
      off += records.encode.bytes;
    }
  }
  return off === size ? out : out.subarray(0, off);
}

/** An answer that is only a header (and the question, when it was readable). */
export function encodeProblem(p: QueryProblem, query: Buffer): Buffer {
  const withQuestion = p.questionEnd !== undefined;
  const out = Buffer.alloc(12 + (withQuestion ? p.questionEnd! - 12 : 0));
  out.writeUInt16BE(p.id, 0);
  out.writeUInt16BE(QR | ((p.opcode & 0xf) << 11) | p.echoFlags | RA | RCODE[p.rcode], 2);
  if (withQuestion) {
    out.writeUInt16BE(1, 4);
    query.copy(out, 12, 12, p.questionEnd);
  }
  return out;
}

/** Rewrites a cached answer for another query of the same question: its ID, flags to echo and question bytes. */
export function reuseResponse(cached: Buffer, query: Buffer, q: Query): Buffer {
  const out = Buffer.from(cached);
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE((out.readUInt16BE(2) & ~(RD | CD)) | q.echoFlags, 2);
  query.copy(out, 12, 12, q.questionEnd);
  return out;
}

/** Whether an upstream answer has TC set (the forwarder retries it over TCP). */
export function isTruncated(buf: Buffer): boolean {
  return buf.length >= 4 && (buf.readUInt16BE(2) & TC) !== 0;
}
