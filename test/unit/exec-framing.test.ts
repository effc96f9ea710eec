// The exec reply framing between the API server and flotctl: frames survive any
// cut of the byte stream, the final Status carries the exit code, and flotctl
// plays stdout/stderr onto the right streams.
import { describe, expect, it } from 'vitest';
import {
  ExecChannel,
  ExecFrameDecoder,
  ExecFramingError,
  encodeExecFrame,
  exitCodeOf,
  exitStatus,
} from '../../api/exec-framing.js';
import { playExecStream } from '../../cli/commands/exec.js';
import type { Io } from '../../cli/session.js';

const frames = () =>
  Buffer.concat([
    encodeExecFrame(ExecChannel.stdout, Buffer.from('hello ')),
    encodeExecFrame(ExecChannel.stderr, Buffer.from('warning\n')),
    encodeExecFrame(ExecChannel.stdout, Buffer.alloc(0)),
    encodeExecFrame(ExecChannel.stdout, Buffer.from('world\n')),
    encodeExecFrame(ExecChannel.status, Buffer.from(JSON.stringify(exitStatus(3, ['sh', '-c', 'exit 3'])))),
  ]);

function recordingIo(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
    readStdin: async () => '',
  };
  return io;
}

describe('exec framing', () => {
  it('decodes the same frames whichever way the stream is cut', () => {
    const all = frames();
    const whole = new ExecFrameDecoder().push(all);
    expect(whole.map((f) => f.channel)).toEqual([1, 2, 1, 1, 3]);
    for (const size of [1, 2, 3, 5, 7, 64]) {
      const d = new ExecFrameDecoder();
      const got = [];
      for (let i = 0; i < all.length; i += size) got.push(...d.push(all.subarray(i, i + size)));
      d.end();
      expect(got.map((f) => [f.channel, f.payload.toString()])).toEqual(whole.map((f) => [f.channel, f.payload.toString()]));
    }
  });

  it('refuses a stream that ends inside a frame, an unknown channel, or an absurd length', () => {
    const d = new ExecFrameDecoder();
    d.push(frames().subarray(0, 8));
    expect(() => d.end()).toThrow(ExecFramingError);
    expect(() => new ExecFrameDecoder().push(Buffer.from([9, 0, 0, 0, 0]))).toThrow(/unknown channel 9/);
    expect(() => new ExecFrameDecoder().push(Buffer.from([1, 0xff, 0xff, 0xff, 0xff]))).toThrow(/too large/);
  });

  it('puts the exit code in the final Status the way Kubernetes does', () => {
    expect(exitCodeOf(exitStatus(0, ['true']))).toBe(0);
    const failed = exitStatus(42, ['sh', '-c', 'exit 42']);
    expect(failed).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode' });
    expect(failed.message).toBe('command terminated with non-zero exit code: error executing command [sh -c exit 42], exit code 42');
    expect(exitCodeOf(failed)).toBe(42);
    // a Failure that is not an exit (the container stopped, the node went away) has no code
    expect(exitCodeOf({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'ServiceUnavailable', code: 503 })).toBeUndefined();
  });
});

describe('flotctl exec output', () => {
  it('writes stdout and stderr apart and returns the final Status', async () => {
    const io = recordingIo();
    const all = frames();
    const body = (async function* () {
      for (let i = 0; i < all.length; i += 4) yield all.subarray(i, i + 4);
    })();
    const status = await playExecStream(body, io);
    expect(io.stdout).toBe('hello world\n');
    expect(io.stderr).toBe('warning\n');
    expect(exitCodeOf(status)).toBe(3);
  });

  it('keeps binary output byte for byte when the io takes bytes', async () => {
    const bytes: number[] = [];
    const io = { ...recordingIo(), writeOut: (c: Uint8Array) => void bytes.push(...c) };
    const payload = Buffer.from([0xff, 0x00, 0xc3]);
    const body = (async function* () {
      yield encodeExecFrame(ExecChannel.stdout, payload);
      yield encodeExecFrame(ExecChannel.status, Buffer.from(JSON.stringify(exitStatus(0, ['cat']))));
    })();
    await playExecStream(body, io);
    expect(Buffer.from(bytes)).toEqual(payload);
  });

  it('says the connection was lost when the stream ends without a Status', async () => {
    const body = (async function* () {
      yield encodeExecFrame(ExecChannel.stdout, Buffer.from('partial'));
    })();
    await expect(playExecStream(body, recordingIo())).rejects.toThrow(/ended before the command did/);
  });
});
