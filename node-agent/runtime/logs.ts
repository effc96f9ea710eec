// Container logs in the CRI "k8s-file" format that conmon writes, one record a line:
//   2026-01-01T00:00:00.000000000Z stdout F message
// (conmon writes the offset as +00:00). `F` is a full line, `P` a partial one that
// continues in the next record of the same stream. The reader serves `logs`
// with --tail and --follow; conmon truncates the file when it rotates, which a
// follower notices by the file shrinking.
import * as fs from 'node:fs';
import { realClock, type Clock } from '../../api/index.js';

export type LogStream = 'stdout' | 'stderr';

export interface LogRecord {
  /** The timestamp as written (RFC 3339 with nanoseconds). */
  time: string;
  stream: LogStream;
  /** True for a `P` record: the line continues in the next record. */
  partial: boolean;
  message: string;
}

/** One log line, or undefined when it is not in the CRI format. */
export function parseCriLogLine(line: string): LogRecord | undefined {
  const s1 = line.indexOf(' ');
  if (s1 <= 0) return undefined;
  const s2 = line.indexOf(' ', s1 + 1);
  if (s2 < 0) return undefined;
  const time = line.slice(0, s1);
  const stream = line.slice(s1 + 1, s2);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(time)) return undefined;
  const rest = line.slice(s2 + 1);
  const s3 = rest.indexOf(' ');
  const tag = s3 < 0 ? rest : rest.slice(0, s3);
  const flags = tag.split(':');
  if (!flags.includes('F') && !flags.includes('P')) return undefined;
  return { time, stream, partial: flags.includes('P'), message: s3 < 0 ? '' : rest.slice(s3 + 1) };
}

/** Formats one record as conmon does (for fakes and tests). */
export function formatCriLogLine(r: LogRecord): string {
  return `${r.time} ${r.stream} ${r.partial ? 'P' : 'F'} ${r.message}`;
}

/** A complete log line: partial records of a stream joined. */
export interface LogLine {
  time: string;
  stream: LogStream;
  message: string;
}

/** Joins partial records per stream; unparseable lines are skipped. */
export class LogLineAssembler {
  private pending: Partial<Record<LogStream, { time: string; parts: string[] }>> = {};

  push(raw: string): LogLine | undefined {
    const r = parseCriLogLine(raw);
    if (!r) return undefined;
    const p = this.pending[r.stream];
    if (r.partial) {
      if (p) p.parts.push(r.message);
      else this.pending[r.stream] = { time: r.time, parts: [r.message] };
      return undefined;
    }
    if (p) {
      delete this.pending[r.stream];
      return { time: p.time, stream: r.stream, message: p.parts.join('') + r.message };
    }
    return { time: r.time, stream: r.stream, message: r.message };
  }
}

/** All complete lines of a log text. */
export function parseCriLog(text: string): LogLine[] {
  const a = new LogLineAssembler();
  const out: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    const l = a.push(raw);
    if (l) out.push(l);
  }
  return out;
}

export interface ReadLogsOptions {
  /** Only the last N lines (before following). */
  tail?: number;
  /** Keep reading as the container writes, until `signal` aborts or `until()` says the writer is done. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Polled while following: true once no more lines will come (the container exited). */
  until?: () => boolean | Promise<boolean>;
  pollMs?: number;
  clock?: Clock;
}

/**
 * The container's log lines, oldest first. With `follow`, yields new lines as
 * they are written and ends when `until()` turns true (after a last read) or
 * `signal` aborts.
 */
export async function* readContainerLogs(path: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogLine> {
  const clock = opts.clock ?? realClock;
  const pollMs = opts.pollMs ?? 100;
  let text = '';
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !opts.follow) throw e;
  }
  // Only whole lines now; a line being written stays for the next read.
  let complete = text.lastIndexOf('\n') + 1;
  let offset = Buffer.byteLength(text.slice(0, complete));
  const assembler = new LogLineAssembler();
  const first: LogLine[] = [];
  for (const raw of text.slice(0, complete).split('\n')) {
    if (!raw) continue;
    const l = assembler.push(raw);
    if (l) first.push(l);
  }
  const start = opts.tail !== undefined ? Math.max(0, first.length - opts.tail) : 0;
  for (const l of first.slice(start)) yield l;
  if (!opts.follow) return;

  let carry = '';
  for (;;) {
    if (opts.signal?.aborted) return;
    const done = opts.until ? await opts.until() : false;
    let size = 0;
    try {
      size = fs.statSync(path).size;
    } catch {
      size = 0;
    }
    if (size < offset) {
      // Truncated by rotation: start over at the beginning.
      offset = 0;
      carry = '';
    }
    if (size > offset) {
      const fd = fs.openSync(path, 'r');
      try {
        const buf = Buffer.alloc(size - offset);
        const n = fs.readSync(fd, buf, 0, buf.length, offset);
        offset += n;
        const chunk = carry + buf.subarray(0, n).toString('utf8');
        complete = chunk.lastIndexOf('\n') + 1;
        carry = chunk.slice(complete);
        for (const raw of chunk.slice(0, complete).split('\n')) {
          if (!raw) continue;
          const l = assembler.push(raw);
          if (l) yield l;
        }
      } finally {
        fs.closeSync(fd);
      }
      continue;
    }
    if (done) return;
    try {
      await clock.sleep(pollMs, opts.signal);
    } catch {
      return;
    }
  }
}
