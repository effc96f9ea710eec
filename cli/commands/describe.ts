// flotctl describe TYPE [NAME...] | TYPE/NAME: the object in kubectl's layout,
// with its Events (found by an involvedObject field selector).
import type { Command } from 'commander';
import { workloadSelectorText, type ConfigMap, type CronJob, type DaemonSet, type Deployment, type EndpointSlice, type Endpoints, type Event, type Job, type KubeList, type KubeObject, type Namespace, type Node, type Pod, type ReplicaSet, type Secret, type Service } from '../../api/index.js';
import { action, reportError, type CliEnv } from '../command.js';
import { ApiStatusError } from '../errors.js';
import { describeConfigMap, describeGeneric, describeNamespace, describeNode, describePod, describeSecret } from '../printers/describe.js';
import { describeEndpointSlice, describeEndpoints, describeService } from '../printers/describe-services.js';
import { describeCronJob, describeDaemonSet, describeDeployment, describeJob, describeReplicaSet, isControlledBy } from '../printers/describe-workloads.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import { addGlobalFlags, type Session } from '../session.js';
import { parseGetArgs } from './get.js';

interface DescribeOptions {
  selector?: string;
  allNamespaces?: boolean;
}

/** The events about one object, oldest first; an error listing them leaves the section empty. */
export async function eventsFor(session: Session, obj: KubeObject, kind: string): Promise<Event[]> {
  const events = await session.resources.forArg('events').catch(() => undefined);
  if (!events) return [];
  const selectors = [`involvedObject.name=${obj.metadata.name}`, `involvedObject.kind=${kind}`];
  if (obj.metadata.namespace) selectors.push(`involvedObject.namespace=${obj.metadata.namespace}`);
  if (obj.metadata.uid) selectors.push(`involvedObject.uid=${obj.metadata.uid}`);
  try {
    const list = await session.client.requestJson<KubeList<Event>>('GET', resourcePath(events, obj.metadata.namespace || undefined), {
      query: { fieldSelector: selectors.join(',') },
    });
    return list.items ?? [];
  } catch (e) {
    if (e instanceof ApiStatusError) return [];
    throw e;
  }
}

/**
 * The objects of `resource` in the owner's namespace that match its selector
 * and name it as their controller; empty when listing fails, so the describer
 * still prints the owner (kubectl does the same with a failed pod list).
 */
async function controlledObjects<T extends KubeObject>(session: Session, resource: string, owner: KubeObject & { spec?: { selector?: unknown } }): Promise<T[]> {
  const selector = workloadSelectorText(owner.spec?.selector);
  if (selector === '<none>' || selector === '<invalid>') return [];
  try {
    const ref = await session.resources.forArg(resource);
    const list = await session.client.requestJson<KubeList<T>>('GET', resourcePath(ref, owner.metadata.namespace), { query: { labelSelector: selector } });
    return (list.items ?? []).filter((o) => isControlledBy(o, owner));
  } catch (e) {
    if (e instanceof ApiStatusError) return [];
    throw e;
  }
}

/** A Service's EndpointSlices (labelled with its name), as kubectl 1.33 reads them; none when listing fails. */
async function serviceSlices(session: Session, svc: KubeObject): Promise<EndpointSlice[]> {
  try {
    const ref = await session.resources.forKind('discovery.k8s.io/v1', 'EndpointSlice');
    if (!ref) return [];
    const list = await session.client.requestJson<KubeList<EndpointSlice>>('GET', resourcePath(ref, svc.metadata.namespace), {
      query: { labelSelector: `kubernetes.io/service-name=${svc.metadata.name}` },
    });
    return list.items ?? [];
  } catch (e) {
    if (e instanceof ApiStatusError) return [];
    throw e;
  }
}

async function describeOne(session: Session, ref: ResourceRef, obj: KubeObject): Promise<string> {
  const now = session.now();
  switch (ref.kind) {
    case 'Pod':
      return describePod(obj as Pod, await eventsFor(session, obj, 'Pod'), now);
    case 'Node': {
      const pods = await session.client
        .requestJson<KubeList<Pod>>('GET', '/api/v1/pods', { query: { fieldSelector: `spec.nodeName=${obj.metadata.name}` } })
        .then((l) => (l.items ?? []).filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed'))
        .catch(() => [] as Pod[]);
      return describeNode(obj as Node, await eventsFor(session, obj, 'Node'), now, pods);
    }
    case 'Namespace':
      return describeNamespace(obj as Namespace, [], now);
    case 'ConfigMap':
      return describeConfigMap(obj as ConfigMap, await eventsFor(session, obj, 'ConfigMap'), now);
    case 'Secret':
      return describeSecret(obj as Secret, await eventsFor(session, obj, 'Secret'), now);
    case 'Deployment': {
      // every ReplicaSet the Deployment controls; the printer picks the new and the old ones
      const sets = await controlledObjects<ReplicaSet>(session, 'replicasets', obj);
      return describeDeployment(obj as Deployment, sets, await eventsFor(session, obj, 'Deployment'), now);
    }
    case 'ReplicaSet':
      return describeReplicaSet(obj as ReplicaSet, await controlledObjects<Pod>(session, 'pods', obj), await eventsFor(session, obj, 'ReplicaSet'), now);
    case 'DaemonSet':
      return describeDaemonSet(obj as DaemonSet, await controlledObjects<Pod>(session, 'pods', obj), await eventsFor(session, obj, 'DaemonSet'), now);
    case 'Job':
      return describeJob(obj as Job, await eventsFor(session, obj, 'Job'), now);
    case 'CronJob':
      return describeCronJob(obj as CronJob, await eventsFor(session, obj, 'CronJob'), now);
    case 'Service':
      return describeService(obj as Service, await serviceSlices(session, obj), await eventsFor(session, obj, 'Service'), now);
    case 'Endpoints':
      return describeEndpoints(obj as Endpoints, await eventsFor(session, obj, 'Endpoints'), now);
    case 'EndpointSlice':
      return describeEndpointSlice(obj as EndpointSlice, await eventsFor(session, obj, 'EndpointSlice'), now);
    default:
      return describeGeneric(obj, await eventsFor(session, obj, ref.kind), now);
  }
}

export async function runDescribe(session: Session, opts: DescribeOptions, args: string[]): Promise<number> {
  const targets = parseGetArgs(args, 'describe');
  let failed = false;
  let first = true;
  for (const t of targets) {
    const ref = await session.resources.forArg(t.type);
    const ns = ref.namespaced ? (opts.allNamespaces && t.names.length === 0 ? undefined : session.namespace) : undefined;
    let objects: KubeObject[] = [];
    if (t.names.length === 0) {
      const list = await session.client.requestJson<KubeList>('GET', resourcePath(ref, ns), { query: { labelSelector: opts.selector } });
      objects = list.items ?? [];
      if (objects.length === 0) {
        session.io.err(ref.namespaced && !opts.allNamespaces ? `No resources found in ${session.namespace} namespace.\n` : 'No resources found\n');
      }
    } else {
      for (const name of t.names) {
        try {
          objects.push(await session.client.requestJson<KubeObject>('GET', resourcePath(ref, ns, name)));
        } catch (e) {
          if (!(e instanceof ApiStatusError)) throw e;
          failed = true;
          reportError(session.io, e);
        }
      }
    }
    for (const obj of objects) {
      if (!first) session.io.out('\n\n');
      session.io.out(await describeOne(session, ref, obj));
      first = false;
    }
  }
  return failed ? 1 : 0;
}

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(
    program
      .command('describe')
      .description('show objects in detail, with their events: describe pod web, describe nodes')
      .argument('[args...]', 'TYPE [NAME...] or TYPE/NAME')
      .option('-l, --selector <selector>', 'label selector')
      .option('-A, --all-namespaces', 'across all namespaces'),
  ).action(action<DescribeOptions>(env, (s, o, a) => runDescribe(s, o, a)));
}
