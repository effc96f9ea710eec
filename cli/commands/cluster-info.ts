// flotctl cluster-info: where the control plane answers (checked with /version).
import type { Command } from 'commander';
import { action, type CliEnv } from '../command.js';
import { addGlobalFlags, type Session } from '../session.js';

export async function runClusterInfo(session: Session): Promise<number> {
  await session.client.requestJson('GET', '/version');
  session.io.out(`Flotilla control plane is running at ${session.client.server}\n`);
  session.io.out(`\nTo see the nodes, use 'flotctl get nodes'; to diagnose problems, 'flotctl get events -A'.\n`);
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(program.command('cluster-info').description('show where the control plane is running')).action(
    action(env, (s) => runClusterInfo(s)),
  );
}
