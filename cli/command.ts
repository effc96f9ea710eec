// The shape every command file follows: `register(program, env)` adds one
// commander command whose action runs through `action()`, which builds the
// Session from the merged flags and closes it afterwards.
import type { Command } from 'commander';
import { formatError } from './errors.js';
import { Session, type GlobalFlags, type Io } from './session.js';
import type { Transport } from './client.js';

export interface CliEnv {
  io: Io;
  env: NodeJS.ProcessEnv;
  now: () => number;
  /** Set by the action: the process exit code. */
  exitCode: number;
  /** A transport to use instead of HTTPS (unit tests). */
  transport?: Transport;
}

export type CommandFn<O> = (session: Session, opts: O, args: string[]) => Promise<number | void>;

/** Wraps a command body: session in, exit code out, session closed always. */
export function action<O>(env: CliEnv, fn: CommandFn<O>) {
  return async (...received: unknown[]): Promise<void> => {
    const cmd = received[received.length - 1] as Command;
    const merged = cmd.optsWithGlobals() as GlobalFlags & O;
    const session = new Session(merged, env.io, env.now, env.env, env.transport);
    try {
      const code = await fn(session, merged, cmd.args);
      env.exitCode = code ?? 0;
    } finally {
      await session.close();
    }
  };
}

/** Prints one error line the way every command does, returning the exit code 1. */
export function reportError(io: Io, e: unknown): number {
  io.err(formatError(e) + '\n');
  return 1;
}
