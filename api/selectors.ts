// Label and field selectors, parsed once and matched against many objects
// (label selectors live in label-selector.ts and are re-exported here).
//   labels:  app=web,tier!=db,env in (prod,staging),!canary,release
//   fields:  metadata.name=web,spec.nodeName!=
import { BadRequestError } from './errors.js';
import { isPlainObject } from './helpers.js';
import type { KubeObject } from './meta.js';
import { labelKeyErrors, labelValueErrors } from './validation-rules.js';
import { REGISTRY } from './kinds/index.js';
import { fieldPath, type FieldGetter } from './kind.js';

export * from './label-selector.js';
import { labelSelectorMatches, parseLabelSelector } from './label-selector.js';
import { cutValue } from './quote.js';

// ---------------------------------------------------------------- field selectors

export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

export interface ParsedFieldSelector {
  requirements: FieldRequirement[];
}

const META_FIELDS: Record<string, FieldGetter> = {
  'metadata.name': fieldPath('metadata', 'name'),
  'metadata.namespace': fieldPath('metadata', 'namespace'),
};

/** The field labels of a kind (its descriptor's plus metadata.name/namespace), with how to read them. */
export function fieldLabelsOf(kind: string): Readonly<Record<string, FieldGetter>> {
  const cached = labelCache.get(kind);
  if (cached) return cached;
  const d = REGISTRY.all().find((k) => k.kind === kind);
  const labels = Object.freeze({ ...META_FIELDS, ...(d?.fieldLabels ?? {}) });
  labelCache.set(kind, labels);
  return labels;
}
const labelCache = new Map<string, Readonly<Record<string, FieldGetter>>>();

/** Splits on an unescaped separator; `\` escapes the next character. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

function unescapeFieldValue(s: string, whole: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      const n = s[i + 1];
      if (n === undefined || !['\\', ',', '=', '!'].includes(n)) {
        throw new BadRequestError(`invalid field selector "${cutValue(whole)}": invalid escape sequence`);
      }
      out += n;
      i++;
    } else if (c === ',' || c === '=' || c === '!') {
      throw new BadRequestError(`invalid field selector "${cutValue(whole)}": unescaped ${c} in value`);
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * Parses `field=value,field!=value` (`==` too; `\` escapes `,` `=` `!` `\` in
 * values). With `kind`, fields that kind does not support throw BadRequestError
 * `field label not supported: foo`.
 */
export function parseFieldSelector(s: string, kind?: string): ParsedFieldSelector {
  const requirements: FieldRequirement[] = [];
  if (s.trim() === '') return { requirements };
  for (const part of splitUnescaped(s, ',')) {
    const term = part.trim();
    if (term === '') throw new BadRequestError(`invalid field selector "${cutValue(s)}": empty requirement`);
    const m = /^([^=!]*?)\s*(!=|==|=)\s*(.*)$/s.exec(term);
    if (!m) throw new BadRequestError(`invalid selector: '${cutValue(term)}'; can't understand '${cutValue(term)}'`);
    const field = m[1]!.trim();
    if (field === '') throw new BadRequestError(`invalid field selector "${cutValue(s)}": missing field name`);
    const operator = m[2] === '!=' ? '!=' : '=';
    const value = unescapeFieldValue(m[3]!, s);
    requirements.push({ field, operator, value });
  }
  const sel = { requirements };
  if (kind !== undefined) checkFieldSelector(sel, kind);
  return sel;
}

/** Throws BadRequestError `field label not supported: foo` for a field `kind` lacks. */
export function checkFieldSelector(sel: ParsedFieldSelector, kind: string): void {
  const labels = fieldLabelsOf(kind);
  for (const r of sel.requirements) {
    if (!Object.prototype.hasOwnProperty.call(labels, r.field)) throw new BadRequestError(`field label not supported: ${cutValue(r.field)}`);
  }
}

/**
 * True when `obj` satisfies every requirement. The kind is `kind` or obj.kind;
 * throws BadRequestError for a field that kind does not support.
 */
export function fieldSelectorMatches(sel: ParsedFieldSelector, obj: KubeObject | Record<string, unknown>, kind?: string): boolean {
  const o = obj as Record<string, unknown>;
  const k = kind ?? (typeof o.kind === 'string' ? o.kind : '');
  const labels = fieldLabelsOf(k);
  for (const r of sel.requirements) {
    const getter = labels[r.field];
    if (!getter) throw new BadRequestError(`field label not supported: ${cutValue(r.field)}`);
    const v = getter(o);
    if (r.operator === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** The selector in string form, values escaped. */
export function formatFieldSelector(sel: ParsedFieldSelector): string {
  return sel.requirements.map((r) => `${r.field}${r.operator}${r.value.replace(/[\\,=!]/g, (c) => `\\${c}`)}`).join(',');
}

/**
 * Compiles optional label and field selector strings into one predicate, as a
 * list or watch filter. Throws BadRequestError for bad syntax or unsupported fields.
 */
export function compileSelectors(
  kind: string,
  opts: { labelSelector?: string | undefined; fieldSelector?: string | undefined },
): ((obj: KubeObject) => boolean) | undefined {
  const ls = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined;
  const fs = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector, kind) : undefined;
  const hasLabels = ls !== undefined && ls.requirements.length > 0;
  const hasFields = fs !== undefined && fs.requirements.length > 0;
  if (!hasLabels && !hasFields) return undefined;
  return (obj) =>
    (!hasLabels || labelSelectorMatches(ls!, obj.metadata?.labels)) && (!hasFields || fieldSelectorMatches(fs!, obj, kind));
}
