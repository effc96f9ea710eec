// The meta.k8s.io/v1 Table format kubectl asks for first (`Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io`), with kubectl's columns.
import { isTerminalPhase, type Event, type KubeObject, type Namespace, type Node, type Pod } from '../../api/index.js';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: unknown[];
  object?: unknown;
}

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string };
  columnDefinitions: ColumnDefinition[];
  rows: TableRow[];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** True when the Accept header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && !params.some((p) => p.startsWith('g=') && p !== 'g=meta.k8s.io');
  });
}

function col(name: string, type = 'string', priority = 0, format = '', description = ''): ColumnDefinition {
  return { name, type, format, description: description || name, priority };
}

/** Kubernetes' short age: 45s, 3m, 5h, 2d, 1y. */
export function shortAge(ts: string | undefined, nowMs: number): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((nowMs - Date.parse(ts)) / 1000));
  if (!Number.isFinite(s)) return '<unknown>';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

function podStatusText(p: Pod): string {
  let reason = p.status?.reason || p.status?.phase || 'Pending';
  for (const cs of p.status?.containerStatuses ?? []) {
    const w = cs.state?.waiting?.reason;
    const t = cs.state?.terminated;
    if (w) reason = w;
    else if (t) reason = t.reason || (t.signal ? `Signal:${t.signal}` : `ExitCode:${t.exitCode}`);
  }
  if (p.metadata.deletionTimestamp && !isTerminalPhase(p.status?.phase)) reason = 'Terminating';
  return reason;
}

interface Printer {
  columns: ColumnDefinition[];
  cells(obj: KubeObject, nowMs: number): unknown[];
}

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [
      col('Name', 'string', 0, 'name'),
      col('Ready'),
      col('Status'),
      col('Restarts', 'string'),
      col('Age'),
      col('IP', 'string', 1),
      col('Node', 'string', 1),
      col('Nominated Node', 'string', 1),
      col('Readiness Gates', 'string', 1),
    ],
    cells(o, now) {
      const p = o as Pod;
      const total = p.spec?.containers?.length ?? 0;
      const statuses = p.status?.containerStatuses ?? [];
      const ready = statuses.filter((c) => c.ready).length;
      const restarts = statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0);
      return [
        p.metadata.name,
        `${ready}/${total}`,
        podStatusText(p),
        String(restarts),
        shortAge(p.metadata.creationTimestamp, now),
        p.status?.podIP || '<none>',
        p.spec?.nodeName || '<none>',
        '<none>',
        '<none>',
      ];
    },
  },
  Node: {
    columns: [
      col('Name', 'string', 0, 'name'),
      col('Status'),
      col('Roles'),
      col('Age'),
      col('Version'),
      col('Internal-IP', 'string', 1),
      col('External-IP', 'string', 1),
      col('OS-Image', 'string', 1),
      col('Kernel-Version', 'string', 1),
      col('Container-Runtime', 'string', 1),
    ],
    cells(o, now) {
      const n = o as Node;
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
      let status = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
      if (n.spec?.unschedulable) status += ',SchedulingDisabled';
      const roles = Object.keys(n.metadata.labels ?? {})
        .filter((k) => k.startsWith('node-role.kubernetes.io/'))
        .map((k) => k.slice('node-role.kubernetes.io/'.length))
        .filter((r) => r !== '');
      const addr = (t: string) => n.status?.addresses?.find((a) => a.type === t)?.address ?? '<none>';
      const info = n.status?.nodeInfo;
      return [
        n.metadata.name,
        status,
        roles.length > 0 ? roles.sort().join(',') : '<none>',
        shortAge(n.metadata.creationTimestamp, now),
        info?.kubeletVersion ?? '',
        addr('InternalIP'),
        addr('ExternalIP'),
        info?.osImage ?? '<unknown>',
        info?.kernelVersion ?? '<unknown>',
        info?.containerRuntimeVersion ?? '<unknown>',
      ];
    },
  },
  Namespace: {
    columns: [col('Name', 'string', 0, 'name'), col('Status'), col('Age')],
    cells(o, now) {
      const ns = o as Namespace;
      return [ns.metadata.name, ns.status?.phase ?? 'Active', shortAge(ns.metadata.creationTimestamp, now)];
    },
  },
  Event: {
    columns: [
      col('Last Seen'),
      col('Type'),
      col('Reason'),
      col('Object'),
      col('Subobject', 'string', 1),
      col('Source', 'string', 1),
      col('Message'),
      col('First Seen', 'string', 1),
      col('Count', 'string', 1),
      col('Name', 'string', 1, 'name'),
    ],
    cells(o, now) {
      const e = o as Event;
      const last = e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
      const first = e.firstTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
      const ref = e.involvedObject ?? {};
      return [
        shortAge(last ?? undefined, now),
        e.type ?? '',
        e.reason ?? '',
        `${(ref.kind ?? '').toLowerCase()}/${ref.name ?? ''}`,
        ref.fieldPath ?? '',
        [e.source?.component, e.source?.host].filter(Boolean).join(', '),
        e.message ?? '',
        shortAge(first ?? undefined, now),
        String(e.count ?? 1),
        e.metadata.name,
      ];
    },
  },
};

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

/** A Table of `objects` of `kind`; without a printer for the kind, Name and Age. */
export function toTable(
  kind: string,
  objects: KubeObject[],
  opts: { resourceVersion?: string; nowMs: number; includeObject?: IncludeObject; withColumns?: boolean },
): Table {
  const printer: Printer = PRINTERS[kind] ?? {
    columns: [col('Name', 'string', 0, 'name'), col('Age')],
    cells: (o, now) => [o.metadata.name, shortAge(o.metadata.creationTimestamp, now)],
  };
  const include = opts.includeObject ?? 'Metadata';
  const table: Table = {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {},
    columnDefinitions: opts.withColumns === false ? [] : printer.columns,
    rows: objects.map((o) => {
      const row: TableRow = { cells: printer.cells(o, opts.nowMs) };
      const obj = rowObject(o, include);
      if (obj !== undefined) row.object = obj;
      return row;
    }),
  };
  return table;
}
