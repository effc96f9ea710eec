// flotctl get TYPE[,TYPE] [NAME...] | TYPE/NAME... [-n NS | -A] [-o wide|yaml|json|name] [-l SEL] [--field-selector SEL] [-w]
import type { Command } from 'commander';
import type { KubeList, KubeObject } from '../../api/index.js';
import { action, reportError, type CliEnv } from '../command.js';
import { ApiStatusError, CliError, UsageError } from '../errors.js';
import { tableFor } from '../printers/columns.js';
import { formatJson, formatName, formatYaml, listOrSingle, parseOutputFormat, type OutputFormat } from '../printers/output.js';
import { formatTable } from '../printers/tabwriter.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import { addGlobalFlags, type Session } from '../session.js';
import { displayResource } from './apply.js';
import { runGetSubnets, SUBNET_TYPES } from './subnets.js';

interface GetOptions {
  output?: string;
  allNamespaces?: boolean;
  selector?: string;
  fieldSelector?: string;
  watch?: boolean;
  watchOnly?: boolean;
  noHeaders?: boolean;
  showLabels?: boolean;
}

/** One request of a `get`: a type and the names asked for (none = list). */
export interface GetTarget {
  type: string;
  names: string[];
}

/** Splits `get` arguments: `pods web db`, `pods,nodes`, `pod/web node/n1`. */
export function parseGetArgs(args: string[], command = 'get'): GetTarget[] {
  if (args.length === 0) {
    throw new CliError(
      `You must specify the type of resource to ${command}. Use "flotctl api-resources" for a complete list of supported resources.`,
    );
  }
  if (args.some((a) => a.includes('/'))) {
    const targets: GetTarget[] = [];
    for (const a of args) {
      const slash = a.indexOf('/');
      if (slash <= 0 || slash === a.length - 1) {
        throw new CliError(
          a.includes('/')
            ? `arguments in resource/name form must have a single resource and name`
            : `there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'flotctl ${command} resource/<resource_name>' instead of 'flotctl ${command} resource resource/<resource_name>'`,
        );
      }
      const type = a.slice(0, slash);
      const name = a.slice(slash + 1);
      const existing = targets.find((t) => t.type === type);
      if (existing) existing.names.push(name);
      else targets.push({ type, names: [name] });
    }
    return targets;
  }
  const [types, ...names] = args as [string, ...string[]];
  const typeList = types.split(',').filter((t) => t !== '');
  if (typeList.length > 1 && names.length > 0) {
    throw new CliError(`you may only specify a single resource type when naming objects: "${types}"`);
  }
  return typeList.map((type) => ({ type, names }));
}

interface Fetched {
  ref: ResourceRef;
  objects: KubeObject[];
  resourceVersion?: string;
  namespace: string | undefined;
}

function printObjects(session: Session, fetched: Fetched[], format: OutputFormat, opts: GetOptions, single: boolean, named: boolean): void {
  const io = session.io;
  if (format === 'yaml' || format === 'json') {
    const objects = fetched.flatMap((f) => f.objects.map((o) => withTypeMeta(f.ref, o)));
    // an empty listing is an empty List; names that were not found print only their errors
    if (objects.length === 0 && named) return;
    const value = listOrSingle(objects, single);
    io.out(format === 'json' ? formatJson(value) : formatYaml(value));
    return;
  }
  if (format === 'name') {
    for (const f of fetched) for (const o of f.objects) io.out(formatName(displayResource(f.ref), o));
    return;
  }
  const several = fetched.filter((f) => f.objects.length > 0).length > 1;
  let first = true;
  for (const f of fetched) {
    if (f.objects.length === 0) continue;
    const { header, rows } = tableFor(f.ref.kind, f.objects, {
      wide: format === 'wide',
      withNamespace: opts.allNamespaces === true && f.ref.namespaced,
      now: session.now(),
    });
    const nameCol = header.indexOf('NAME');
    if (several && nameCol >= 0) for (const r of rows) r[nameCol] = `${displayResource(f.ref)}/${r[nameCol]}`;
    if (opts.showLabels) {
      header.push('LABELS');
      f.objects.forEach((o, i) => rows[i]!.push(formatLabels(o.metadata.labels)));
    }
    if (!first) io.out('\n');
    io.out(formatTable(opts.noHeaders ? undefined : header, rows));
    first = false;
  }
}

export function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).sort().join(',');
}

/** Lists and single GETs leave out apiVersion/kind on items; -o yaml shows them. */
export function withTypeMeta(ref: ResourceRef, obj: KubeObject): KubeObject {
  if (obj.apiVersion && obj.kind) return obj;
  const { metadata, ...rest } = obj;
  return { apiVersion: ref.group === '' ? ref.version : `${ref.group}/${ref.version}`, kind: ref.kind, metadata, ...rest } as KubeObject;
}

function noResourcesMessage(session: Session, fetchedRefs: ResourceRef[], allNamespaces: boolean): string {
  const namespaced = fetchedRefs.some((r) => r.namespaced);
  if (!namespaced || allNamespaces) return 'No resources found\n';
  return `No resources found in ${session.namespace} namespace.\n`;
}

export async function runGet(session: Session, opts: GetOptions, args: string[]): Promise<number> {
  const format = parseOutputFormat(opts.output);
  if (!format) {
    throw new UsageError(`unable to match a printer suitable for the output format "${opts.output}", allowed formats are: json,name,wide,yaml`, 'get');
  }
  const targets = parseGetArgs(args);
  // Subnet leases are the network plugin's, not a Kubernetes resource.
  if (targets.length === 1 && SUBNET_TYPES.has(targets[0]!.type.toLowerCase())) {
    if (opts.watch || opts.watchOnly) throw new CliError('subnet leases cannot be watched');
    return runGetSubnets(session, format, targets[0]!.names, opts.noHeaders);
  }
  const fetched: Fetched[] = [];
  let failed = false;
  const namedRequest = targets.every((t) => t.names.length > 0);
  // a category (`get all`) stands for each of its types, when the word names no type itself
  const expanded: { ref: ResourceRef; names: string[] }[] = [];
  for (const t of targets) {
    const inCategory = t.names.length === 0 ? await session.resources.category(t.type) : [];
    if (inCategory.length > 0 && !(await session.resources.forArg(t.type).catch(() => undefined))) {
      for (const ref of inCategory) expanded.push({ ref, names: [] });
    } else {
      expanded.push({ ref: await session.resources.forArg(t.type), names: t.names });
    }
  }
  for (const t of expanded) {
    const ref = t.ref;
    const ns = ref.namespaced ? (opts.allNamespaces && t.names.length === 0 ? undefined : session.namespace) : undefined;
    if (t.names.length > 0) {
      const objects: KubeObject[] = [];
      for (const name of t.names) {
        try {
          objects.push(await session.client.requestJson<KubeObject>('GET', resourcePath(ref, ns, name)));
        } catch (e) {
          if (!(e instanceof ApiStatusError)) throw e;
          failed = true;
          reportError(session.io, e);
        }
      }
      fetched.push({ ref, objects, namespace: ns });
    } else {
      const list = await session.client.requestJson<KubeList>('GET', resourcePath(ref, ns), {
        query: { labelSelector: opts.selector, fieldSelector: opts.fieldSelector },
      });
      fetched.push({ ref, objects: list.items ?? [], namespace: ns, ...(list.metadata?.resourceVersion ? { resourceVersion: list.metadata.resourceVersion } : {}) });
    }
  }
  const single = namedRequest && targets.length === 1 && targets[0]!.names.length === 1;
  if (!opts.watchOnly) {
    printObjects(session, fetched, format, opts, single, namedRequest);
    const total = fetched.reduce((n, f) => n + f.objects.length, 0);
    if (total === 0 && !namedRequest && (format === 'table' || format === 'wide' || format === 'name') && !opts.watch) {
      session.io.err(noResourcesMessage(session, fetched.map((f) => f.ref), opts.allNamespaces === true));
    }
  }
  if (opts.watch || opts.watchOnly) {
    if (fetched.length !== 1) throw new CliError('you may only specify a single resource type when watching');
    await watchAndPrint(session, fetched[0]!, targets[0]!.names, format, opts);
  }
  return failed ? 1 : 0;
}

/** Streams changes after the listing until the server ends the watch. */
async function watchAndPrint(session: Session, f: Fetched, names: string[], format: OutputFormat, opts: GetOptions): Promise<void> {
  const fieldSelectors = [opts.fieldSelector, names.length === 1 ? `metadata.name=${names[0]}` : undefined].filter(Boolean);
  const query = {
    labelSelector: opts.selector,
    fieldSelector: fieldSelectors.join(',') || undefined,
    resourceVersion: f.resourceVersion,
    allowWatchBookmarks: undefined,
  };
  // the header of the first listing, so rows of the watch line up under it
  const { header } = tableFor(f.ref.kind, [], { wide: format === 'wide', withNamespace: opts.allNamespaces === true && f.ref.namespaced, now: session.now() });
  if (opts.showLabels) header.push('LABELS');
  let printedHeader = f.objects.length > 0 && !opts.watchOnly;
  for await (const ev of session.client.watch(resourcePath(f.ref, f.namespace), query)) {
    if (ev.type === 'BOOKMARK') continue;
    if (names.length > 1 && !names.includes(ev.object.metadata.name ?? '')) continue;
    const obj = ev.object;
    if (format === 'yaml') session.io.out('---\n' + formatYaml(withTypeMeta(f.ref, obj)));
    else if (format === 'json') session.io.out(formatJson(withTypeMeta(f.ref, obj)));
    else if (format === 'name') session.io.out(formatName(displayResource(f.ref), obj));
    else {
      const { rows } = tableFor(f.ref.kind, [obj], { wide: format === 'wide', withNamespace: opts.allNamespaces === true && f.ref.namespaced, now: session.now() });
      if (opts.showLabels) rows[0]!.push(formatLabels(obj.metadata.labels));
      const lines = formatTable(header, rows).split('\n');
      if (!printedHeader && !opts.noHeaders) session.io.out(lines[0] + '\n');
      printedHeader = true;
      session.io.out(lines[1] + '\n');
    }
  }
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('get')
      .description('list objects or show some by name: get pods, get po web, get pod/web -o yaml')
      .argument('[args...]', 'TYPE[,TYPE] [NAME...] or TYPE/NAME...')
      .option('-o, --output <format>', 'output format: wide, yaml, json, name')
      .option('-A, --all-namespaces', 'list across all namespaces')
      .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
      .option('--field-selector <selector>', 'field selector, e.g. spec.nodeName=n1')
      .option('-w, --watch', 'after listing, watch for changes')
      .option('--watch-only', 'watch for changes without listing first')
      .option('--no-headers', "don't print the column headers")
      .option('--show-labels', 'show labels as the last column'),
  ).action(action<GetOptions & { headers?: boolean }>(env, (s, o, a) => runGet(s, { ...o, noHeaders: o.headers === false }, a)));
}
