// flotctl apply -f FILE|DIR|- : create what is missing, patch what changed
// (three-way, last-applied annotation), leave the rest: `pod/web created|configured|unchanged`.
import type { Command } from 'commander';
import { action, reportError, type CliEnv } from '../command.js';
import { lastAppliedOf, threeWayMergePatch, withLastApplied, type JsonObject } from '../apply-patch.js';
import { ApiStatusError, CliError, isNotFound } from '../errors.js';
import { readManifests } from '../manifests.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import { addGlobalFlags, type Session } from '../session.js';
import type { DecodedManifest } from '../../api/index.js';

interface ApplyOptions {
  filename: string[];
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `pod` or `deployment.apps`: how kubectl names a resource in its output. */
export function displayResource(ref: ResourceRef): string {
  return ref.group === '' ? ref.singular : `${ref.singular}.${ref.group}`;
}

/** The namespace an object goes to: its own, else -n, else the context's; a clash with -n is an error. */
export function namespaceFor(session: Session, ref: ResourceRef, obj: DecodedManifest['object']): string | undefined {
  if (!ref.namespaced) return undefined;
  const own = obj.metadata.namespace;
  if (own && session.namespaceExplicit && own !== session.namespace) {
    throw new CliError(
      `the namespace from the provided object "${own}" does not match the namespace "${session.namespace}". You must pass '--namespace=${own}' to perform this operation.`,
    );
  }
  return own || session.namespace;
}

export async function resolveManifest(session: Session, m: DecodedManifest): Promise<ResourceRef> {
  const { apiVersion, kind } = m.object;
  const ref = await session.resources.forKind(apiVersion, kind);
  if (!ref) {
    throw new CliError(
      `resource mapping not found for name: "${m.object.metadata.name ?? ''}" namespace: "${m.object.metadata.namespace ?? ''}" from "${m.source}": ` +
        `no matches for kind "${kind}" in version "${apiVersion}"`,
    );
  }
  if (!m.object.metadata.name) throw new CliError(`${m.source}:${m.line}: ${kind} has no metadata.name`);
  return ref;
}

async function applyOne(session: Session, m: DecodedManifest): Promise<string> {
  const ref = await resolveManifest(session, m);
  const name = m.object.metadata.name!;
  const ns = namespaceFor(session, ref, m.object);
  const obj = m.object as unknown as JsonObject;
  if (ns !== undefined) (obj.metadata as JsonObject).namespace = ns;
  const modified = withLastApplied(obj);
  const label = `${displayResource(ref)}/${name}`;

  let current: JsonObject | undefined;
  try {
    current = await session.client.requestJson<JsonObject>('GET', resourcePath(ref, ns, name));
  } catch (e) {
    if (!isNotFound(e)) throw e instanceof ApiStatusError ? e.withContext(`error when retrieving current configuration of "${m.source}": `) : e;
  }
  if (current === undefined) {
    try {
      await session.client.requestJson('POST', resourcePath(ref, ns), { body: modified });
    } catch (e) {
      throw e instanceof ApiStatusError ? e.withContext(`error when creating "${m.source}": `) : e;
    }
    return `${label} created`;
  }
  const original = lastAppliedOf(current);
  if (original === undefined) {
    session.io.err(
      `Warning: resource ${ref.plural}/${name} is missing the kubectl.kubernetes.io/last-applied-configuration annotation which is required by flotctl apply. ` +
        'flotctl apply should only be used on resources created declaratively by apply; the missing annotation will be patched automatically.\n',
    );
  }
  const patch = threeWayMergePatch(original, modified, current);
  if (Object.keys(patch).length === 0) return `${label} unchanged`;
  try {
    await session.client.requestJson('PATCH', resourcePath(ref, ns, name), {
      body: patch,
      contentType: 'application/strategic-merge-patch+json',
    });
  } catch (e) {
    throw e instanceof ApiStatusError ? e.withContext(`error when applying patch to "${m.source}": `) : e;
  }
  return `${label} configured`;
}

export async function runApply(session: Session, opts: ApplyOptions): Promise<number> {
  const manifests = await readManifests(opts.filename ?? [], session.io);
  let failed = false;
  for (const m of manifests) {
    try {
      session.io.out(`${await applyOne(session, m)}\n`);
    } catch (e) {
      // a connection failure will fail every object the same way: stop at the first
      if (!(e instanceof ApiStatusError) && !(e instanceof CliError)) throw e;
      failed = true;
      reportError(session.io, e);
    }
  }
  return failed ? 1 : 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('apply')
      .description('create or update objects from YAML or JSON files, directories (recursively) or stdin')
      .option('-f, --filename <path>', 'a file, a directory, or - for stdin (repeatable)', collect, [])
      .option('-R, --recursive', 'process directories recursively (always on)'),
  ).action(action<ApplyOptions>(env, (s, o) => runApply(s, o)));
}
