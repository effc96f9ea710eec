// The meta.k8s.io/v1 Table format kubectl asks for first (`Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io`), with kubectl's columns.
import { printObjects, type ColumnDefinition, type KubeObject } from '../../api/index.js';

export type { ColumnDefinition };

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

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

/** A Table of `objects` of `kind`, with the columns of its descriptor (the ones flotctl prints). */
export function toTable(
  kind: string,
  objects: KubeObject[],
  opts: { resourceVersion?: string; nowMs: number; includeObject?: IncludeObject; withColumns?: boolean },
): Table {
  const printed = printObjects(kind, objects, opts.nowMs);
  const include = opts.includeObject ?? 'Metadata';
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {},
    columnDefinitions: opts.withColumns === false ? [] : [...printed.columns],
    rows: objects.map((o, i) => {
      const row: TableRow = { cells: printed.rows[i]! };
      const obj = rowObject(o, include);
      if (obj !== undefined) row.object = obj;
      return row;
    }),
  };
}
