// The command table of flotctl: one file per command in commands/, registered
// here explicitly (no import side effects). Later commands (token, image,
// get subnets, net check) slot in with one import and one line.
import { Command, CommanderError } from 'commander';
import { CLIENT_VERSION } from './client.js';
import type { CliEnv } from './command.js';
import * as apply from './commands/apply.js';
import * as clusterInfo from './commands/cluster-info.js';
import * as del from './commands/delete.js';
import * as describe from './commands/describe.js';
import * as drain from './commands/drain.js';
import * as exec from './commands/exec.js';
import * as expose from './commands/expose.js';
import * as get from './commands/get.js';
import * as image from './commands/image.js';
import * as logs from './commands/logs.js';
import * as net from './commands/net.js';
import * as rollout from './commands/rollout.js';
import * as scale from './commands/scale.js';
import * as token from './commands/token.js';
import * as version from './commands/version.js';
import { formatError } from './errors.js';
import { addGlobalFlags, processIo } from './session.js';

const COMMANDS: { register(program: Command, env: CliEnv): void }[] = [apply, get, describe, del, logs, exec, image, net, token, version, clusterInfo, drain, scale, rollout, expose];

export function buildProgram(env: CliEnv): Command {
  const program = new Command('flotctl')
    .description('flotctl controls a Flotilla cluster, the way kubectl controls Kubernetes.')
    .version(CLIENT_VERSION, '--client-version', 'print the client version')
    .showSuggestionAfterError(true)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => env.io.out(s),
      writeErr: (s) => env.io.err(s),
      outputError: (s, write) => write(s.replace(/\n?$/, "\nSee 'flotctl --help' for usage.\n")),
    });
  addGlobalFlags(program);
  for (const c of COMMANDS) c.register(program, env);
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput({
      writeOut: (s) => env.io.out(s),
      writeErr: (s) => env.io.err(s),
      outputError: (s, write) => write(s.replace(/\n?$/, `\nSee 'flotctl ${sub.name()} --help' for usage.\n`)),
    });
  }
  program.showHelpAfterError(false);
  return program;
}

/** Boolean flags that kubectl users write as `--flag=true|false`. */
const BOOLEAN_FLAGS = new Set([
  'wait', 'all-namespaces', 'force', 'now', 'ignore-not-found', 'watch', 'watch-only', 'recursive', 'insecure-skip-tls-verify',
  'client', 'show-labels', 'follow', 'previous', 'timestamps', 'all', 'stdin', 'tty', 'no-headers',
]);
/** Flags whose `=false` form has a `--no-` flag; for the others `=false` is the default. */
const NEGATABLE = new Set(['wait', 'headers']);
/** Commands where a flag that is off elsewhere defaults to on: `rollout status` watches unless `--watch=false`. */
const NEGATABLE_IN: Record<string, Set<string>> = { rollout: new Set(['watch']) };

/** Rewrites `--wait=false` to `--no-wait`, `--force=true` to `--force` and `-o=json` to `-o json`, as kubectl's flag parser accepts them. */
export function normalizeBooleanFlags(argv: string[]): string[] {
  const out: string[] = [];
  const negatable = (flag: string) => NEGATABLE.has(flag) || NEGATABLE_IN[argv[0] ?? '']?.has(flag) === true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const short = /^-([a-zA-Z])=(.*)$/.exec(a);
    if (short) {
      // pflag accepts -o=json; commander would read the value as "=json"
      out.push(`-${short[1]}`, short[2]!);
      continue;
    }
    const m = /^--([a-z-]+)=(true|false)$/.exec(a);
    if (m && (BOOLEAN_FLAGS.has(m[1]!) || negatable(m[1]!))) {
      if (m[2] === 'true') out.push(`--${m[1]}`);
      else if (negatable(m[1]!)) out.push(`--no-${m[1]}`);
      continue;
    }
    out.push(a);
  }
  return out;
}

/** Runs flotctl with `argv` (without node and script), returning the exit code. Never throws. */
export async function runCli(argv: string[], partial: Partial<CliEnv> = {}): Promise<number> {
  const env: CliEnv = { io: processIo, env: process.env, now: () => Date.now(), exitCode: 0, ...partial };
  const program = buildProgram(env);
  if (argv.length === 0) {
    env.io.out(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(normalizeBooleanFlags(argv), { from: 'user' });
    return env.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and --client-version end here with code 0; flag errors were already printed by commander
      return e.exitCode === 0 ? 0 : 1;
    }
    env.io.err(formatError(e) + '\n');
    return 1;
  }
}
