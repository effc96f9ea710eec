// flotctl scale TYPE/NAME --replicas N (or TYPE NAME): writes spec.replicas
// through the scale subresource, as kubectl scale does; prints
// `deployment.apps/web scaled`. --current-replicas is a precondition.
import type { Command } from 'commander';
import { action, type CliEnv } from '../command.js';
import { CliError } from '../errors.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import { addGlobalFlags, type Session } from '../session.js';

interface ScaleOptions {
  replicas?: string;
  currentReplicas?: string;
}

/** `deploy/web` or `deploy web` → the resource word and the names. */
export function typeAndNames(args: string[], command: string): { type: string; names: string[] } {
  if (args.length === 0) throw new CliError(`${command} requires a resource: flotctl ${command} deployment/NAME`);
  const first = args[0]!;
  if (first.includes('/')) {
    const out: string[] = [];
    let type = '';
    for (const a of args) {
      const i = a.indexOf('/');
      if (i < 0) throw new CliError(`there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'flotctl ${command} resource/<resource_name>' instead of 'flotctl ${command} resource resource/<resource_name>'`);
      if (type && a.slice(0, i) !== type) throw new CliError('name the same resource type in every argument');
      type = a.slice(0, i);
      out.push(a.slice(i + 1));
    }
    return { type, names: out };
  }
  if (args.length < 2) throw new CliError(`${command} requires a name: flotctl ${command} ${first} NAME`);
  return { type: first, names: args.slice(1) };
}

/** `deployment.apps/web` as kubectl names an object in its messages. */
export function qualifiedName(ref: ResourceRef, name: string): string {
  return `${ref.singular || ref.kind.toLowerCase()}${ref.group ? `.${ref.group}` : ''}/${name}`;
}

export async function runScale(session: Session, opts: ScaleOptions, args: string[]): Promise<number> {
  if (opts.replicas === undefined || !/^\d+$/.test(opts.replicas)) throw new CliError('--replicas=COUNT is required, and COUNT must be greater than or equal to 0');
  const replicas = Number(opts.replicas);
  const { type, names } = typeAndNames(args, 'scale');
  const ref = await session.resources.forArg(type);
  for (const name of names) {
    const path = resourcePath(ref, session.namespace, name, 'scale');
    if (opts.currentReplicas !== undefined) {
      const cur = await session.client.requestJson<{ spec?: { replicas?: number }; metadata?: { resourceVersion?: string } }>('GET', path);
      if (String(cur.spec?.replicas ?? 0) !== opts.currentReplicas) {
        throw new CliError(`Expected replicas to be ${opts.currentReplicas}, was ${cur.spec?.replicas ?? 0}`);
      }
      await session.client.requestJson('PUT', path, {
        body: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name, namespace: session.namespace, resourceVersion: cur.metadata?.resourceVersion }, spec: { replicas } },
      });
    } else {
      await session.client.requestJson('PATCH', path, { body: { spec: { replicas } }, contentType: 'application/merge-patch+json' });
    }
    session.io.out(`${qualifiedName(ref, name)} scaled\n`);
  }
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('scale')
      .description('set the replicas of a deployment or replica set: scale deploy/web --replicas 5')
      .argument('[args...]', 'TYPE/NAME … or TYPE NAME …')
      .option('--replicas <count>', 'the new number of replicas')
      .option('--current-replicas <count>', 'only scale when the current replicas are this'),
  ).action(action<ScaleOptions>(env, (s, o, a) => runScale(s, o, a)));
}
