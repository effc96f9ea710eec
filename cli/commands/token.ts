// flotctl token create [--ttl 24h] [--description D] [--print-join-command] | list | delete ID...
// Bootstrap tokens for joining nodes, kept by the controller under /apis/flotilla.io/v1.
import type { Command } from 'commander';
import { action, type CliEnv } from '../command.js';
import { CliError } from '../errors.js';
import { humanDuration } from '../printers/age.js';
import { formatTable } from '../printers/tabwriter.js';
import { addGlobalFlags, type Session } from '../session.js';

export const TOKENS_PATH = '/apis/flotilla.io/v1/bootstraptokens';

interface TokenView {
  id: string;
  token?: string;
  expires?: string;
  description?: string;
  createdAt: string;
  usages: string[];
  joinCommand?: string;
}

interface CreateOptions {
  ttl?: string;
  description?: string;
  printJoinCommand?: boolean;
}

export async function runTokenCreate(session: Session, opts: CreateOptions, args: string[]): Promise<number> {
  if (args.length > 0) throw new CliError(`token create takes no arguments, got "${args.join(' ')}" (the token is generated)`);
  if (opts.ttl !== undefined && !/^\d+(h|m|s)?$/.test(opts.ttl)) throw new CliError(`invalid --ttl "${opts.ttl}": expected a duration like 24h, 30m or 0 (never expires)`);
  const body = { ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}), ...(opts.description ? { description: opts.description } : {}) };
  const t = await session.client.requestJson<TokenView>('POST', TOKENS_PATH, { body, contentType: 'application/json' });
  session.io.out(`${opts.printJoinCommand ? t.joinCommand : t.token}\n`);
  return 0;
}

export async function runTokenList(session: Session): Promise<number> {
  const list = await session.client.requestJson<{ items: TokenView[] }>('GET', TOKENS_PATH);
  if (list.items.length === 0) {
    session.io.err('No bootstrap tokens found\n');
    return 0;
  }
  const now = session.now();
  const rows = list.items.map((t) => [
    t.id,
    t.expires ? (Date.parse(t.expires) > now ? humanDuration(Date.parse(t.expires) - now) : '<expired>') : '<forever>',
    t.expires ?? '<never>',
    t.usages.join(','),
    t.description ?? '<none>',
  ]);
  session.io.out(formatTable(['TOKEN ID', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION'], rows));
  return 0;
}

export async function runTokenDelete(session: Session, args: string[]): Promise<number> {
  if (args.length === 0) throw new CliError('token delete requires a token id or token: flotctl token delete abcdef');
  for (const a of args) {
    if (!/^[a-z0-9]{6}(\.[a-z0-9]{16})?$/.test(a)) throw new CliError(`invalid token "${a}": expected an id [a-z0-9]{6} or a whole token [a-z0-9]{6}.[a-z0-9]{16}`);
  }
  for (const a of args) {
    await session.client.requestJson('DELETE', `${TOKENS_PATH}/${a.slice(0, 6)}`);
    session.io.out(`bootstrap token "${a.slice(0, 6)}" deleted\n`);
  }
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  const token = program.command('token').description('manage bootstrap tokens for joining nodes: token create --print-join-command, token list, token delete ID');
  addGlobalFlags(
    token
      .command('create')
      .description('create a bootstrap token (default TTL 24h)')
      .argument('[args...]')
      .option('--ttl <duration>', 'lifetime: 24h, 30m, 90s; 0 = never expires')
      .option('--description <text>', 'what the token is for')
      .option('--print-join-command', 'print the whole `flotilla-agent join` command instead of the token'),
  ).action(action<CreateOptions>(env, (s, o, a) => runTokenCreate(s, o, a)));
  addGlobalFlags(token.command('list').description('list bootstrap tokens (secrets are never shown again)')).action(
    action(env, (s) => runTokenList(s)),
  );
  addGlobalFlags(token.command('delete').description('delete bootstrap tokens by id').argument('[ids...]')).action(
    action(env, (s, _o, a) => runTokenDelete(s, a)),
  );
}
