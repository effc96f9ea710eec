// flotctl exec POD [-c C] [-i] -- CMD ARGS...: runs a command in a container
// through POST /api/v1/namespaces/{ns}/pods/{name}/exec?command=…, framed as
// api/exec-framing.ts describes: the command's stdout and stderr go to ours, its
// exit code becomes ours, and with -i our stdin is streamed to it.
import type { Command } from 'commander';
import type { Status } from '../../api/index.js';
import { EXEC_CONTENT_TYPE, EXEC_STDIN_CONTENT_TYPE, ExecChannel, ExecFrameDecoder, exitCodeOf } from '../../api/exec-framing.js';
import { action, type CliEnv } from '../command.js';
import { ApiStatusError, CliError } from '../errors.js';
import { addGlobalFlags, type Io, type Session } from '../session.js';
import { podNameArg } from './logs.js';

interface ExecOptions {
  container?: string;
  stdin?: boolean;
  tty?: boolean;
}

export function execQuery(command: string[], opts: ExecOptions): Record<string, string | string[] | undefined> {
  return {
    command,
    container: opts.container,
    stdin: opts.stdin ? 'true' : 'false',
    stdout: 'true',
    stderr: 'true',
    tty: opts.tty ? 'true' : 'false',
  };
}

function writer(io: Io, which: 'out' | 'err'): (b: Uint8Array) => void {
  const raw = which === 'out' ? io.writeOut : io.writeErr;
  if (raw) return (b) => raw.call(io, b);
  const decoder = new TextDecoder();
  return (b) => io[which](decoder.decode(b, { stream: true }));
}

/**
 * Plays an exec reply body onto the streams; returns the final Status. A body
 * that ends without one means the connection was cut.
 */
export async function playExecStream(body: AsyncIterable<Uint8Array>, io: Io): Promise<Status> {
  const out = writer(io, 'out');
  const err = writer(io, 'err');
  const decoder = new ExecFrameDecoder();
  for await (const chunk of body) {
    for (const f of decoder.push(chunk)) {
      if (f.channel === ExecChannel.stdout) out(f.payload);
      else if (f.channel === ExecChannel.stderr) err(f.payload);
      else return JSON.parse(f.payload.toString('utf8')) as Status;
    }
  }
  decoder.end();
  throw new CliError('the exec stream ended before the command did (connection lost?)');
}

export async function runExec(session: Session, opts: ExecOptions, args: string[]): Promise<number> {
  const name = podNameArg(args[0], 'exec');
  const command = args.slice(1);
  if (command.length === 0) throw new CliError('you must specify at least one command for the container: flotctl exec POD -- COMMAND [ARGS...]');
  const path = `/api/v1/namespaces/${encodeURIComponent(session.namespace)}/pods/${encodeURIComponent(name)}/exec`;
  const stdin = opts.stdin ? session.io.openStdin?.() : undefined;
  if (opts.stdin && !stdin) throw new CliError('-i needs a stdin to read, and this environment has none');
  // Ends the upload when the command is done even if our stdin is still open (a terminal).
  const ac = new AbortController();
  try {
    const body = await session.client.stream('POST', path, {
      query: execQuery(command, opts),
      accept: EXEC_CONTENT_TYPE,
      signal: ac.signal,
      ...(stdin ? { bodyStream: stdin.chunks, contentType: EXEC_STDIN_CONTENT_TYPE } : {}),
    });
    const status = await playExecStream(body, session.io);
    const code = exitCodeOf(status);
    if (code === undefined) throw new ApiStatusError(status, status.code || 500);
    // kubectl's line for a command that failed, so scripts and people see why we exit non-zero
    if (code !== 0) session.io.err(`command terminated with exit code ${code}\n`);
    return code;
  } finally {
    ac.abort();
    stdin?.close();
  }
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('exec')
      .description('run a command in a container: exec web -- ls /, exec web -c sidecar -- env, exec -i web -- sh < script')
      .argument('[args...]', 'POD -- COMMAND [ARGS...]')
      .option('-c, --container <name>', 'the container (default: the only one)')
      .option('-i, --stdin', 'pass stdin to the command')
      .option('-t, --tty', 'stdin is a TTY'),
  ).action(action<ExecOptions>(env, (s, o, a) => runExec(s, o, a)));
}
