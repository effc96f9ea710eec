// The body of POST …/pods/{name}/exec as Flotilla serves it to flotctl: plain
// HTTP (no SPDY/WebSocket upgrade), so it works through any HTTP/1.1 client.
//
// Request body (only with stdin=true): the command's stdin as raw bytes,
//   content type EXEC_STDIN_CONTENT_TYPE; the end of the body is EOF.
// Response body: frames of [channel: u8][length: u32 big-endian][payload],
//   channels numbered as Kubernetes' channel protocols do: 1 stdout, 2 stderr,
//   3 status. The status frame is last: a v1 Status (JSON) — Success, or
//   Failure with reason NonZeroExitCode and the code as an ExitCode cause, or
//   any other Failure (the command could not run).
import type { Status } from './meta.js';

export const EXEC_CONTENT_TYPE = 'application/vnd.flotilla.exec.v1';
export const EXEC_STDIN_CONTENT_TYPE = 'application/vnd.flotilla.exec-stdin';

export const ExecChannel = { stdout: 1, stderr: 2, status: 3 } as const;
export type ExecChannelNumber = (typeof ExecChannel)[keyof typeof ExecChannel];

const HEADER = 5;
/** A frame larger than this is a corrupt stream, not output (the server writes ≤ 64 KiB). */
export const MAX_EXEC_FRAME = 16 * 1024 * 1024;

export function encodeExecFrame(channel: ExecChannelNumber, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER + payload.length);
  b[0] = channel;
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, HEADER);
  return b;
}

export interface ExecFrame {
  channel: ExecChannelNumber;
  payload: Buffer;
}

export class ExecFramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecFramingError';
  }
}

/** Splits a byte stream into frames, however the chunks happen to be cut. */
export class ExecFrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): ExecFrame[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const frames: ExecFrame[] = [];
    while (this.buf.length >= HEADER) {
      const channel = this.buf[0]!;
      if (channel !== 1 && channel !== 2 && channel !== 3) throw new ExecFramingError(`exec stream: unknown channel ${channel}`);
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_EXEC_FRAME) throw new ExecFramingError(`exec stream: frame of ${len} bytes is too large`);
      if (this.buf.length < HEADER + len) break;
      frames.push({ channel: channel as ExecChannelNumber, payload: this.buf.subarray(HEADER, HEADER + len) });
      this.buf = this.buf.subarray(HEADER + len);
    }
    return frames;
  }

  /** Throws when the stream ended inside a frame. */
  end(): void {
    if (this.buf.length > 0) throw new ExecFramingError(`exec stream ended inside a frame (${this.buf.length} bytes left over)`);
  }
}

/** The final Status of a command that ran and exited with `exitCode`. */
export function exitStatus(exitCode: number, command: string[]): Status {
  if (exitCode === 0) return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    // kubectl's wording for the same case
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    code: 500,
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** The exit code a final Status reports; undefined when the command did not run to an exit. */
export function exitCodeOf(s: Status): number | undefined {
  if (s.status === 'Success') return 0;
  if (s.reason !== 'NonZeroExitCode') return undefined;
  const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode' || (c as { type?: string }).type === 'ExitCode');
  const n = Number(cause?.message);
  return Number.isInteger(n) ? n : undefined;
}
