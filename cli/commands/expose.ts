// flotctl expose TYPE NAME | TYPE/NAME [--port P] [--target-port T] [--name N] [--type T]
// [--protocol P] [--selector k=v] [--labels k=v] [--cluster-ip IP] [--session-affinity A]
// [--dry-run=none|client|server] [-o yaml|json|name]
//
// kubectl expose: a Service in front of a Deployment, ReplicaSet, Pod or Service.
// What the user leaves out is read from the object with kubectl's rules — the
// selector (a workload's matchLabels, a pod's labels, a Service's selector), the
// ports (the containers' ports, or the Service's) with their protocols, the name
// and the labels. The server validates the rest (type, port range, protocol), so
// those errors are kube-apiserver's own.
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import type { Container, KubeObject, Pod, Service, ServicePort } from '../../api/index.js';
import { action, type CliEnv } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { formatJson, formatName, parseOutputFormat } from '../printers/output.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import { addGlobalFlags, type Session } from '../session.js';

interface ExposeOptions {
  port?: string;
  targetPort?: string;
  name?: string;
  type?: string;
  protocol?: string;
  selector?: string;
  labels?: string;
  clusterIp?: string;
  sessionAffinity?: string;
  dryRun?: string;
  output?: string;
}

export type DryRun = 'none' | 'client' | 'server';

/** The kinds kubectl exposes, by group/kind; anything else is "cannot expose a <Kind[.group]>". */
const EXPOSABLE = new Set(['/Pod', '/Service', '/ReplicationController', 'apps/Deployment', 'apps/ReplicaSet']);

export function checkExposable(ref: Pick<ResourceRef, 'group' | 'kind'>): void {
  if (!EXPOSABLE.has(`${ref.group}/${ref.kind}`)) throw new CliError(`cannot expose a ${ref.kind}${ref.group ? `.${ref.group}` : ''}`);
}

export function parseDryRun(value: string | undefined): DryRun {
  if (value === undefined || value === 'none') return 'none';
  if (value === 'client' || value === 'server') return value;
  throw new CliError(`Invalid dry-run value (${value}). Must be "none", "server", or "client".`);
}

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
type Workload = KubeObject & { spec?: { selector?: Selector | Record<string, string>; template?: { spec?: { containers?: Container[] } }; ports?: ServicePort[] } };

/** Go's %+v of a LabelSelectorRequirement list, as kubectl's message shows it. */
function goRequirements(reqs: NonNullable<Selector['matchExpressions']>): string {
  return `[${reqs.map((r) => `{Key:${r.key} Operator:${r.operator} Values:[${(r.values ?? []).join(' ')}]}`).join(' ')}]`;
}

/**
 * The selector of the new Service, read from the object (kubectl's
 * MapBasedSelectorForObject): a Deployment's or ReplicaSet's matchLabels —
 * matchExpressions have no map form and are refused —, a pod's labels, a
 * Service's or ReplicationController's selector. The errors are kubectl's.
 */
export function selectorForObject(kind: string, obj: Workload): Record<string, string> {
  switch (kind) {
    case 'Pod': {
      const labels = obj.metadata.labels ?? {};
      if (Object.keys(labels).length === 0) throw new Error('the pod has no labels and cannot be exposed');
      return { ...labels };
    }
    case 'Service': {
      const sel = obj.spec?.selector as Record<string, string> | undefined;
      if (!sel) throw new Error('the service has no pod selector set');
      return { ...sel };
    }
    case 'ReplicationController': {
      const sel = obj.spec?.selector as Record<string, string> | undefined;
      if (!sel || Object.keys(sel).length === 0) throw new Error('the replication controller has no selector and cannot be exposed');
      return { ...sel };
    }
    case 'Deployment':
    case 'ReplicaSet': {
      const sel = obj.spec?.selector as Selector | undefined;
      if (!sel?.matchLabels || Object.keys(sel.matchLabels).length === 0) throw new Error(`invalid ${kind.toLowerCase()}: no selectors, therefore cannot be exposed`);
      if (sel.matchExpressions?.length) throw new Error(`couldn't convert expressions - "${goRequirements(sel.matchExpressions)}" to map-based selector format`);
      return { ...sel.matchLabels };
    }
    default:
      throw new Error(`cannot extract pod selector from ${kind}`);
  }
}

function containersOf(kind: string, obj: Workload): Container[] {
  if (kind === 'Pod') return (obj as unknown as Pod).spec?.containers ?? [];
  return obj.spec?.template?.spec?.containers ?? [];
}

/**
 * Each port of the object once, in order, with the protocols it is served
 * with (kubectl's PortsForObject and ProtocolsForObject): a container port
 * listed for TCP and UDP becomes one port with two protocols.
 */
export function portsForObject(kind: string, obj: Workload): { port: string; protocols: string[] }[] {
  const found: { port: string; protocols: string[] }[] = [];
  const add = (port: number, protocol: string | undefined) => {
    const key = String(port);
    const proto = protocol || 'TCP';
    const entry = found.find((f) => f.port === key);
    if (!entry) found.push({ port: key, protocols: [proto] });
    else if (!entry.protocols.includes(proto)) entry.protocols.push(proto);
  };
  if (kind === 'Service') for (const p of obj.spec?.ports ?? []) add(p.port, p.protocol);
  else for (const c of containersOf(kind, obj)) for (const p of c.ports ?? []) add(p.containerPort, p.protocol);
  return found;
}

/** kubectl's label spec for --selector and --labels: `k=v,k2=v2`; keys are the server's to validate. */
export function parseLabelSpec(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of spec.split(',')) {
    const parts = item.split('=');
    if (parts.length !== 2) throw new CliError(`unexpected label spec: ${item}`);
    if (parts[0] === '') throw new CliError('unexpected empty label key');
    out[parts[0]!] = parts[1]!;
  }
  return out;
}

/** Go's strconv.Atoi, with its error text. */
function atoi(text: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new CliError(`strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new CliError(`strconv.Atoi: parsing ${JSON.stringify(text)}: value out of range`);
  return n;
}

export interface ServiceParams {
  name: string;
  /** Comma-separated ports, as --port or the introspected ones. */
  ports: string[];
  /** The exposed object's protocols by port; a port with several gets one Service port each. */
  protocols: Map<string, string[]>;
  protocol?: string;
  targetPort?: string;
  selector: Record<string, string>;
  labels?: Record<string, string>;
  type?: string;
  clusterIP?: string;
  sessionAffinity?: string;
  namespace?: string;
}

/**
 * The Service kubectl's generator builds, fields in the order kubectl's JSON
 * printer writes them: with several ports each is named port-N (port-N-udp,
 * port-N-tcp for one port of several protocols); targetPort is --target-port
 * for every port, or the port itself.
 */
export function buildService(p: ServiceParams): Service {
  const ports: ServicePort[] = [];
  p.ports.forEach((text, i) => {
    const port = atoi(text.trim());
    const name = p.ports.length > 1 ? `port-${i + 1}` : undefined;
    let protocol = p.protocol;
    if (!protocol) {
      const known = p.protocols.get(text.trim()) ?? [];
      if (known.length > 1) {
        for (const proto of known) ports.push({ name: `port-${i + 1}-${proto.toLowerCase()}`, protocol: proto as ServicePort['protocol'], port });
        return;
      }
      protocol = known[0] ?? 'TCP';
    }
    ports.push({ ...(name ? { name } : {}), protocol: protocol as ServicePort['protocol'], port });
  });
  const target = p.targetPort;
  for (const sp of ports) sp.targetPort = target ? (/^[+-]?\d+$/.test(target) ? Number(target) : target) : sp.port;
  if (p.sessionAffinity !== undefined && p.sessionAffinity !== 'None' && p.sessionAffinity !== 'ClientIP') {
    throw new CliError(`unknown session affinity: ${p.sessionAffinity}`);
  }
  const spec: Service['spec'] = { ports, selector: p.selector };
  if (p.clusterIP) spec.clusterIP = p.clusterIP;
  if (p.type) spec.type = p.type as Service['spec']['type'];
  if (p.sessionAffinity) spec.sessionAffinity = p.sessionAffinity as 'None' | 'ClientIP';
  const metadata: KubeObject['metadata'] = { name: p.name, ...(p.namespace ? { namespace: p.namespace } : {}), creationTimestamp: null as unknown as string };
  if (p.labels && Object.keys(p.labels).length > 0) metadata.labels = p.labels;
  return { kind: 'Service', apiVersion: 'v1', metadata, spec, status: { loadBalancer: {} } };
}

/** kubectl's YAML printer writes every map with its keys sorted. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

/**
 * kubectl prints the Service as its typed struct: keys sorted in YAML,
 * sequences not indented under their key, strings YAML 1.1 would misread
 * (timestamps, yes/no) quoted as go-yaml quotes them, and a creationTimestamp
 * always (null before the server sets one, as in a dry run).
 */
function kubectlYaml(svc: Service): string {
  const typed = { ...svc, metadata: { creationTimestamp: null, ...svc.metadata } };
  return toYaml(sortKeys(typed), { version: '1.1', lineWidth: 0, indentSeq: false, aliasDuplicateObjects: false });
}

function printResult(session: Session, output: string | undefined, svc: Service, dryRun: DryRun): void {
  if (output === 'yaml') session.io.out(kubectlYaml(svc));
  else if (output === 'json') session.io.out(formatJson(svc));
  else if (output === 'name') session.io.out(formatName('service', svc));
  else session.io.out(`service/${svc.metadata.name} exposed${dryRun === 'client' ? ' (dry run)' : dryRun === 'server' ? ' (server dry run)' : ''}\n`);
}

/** The metadata to send: the null creationTimestamp is only for printing, as kubectl prints it. */
function withoutNullTimestamp(md: KubeObject['metadata']): KubeObject['metadata'] {
  const { creationTimestamp: _t, ...rest } = md;
  return rest;
}

/** `deployment web`, `deployment/web`, `deploy/a deploy/b` → the type and the names. */
function targetsOf(args: string[]): { type: string; names: string[] }[] {
  if (args.length === 0) {
    throw new CliError(
      "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
    );
  }
  if (args.every((a) => a.includes('/'))) return args.map((a) => ({ type: a.slice(0, a.indexOf('/')), names: [a.slice(a.indexOf('/') + 1)] }));
  if (args.some((a) => a.includes('/'))) {
    throw new CliError(
      "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'flotctl get resource/<resource_name>' instead of 'flotctl get resource resource/<resource_name>'",
    );
  }
  if (args.length === 1) throw new CliError('resource(s) were provided, but no name was specified');
  return [{ type: args[0]!, names: args.slice(1) }];
}

async function exposeOne(session: Session, opts: ExposeOptions, ref: ResourceRef, name: string, dryRun: DryRun): Promise<void> {
  const obj = await session.client.requestJson<Workload>('GET', resourcePath(ref, session.namespace, name));
  checkExposable(ref);
  let selector: Record<string, string>;
  if (opts.selector) selector = parseLabelSpec(opts.selector);
  else {
    try {
      selector = selectorForObject(ref.kind, obj);
    } catch (e) {
      throw new CliError(`couldn't retrieve selectors via --selector flag or introspection: ${(e as Error).message}`);
    }
  }
  let ports = opts.port ? opts.port.split(',') : [];
  const found = portsForObject(ref.kind, obj);
  if (ports.length === 0) {
    ports = found.map((f) => f.port);
    if (ports.length === 0 && opts.clusterIp !== 'None') throw new UsageError("couldn't find port via --port flag or introspection", 'expose');
  }
  const svc = buildService({
    // kubectl cuts a default name to a DNS-1035 label's 63 characters
    name: opts.name || (obj.metadata.name || name).slice(0, 63),
    ports,
    protocols: new Map(found.map((f) => [f.port, f.protocols])),
    protocol: opts.protocol,
    targetPort: opts.targetPort,
    selector,
    labels: opts.labels ? parseLabelSpec(opts.labels) : obj.metadata.labels,
    type: opts.type,
    clusterIP: opts.clusterIp,
    sessionAffinity: opts.sessionAffinity,
    // kubectl writes the namespace into a client dry run only when -n named it
    namespace: dryRun === 'client' && !session.namespaceExplicit ? undefined : session.namespace,
  });
  if (dryRun === 'client') return printResult(session, opts.output, svc, dryRun);
  const services = await session.resources.forArg('services');
  const created = await session.client.requestJson<Service>('POST', resourcePath(services, session.namespace), {
    body: { ...svc, metadata: withoutNullTimestamp(svc.metadata) },
    query: dryRun === 'server' ? { dryRun: 'All' } : undefined,
  });
  printResult(session, opts.output, { ...created, apiVersion: created.apiVersion ?? 'v1', kind: created.kind ?? 'Service' }, dryRun);
}

export async function runExpose(session: Session, opts: ExposeOptions, args: string[]): Promise<number> {
  const dryRun = parseDryRun(opts.dryRun);
  const format = parseOutputFormat(opts.output);
  if (opts.output !== undefined && (format === undefined || format === 'wide' || format === 'table')) {
    throw new UsageError(`unable to match a printer suitable for the output format "${opts.output}", allowed formats are: json,name,yaml`, 'expose');
  }
  for (const t of targetsOf(args)) {
    const ref = await session.resources.forArg(t.type);
    for (const name of t.names) await exposeOne(session, opts, ref, name, dryRun);
  }
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('expose')
      .description('put a Service in front of a deployment, replica set, pod or service: expose deploy web --port 80')
      .argument('[args...]', 'TYPE NAME or TYPE/NAME')
      .option('--port <port>', 'the port the Service serves on (default: the ports of the exposed object)')
      .option('--target-port <port>', "the port or the port name on the pods (default: the Service's port)")
      .option('--name <name>', "the Service's name (default: the exposed object's)")
      .option('--type <type>', 'ClusterIP, NodePort, LoadBalancer or ExternalName (default ClusterIP)')
      .option('--protocol <protocol>', 'TCP, UDP or SCTP (default: the exposed ports\', else TCP)')
      .option('--selector <selector>', "the pods' labels, k=v,… (default: the exposed object's selector)")
      .option('-l, --labels <labels>', "the Service's labels, k=v,… (default: the exposed object's)")
      .option('--cluster-ip <ip>', 'an address from the service CIDR, or None for a headless Service')
      .option('--session-affinity <affinity>', 'None or ClientIP')
      .option('--dry-run <strategy>', 'none, client (print what would be sent) or server (validated, not stored)')
      .option('-o, --output <format>', 'yaml, json or name'),
  ).action(action<ExposeOptions>(env, (s, o, a) => runExpose(s, o, a)));
}
