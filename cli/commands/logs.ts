// flotctl logs POD [-c CONTAINER] [-f] [--tail N] [--previous] [--timestamps]:
// streams GET /api/v1/namespaces/{ns}/pods/{name}/log to stdout.
import type { Command } from 'commander';
import { action, type CliEnv } from '../command.js';
import { CliError } from '../errors.js';
import { addGlobalFlags, type Session } from '../session.js';

interface LogsOptions {
  container?: string;
  follow?: boolean;
  tail?: string;
  previous?: boolean;
  timestamps?: boolean;
  sinceSeconds?: string;
}

/** `web` or `pod/web`; other types are not supported (kubectl would pick a pod of a workload). */
export function podNameArg(arg: string | undefined, command: string): string {
  if (!arg) throw new CliError(`${command} requires a pod name: flotctl ${command} POD`);
  const slash = arg.indexOf('/');
  if (slash < 0) return arg;
  const type = arg.slice(0, slash).toLowerCase();
  if (type !== 'pod' && type !== 'pods' && type !== 'po') throw new CliError(`cannot ${command} a ${type}: name a pod`);
  return arg.slice(slash + 1);
}

export function logQuery(opts: LogsOptions): Record<string, string | undefined> {
  if (opts.tail !== undefined && !/^-?\d+$/.test(opts.tail)) throw new CliError(`invalid argument "${opts.tail}" for "--tail" flag: must be an integer`);
  const tail = opts.tail !== undefined && Number(opts.tail) >= 0 ? opts.tail : undefined;
  return {
    container: opts.container,
    follow: opts.follow ? 'true' : undefined,
    tailLines: tail,
    previous: opts.previous ? 'true' : undefined,
    timestamps: opts.timestamps ? 'true' : undefined,
    sinceSeconds: opts.sinceSeconds,
  };
}

export async function runLogs(session: Session, opts: LogsOptions, args: string[]): Promise<number> {
  const name = podNameArg(args[0], 'logs');
  if (args.length > 2) throw new CliError('expected POD [CONTAINER]');
  const container = opts.container ?? args[1];
  const path = `/api/v1/namespaces/${encodeURIComponent(session.namespace)}/pods/${encodeURIComponent(name)}/log`;
  const body = await session.client.stream('GET', path, { query: logQuery({ ...opts, ...(container ? { container } : {}) }), accept: '*/*' });
  const decoder = new TextDecoder();
  for await (const chunk of body) session.io.out(decoder.decode(chunk, { stream: true }));
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('logs')
      .description("print a container's logs: logs web, logs web -c sidecar -f")
      .argument('[args...]', 'POD [CONTAINER]')
      .option('-c, --container <name>', 'the container (needed when the pod has several)')
      .option('-f, --follow', 'keep streaming new lines')
      .option('--tail <lines>', 'only the last N lines (-1: all)')
      .option('-p, --previous', 'the previous, terminated instance of the container')
      .option('--timestamps', 'prefix each line with its timestamp')
      .option('--since-seconds <seconds>', 'only lines newer than this'),
  ).action(action<LogsOptions>(env, (s, o, a) => runLogs(s, o, a)));
}
