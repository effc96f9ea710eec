// One printer for every kind: the server's Table objects (`kubectl get`) and
// `flotctl get` both print a kind's columns from its descriptor (api/kinds/).
import type { ColumnDefinition } from '../kind.js';
import type { KubeObject } from '../meta.js';
import { kindOf } from '../resources.js';
import { REGISTRY } from '../kinds/index.js';
import { DEFAULT_PRINTER } from '../kinds/common.js';
import type { KindDescriptor, Printer } from '../kind.js';

export interface PrintedTable {
  columns: readonly ColumnDefinition[];
  rows: unknown[][];
}

/** The printer of a kind (by descriptor, kind name or object); NAME and AGE for unknown kinds. */
export function printerFor(kind: KindDescriptor | string | undefined): Printer {
  if (kind === undefined) return DEFAULT_PRINTER;
  if (typeof kind !== 'string') return kind.printer;
  return REGISTRY.all().find((k) => k.kind === kind)?.printer ?? DEFAULT_PRINTER;
}

/** The columns and cells of `objects` of one kind at `nowMs`. */
export function printObjects(kind: KindDescriptor | string | undefined, objects: readonly KubeObject[], nowMs: number): PrintedTable {
  const p = printerFor(kind ?? (objects[0] ? kindOf(objects[0]) : undefined));
  return { columns: p.columns, rows: objects.map((o) => p.cells(o as unknown as Record<string, unknown>, nowMs)) };
}

/** A cell as text, as kubectl prints Table cells (numbers bare, missing as empty). */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** kubectl's header for a column: its name in upper case. */
export function columnHeader(c: ColumnDefinition): string {
  return c.name.toUpperCase();
}
