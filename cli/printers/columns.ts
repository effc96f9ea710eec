// The `get` columns of each kind, as kubectl computes them. Pure functions of
// (object, now): table-tested in test/unit/cli-printers.test.ts.
import type { Event, KubeObject, Namespace, Node, Pod } from '../../api/index.js';
import { age, humanDuration } from './age.js';

export interface PrintOptions {
  wide: boolean;
  /** Add a NAMESPACE column first (get -A). */
  withNamespace: boolean;
  now: number;
}

export interface ColumnSet<T = KubeObject> {
  header(wide: boolean): string[];
  row(obj: T, opts: PrintOptions): string[];
}

/** The STATUS column of a pod, with kubectl's precedence of reasons. */
export function podStatusReason(pod: Pod): string {
  const status = pod.status ?? {};
  let reason: string = status.reason || status.phase || 'Pending';
  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  const initCount = pod.spec?.initContainers?.length ?? initStatuses.length;
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i]!;
    const t = c.state?.terminated;
    const w = c.state?.waiting;
    if (t && t.exitCode === 0) continue;
    initializing = true;
    if (t) {
      if (t.reason) reason = `Init:${t.reason}`;
      else if (t.signal) reason = `Init:Signal:${t.signal}`;
      else reason = `Init:ExitCode:${t.exitCode}`;
    } else if (w && w.reason && w.reason !== 'PodInitializing') {
      reason = `Init:${w.reason}`;
    } else {
      reason = `Init:${i}/${initCount}`;
    }
    break;
  }
  if (!initializing) {
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i]!;
      const w = c.state?.waiting;
      const t = c.state?.terminated;
      if (w?.reason) reason = w.reason;
      else if (t?.reason) reason = t.reason;
      else if (t) reason = t.signal ? `Signal:${t.signal}` : `ExitCode:${t.exitCode}`;
      else if (c.ready && c.state?.running) hasRunning = true;
    }
    if (reason === 'Completed' && hasRunning) {
      const ready = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      reason = ready ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata.deletionTimestamp) {
    reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  }
  return reason;
}

/** READY as `ready/total`. */
export function podReady(pod: Pod): string {
  const total = pod.spec?.containers?.length ?? 0;
  const ready = (pod.status?.containerStatuses ?? []).filter((c) => c.ready && c.state?.running).length;
  return `${ready}/${total}`;
}

/** RESTARTS as `3` or, when the last restart is known, `3 (2m ago)`. */
export function podRestarts(pod: Pod, now: number): string {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  let restarts = 0;
  let last: number | undefined;
  for (const c of statuses) {
    restarts += c.restartCount ?? 0;
    const finished = c.lastState?.terminated?.finishedAt;
    if (c.restartCount > 0 && finished) {
      const t = Date.parse(finished);
      if (!Number.isNaN(t) && (last === undefined || t > last)) last = t;
    }
  }
  return last === undefined ? String(restarts) : `${restarts} (${humanDuration(now - last)} ago)`;
}

export const podColumns: ColumnSet<Pod> = {
  header: (wide) => ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', ...(wide ? ['IP', 'NODE'] : [])],
  row(pod, opts) {
    const row = [pod.metadata.name ?? '', podReady(pod), podStatusReason(pod), podRestarts(pod, opts.now), age(pod.metadata.creationTimestamp, opts.now)];
    if (opts.wide) row.push(pod.status?.podIP || '<none>', pod.spec?.nodeName || '<none>');
    return row;
  },
};

/** STATUS of a node as kubectl prints it: Ready, NotReady (Ready False or Unknown), Unknown (no condition), plus SchedulingDisabled. */
export function nodeStatus(node: Node): string {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const parts = [!ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady'];
  if (node.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

/** ROLES from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels. */
export function nodeRoles(node: Node): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role !== '') roles.add(role);
    } else if (k === 'kubernetes.io/role' && v !== '') {
      roles.add(v);
    }
  }
  return roles.size === 0 ? '<none>' : [...roles].sort().join(',');
}

function nodeAddress(node: Node, type: string): string {
  return node.status?.addresses?.find((a) => a.type === type)?.address || '<none>';
}

export const nodeColumns: ColumnSet<Node> = {
  header: (wide) => ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', ...(wide ? ['INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME'] : [])],
  row(node, opts) {
    const info = node.status?.nodeInfo ?? {};
    const row = [node.metadata.name ?? '', nodeStatus(node), nodeRoles(node), age(node.metadata.creationTimestamp, opts.now), info.kubeletVersion || ''];
    if (opts.wide) {
      row.push(
        nodeAddress(node, 'InternalIP'),
        nodeAddress(node, 'ExternalIP'),
        info.osImage || '<unknown>',
        info.kernelVersion || '<unknown>',
        info.containerRuntimeVersion || '<unknown>',
      );
    }
    return row;
  },
};

export const namespaceColumns: ColumnSet<Namespace> = {
  header: () => ['NAME', 'STATUS', 'AGE'],
  row: (ns, opts) => [ns.metadata.name ?? '', ns.metadata.deletionTimestamp ? 'Terminating' : ns.status?.phase || 'Active', age(ns.metadata.creationTimestamp, opts.now)],
};

/** The most recent time an event was seen. */
export function eventLastSeen(ev: Event): string | undefined {
  return ev.lastTimestamp || ev.eventTime || ev.firstTimestamp || ev.metadata.creationTimestamp || undefined;
}

/** `pod/web` for an event's involvedObject. */
export function eventObject(ev: Event): string {
  const kind = (ev.involvedObject?.kind ?? '').toLowerCase();
  const name = ev.involvedObject?.name ?? '';
  return kind === '' ? name : `${kind}/${name}`;
}

export const eventColumns: ColumnSet<Event> = {
  header: (wide) => ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', ...(wide ? ['SUBOBJECT', 'SOURCE'] : []), 'MESSAGE', ...(wide ? ['FIRST SEEN', 'COUNT', 'NAME'] : [])],
  row(ev, opts) {
    const row = [age(eventLastSeen(ev), opts.now), ev.type ?? '', ev.reason ?? '', eventObject(ev)];
    if (opts.wide) {
      const src = [ev.source?.component || ev.reportingComponent, ev.source?.host].filter(Boolean).join(', ');
      row.push(ev.involvedObject?.fieldPath ?? '', src);
    }
    row.push((ev.message ?? '').trim().replace(/\n/g, ' '));
    if (opts.wide) row.push(age(ev.firstTimestamp || ev.eventTime || ev.metadata.creationTimestamp, opts.now), String(ev.count ?? 1), ev.metadata.name ?? '');
    return row;
  },
};

/** Any other kind: NAME and AGE, as kubectl shows objects it has no columns for. */
export const defaultColumns: ColumnSet = {
  header: () => ['NAME', 'AGE'],
  row: (obj, opts) => [obj.metadata.name ?? '', age(obj.metadata.creationTimestamp, opts.now)],
};

export function columnsForKind(kind: string): ColumnSet {
  switch (kind) {
    case 'Pod':
      return podColumns as ColumnSet;
    case 'Node':
      return nodeColumns as ColumnSet;
    case 'Namespace':
      return namespaceColumns as ColumnSet;
    case 'Event':
      return eventColumns as unknown as ColumnSet;
    default:
      return defaultColumns;
  }
}

/** Header and rows for a list of objects of one kind. */
export function tableFor(kind: string, objects: KubeObject[], opts: PrintOptions): { header: string[]; rows: string[][] } {
  const cols = columnsForKind(kind);
  const header = cols.header(opts.wide);
  const rows = objects.map((o) => cols.row(o, opts));
  if (opts.withNamespace) {
    return { header: ['NAMESPACE', ...header], rows: rows.map((r, i) => [objects[i]!.metadata.namespace ?? '', ...r]) };
  }
  return { header, rows };
}
