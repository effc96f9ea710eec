// flotctl exec POD [-c C] -- CMD ARGS...: runs a command in a container through
// POST /api/v1/namespaces/{ns}/pods/{name}/exec?command=…; output is streamed back.
// The node agent serves the other end (a later issue); until then the server's
// error is what the user sees.
import type { Command } from 'commander';
import { action, type CliEnv } from '../command.js';
import { CliError } from '../errors.js';
import { addGlobalFlags, type Session } from '../session.js';
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

export async function runExec(session: Session, opts: ExecOptions, args: string[]): Promise<number> {
  const name = podNameArg(args[0], 'exec');
  const command = args.slice(1);
  if (command.length === 0) throw new CliError('you must specify at least one command for the container: flotctl exec POD -- COMMAND [ARGS...]');
  const path = `/api/v1/namespaces/${encodeURIComponent(session.namespace)}/pods/${encodeURIComponent(name)}/exec`;
  const body = await session.client.stream('POST', path, { query: execQuery(command, opts), accept: '*/*' });
  const decoder = new TextDecoder();
  for await (const chunk of body) session.io.out(decoder.decode(chunk, { stream: true }));
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('exec')
      .description('run a command in a container: exec web -- ls /, exec web -c sidecar -- env')
      .argument('[args...]', 'POD -- COMMAND [ARGS...]')
      .option('-c, --container <name>', 'the container (default: the first)')
      .option('-i, --stdin', 'pass stdin to the command')
      .option('-t, --tty', 'stdin is a TTY'),
  ).action(action<ExecOptions>(env, (s, o, a) => runExec(s, o, a)));
}
