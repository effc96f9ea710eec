// flotctl delete -f FILE | TYPE NAME... | TYPE/NAME... | TYPE -l SEL | TYPE --all
//   [--wait=true] [--grace-period N] [--now] [--force] [--cascade=background|foreground|orphan]
//   [--ignore-not-found] [--timeout D]
// Prints `pod "web" deleted` per object, then (by default) waits until each is gone,
// listing with a metadata.name field selector and watching for DELETED.
import type { Command } from 'commander';
import type { KubeList, KubeObject } from '../../api/index.js';
import { action, reportError, type CliEnv } from '../command.js';
import { ApiStatusError, CliError, isNotFound } from '../errors.js';
import { readManifests } from '../manifests.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import { addGlobalFlags, parseDuration, type Session } from '../session.js';
import { collect, displayResource, namespaceFor, resolveManifest } from './apply.js';
import { parseGetArgs } from './get.js';

interface DeleteOptions {
  filename: string[];
  wait?: boolean;
  gracePeriod?: string;
  now?: boolean;
  force?: boolean;
  cascade?: string | boolean;
  ignoreNotFound?: boolean;
  timeout?: string;
  selector?: string;
  all?: boolean;
  allNamespaces?: boolean;
}

interface Target {
  ref: ResourceRef;
  namespace: string | undefined;
  name: string;
}

/** The propagation policy of `--cascade` as kubectl reads it (true = background, false = orphan). */
export function propagationPolicyFor(cascade: string | boolean | undefined): 'Background' | 'Foreground' | 'Orphan' | undefined {
  if (cascade === undefined) return undefined;
  const v = String(cascade).toLowerCase();
  if (v === 'background' || v === 'true') return 'Background';
  if (v === 'foreground') return 'Foreground';
  if (v === 'orphan' || v === 'false') return 'Orphan';
  throw new CliError(`invalid argument "${String(cascade)}" for "--cascade" flag: must be "background", "foreground", or "orphan"`);
}

/** The DeleteOptions body the flags ask for, kubectl's rules for --now/--force/--grace-period and --cascade. */
export function deleteOptionsFor(opts: Pick<DeleteOptions, 'gracePeriod' | 'now' | 'force' | 'cascade'>): { gracePeriodSeconds?: number; propagationPolicy?: string } {
  const policy = propagationPolicyFor(opts.cascade);
  const grace = gracePeriodFor(opts);
  return { ...grace, ...(policy ? { propagationPolicy: policy } : {}) };
}

function gracePeriodFor(opts: Pick<DeleteOptions, 'gracePeriod' | 'now' | 'force'>): { gracePeriodSeconds?: number } {
  let grace = -1;
  if (opts.gracePeriod !== undefined) {
    if (!/^-?\d+$/.test(opts.gracePeriod)) throw new CliError(`invalid argument "${opts.gracePeriod}" for "--grace-period" flag: must be an integer`);
    grace = Number(opts.gracePeriod);
  }
  if (opts.now) {
    if (grace >= 0) throw new CliError('--now and --grace-period cannot be specified together');
    grace = 1;
  }
  if (grace === 0 && !opts.force) {
    // as kubectl: 0 means "immediately" only with --force; otherwise it is the smallest grace period
    grace = 1;
  }
  if (opts.force && grace < 0) grace = 0;
  return grace >= 0 ? { gracePeriodSeconds: grace } : {};
}

async function collectTargets(session: Session, opts: DeleteOptions, args: string[]): Promise<Target[]> {
  if (opts.filename.length > 0) {
    if (args.length > 0) throw new CliError('resource(s) were provided, but no name was specified: use -f or TYPE NAME, not both');
    const manifests = await readManifests(opts.filename, session.io);
    const out: Target[] = [];
    for (const m of manifests) {
      const ref = await resolveManifest(session, m);
      out.push({ ref, namespace: namespaceFor(session, ref, m.object), name: m.object.metadata.name! });
    }
    return out;
  }
  const targets = parseGetArgs(args, 'delete');
  const out: Target[] = [];
  for (const t of targets) {
    const ref = await session.resources.forArg(t.type);
    const ns = ref.namespaced ? session.namespace : undefined;
    if (t.names.length > 0) {
      for (const name of t.names) out.push({ ref, namespace: ns, name });
      continue;
    }
    if (!opts.selector && !opts.all) {
      throw new CliError('resource(s) were provided, but no name was specified');
    }
    const listNs = opts.allNamespaces ? undefined : ns;
    const list = await session.client.requestJson<KubeList>('GET', resourcePath(ref, listNs), { query: { labelSelector: opts.selector } });
    for (const o of list.items ?? []) out.push({ ref, namespace: ref.namespaced ? o.metadata.namespace : undefined, name: o.metadata.name! });
  }
  return out;
}

/** Waits until the object is gone: list by name, then watch from that list for DELETED. */
export async function waitForDeletion(session: Session, t: Target, deadline: number | undefined): Promise<void> {
  const controller = new AbortController();
  const timer = deadline === undefined ? undefined : setTimeout(() => controller.abort(), Math.max(0, deadline - session.now()));
  try {
    for (;;) {
      const list = await session.client.requestJson<KubeList>('GET', resourcePath(t.ref, t.namespace), {
        query: { fieldSelector: `metadata.name=${t.name}` },
        signal: controller.signal,
      });
      if ((list.items ?? []).length === 0) return;
      try {
        for await (const ev of session.client.watch<KubeObject>(
          resourcePath(t.ref, t.namespace),
          { fieldSelector: `metadata.name=${t.name}`, resourceVersion: list.metadata?.resourceVersion },
          controller.signal,
        )) {
          if (ev.type === 'DELETED' && ev.object.metadata.name === t.name) return;
        }
      } catch (e) {
        // a watch that expired (410) or ended: list again
        if (!(e instanceof ApiStatusError && e.httpCode === 410)) throw e;
      }
    }
  } catch (e) {
    if (controller.signal.aborted) {
      throw new CliError(`timed out waiting for the condition on ${t.ref.plural}/${t.name}`);
    }
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export async function runDelete(session: Session, opts: DeleteOptions, args: string[]): Promise<number> {
  const wait = opts.wait !== false;
  const body = deleteOptionsFor(opts);
  const timeoutMs = opts.timeout ? parseDuration(opts.timeout, '--timeout') : 0;
  const targets = await collectTargets(session, opts, args);
  if (targets.length === 0) {
    session.io.err(opts.allNamespaces ? 'No resources found\n' : `No resources found in ${session.namespace} namespace.\n`);
    return 0;
  }
  let failed = false;
  const deleted: Target[] = [];
  for (const t of targets) {
    try {
      await session.client.requestJson('DELETE', resourcePath(t.ref, t.namespace, t.name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', ...body },
      });
      session.io.out(`${displayResource(t.ref)} "${t.name}" deleted\n`);
      deleted.push(t);
    } catch (e) {
      if (opts.ignoreNotFound && isNotFound(e)) continue;
      if (!(e instanceof ApiStatusError)) throw e;
      failed = true;
      reportError(session.io, e);
    }
  }
  if (wait) {
    const deadline = timeoutMs > 0 ? session.now() + timeoutMs : undefined;
    for (const t of deleted) {
      try {
        await waitForDeletion(session, t, deadline);
      } catch (e) {
        if (!(e instanceof CliError) && !(e instanceof ApiStatusError)) throw e;
        failed = true;
        reportError(session.io, e);
      }
    }
  }
  return failed ? 1 : 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('delete')
      .description('delete objects by file, by type and name, or by label selector; waits until they are gone')
      .argument('[args...]', 'TYPE NAME... or TYPE/NAME...')
      .option('-f, --filename <path>', 'a file, a directory, or - for stdin (repeatable)', collect, [])
      .option('--wait', 'wait until the objects are gone (the default)')
      .option('--no-wait', 'return as soon as the deletes are accepted (also --wait=false)')
      .option('--grace-period <seconds>', 'seconds the pod gets to terminate (-1: the pod\'s own)')
      .option('--now', 'grace period of 1 second')
      .option('--force', 'with --grace-period=0: remove immediately')
      .option('--cascade [policy]', 'what happens to dependents: background (default), foreground (they go first) or orphan (they stay)')
      .option('--ignore-not-found', 'treat a missing object as deleted')
      .option('--timeout <duration>', 'give up waiting after this long (0: no limit)')
      .option('-l, --selector <selector>', 'delete everything matching this label selector')
      .option('--all', 'delete every object of the type in the namespace')
      .option('-A, --all-namespaces', 'with -l or --all: across all namespaces'),
  ).action(action<DeleteOptions>(env, (s, o, a) => runDelete(s, o, a)));
}
