// The `get` columns of each kind come from its descriptor in api/kinds/ — the
// same printer the server's Tables use, so `flotctl get` and `kubectl get`
// print the same columns and cells. `-o wide` adds the priority-1 columns.
import { cellText, columnHeader, printObjects, type KubeObject } from '../../api/index.js';

export { eventLastSeen, eventObject, nodeRoles, nodeStatus, podReady, podRestarts, podStatusReason } from '../../api/index.js';

export interface PrintOptions {
  wide: boolean;
  /** Add a NAMESPACE column first (get -A). */
  withNamespace: boolean;
  now: number;
}

/** Header and rows for a list of objects of one kind. */
export function tableFor(kind: string, objects: KubeObject[], opts: PrintOptions): { header: string[]; rows: string[][] } {
  const printed = printObjects(kind, objects, opts.now);
  const keep = printed.columns.map((c) => opts.wide || c.priority === 0);
  const header = printed.columns.filter((_, i) => keep[i]).map(columnHeader);
  const rows = printed.rows.map((cells) => cells.filter((_, i) => keep[i]).map(cellText));
  if (opts.withNamespace) {
    return { header: ['NAMESPACE', ...header], rows: rows.map((r, i) => [objects[i]!.metadata.namespace ?? '', ...r]) };
  }
  return { header, rows };
}
