// flotctl version [--client] [-o json|yaml]: this client's version and the server's /version.
import type { Command } from 'commander';
import { CLIENT_VERSION } from '../client.js';
import { action, type CliEnv } from '../command.js';
import { UsageError } from '../errors.js';
import { formatJson, formatYaml } from '../printers/output.js';
import { addGlobalFlags, type Session } from '../session.js';

interface VersionOptions {
  client?: boolean;
  output?: string;
}

interface ServerVersion {
  gitVersion?: string;
  [k: string]: unknown;
}

export async function runVersion(session: Session, opts: VersionOptions): Promise<number> {
  if (opts.output !== undefined && opts.output !== 'json' && opts.output !== 'yaml') {
    throw new UsageError(`--output must be 'yaml' or 'json'`, 'version');
  }
  const clientInfo = { gitVersion: CLIENT_VERSION, platform: `${process.platform}/${process.arch}` };
  const server = opts.client ? undefined : await session.client.requestJson<ServerVersion>('GET', '/version');
  if (opts.output) {
    const doc = { clientVersion: clientInfo, ...(server ? { serverVersion: server } : {}) };
    session.io.out(opts.output === 'json' ? formatJson(doc) : formatYaml(doc));
    return 0;
  }
  session.io.out(`Client Version: ${CLIENT_VERSION}\n`);
  if (server) session.io.out(`Server Version: ${server.gitVersion ?? 'unknown'}\n`);
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('version')
      .description('print the client and server versions')
      .option('--client', 'only the client version (no server needed)')
      .option('-o, --output <format>', 'yaml or json'),
  ).action(action<VersionOptions>(env, (s, o) => runVersion(s, o)));
}
