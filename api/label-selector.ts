// Label selectors, parsed once and matched against many objects:
//   app=web,tier!=db,env in (prod,staging),!canary,release
// and the LabelSelector object of workloads. Imports nothing of the kinds, so
// descriptors use it (api/selectors.ts re-exports it beside field selectors).
import { BadRequestError } from './errors.js';
import { isPlainObject } from './helpers.js';
import { labelKeyErrors, labelValueErrors } from './validation-rules.js';
import { cutValue, quoteValue } from './quote.js';

// ---------------------------------------------------------------- label selectors

export type LabelOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

/** A parsed label selector: all requirements must hold. Empty matches everything. */
export interface ParsedLabelSelector {
  requirements: LabelRequirement[];
  /** True for a selector built from a LabelSelector object that cannot match (never for strings). */
  matchesNothing?: boolean;
}

/** The API object form (`spec.selector` of workloads). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

type Tok =
  | { t: 'id'; v: string; pos: number }
  | { t: 'op'; v: '=' | '==' | '!=' | '!' | '>' | '<' | ',' | '(' | ')'; pos: number }
  | { t: 'end'; pos: number };

const SPECIAL = new Set([' ', '\t', '\n', ',', '=', '!', '(', ')', '<', '>']);

function lexLabels(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    if (c === '=' && s[i + 1] === '=') {
      out.push({ t: 'op', v: '==', pos: i });
      i += 2;
    } else if (c === '!' && s[i + 1] === '=') {
      out.push({ t: 'op', v: '!=', pos: i });
      i += 2;
    } else if (SPECIAL.has(c)) {
      out.push({ t: 'op', v: c as '=', pos: i });
      i++;
    } else {
      const start = i;
      while (i < s.length && !SPECIAL.has(s[i]!)) i++;
      out.push({ t: 'id', v: s.slice(start, i), pos: start });
    }
  }
  out.push({ t: 'end', pos: s.length });
  return out;
}

function labelSelectorError(s: string, what: string): BadRequestError {
  return new BadRequestError(`unable to parse label selector "${cutValue(s)}": ${what}`);
}

function describeTok(t: Tok): string {
  return t.t === 'end' ? 'end of string' : `'${t.v}'`;
}

/**
 * Parses a label selector string. Throws BadRequestError
 * `unable to parse label selector "…": …` on bad syntax or invalid keys/values.
 */
export function parseLabelSelector(s: string): ParsedLabelSelector {
  const toks = lexLabels(s);
  let p = 0;
  const peek = (): Tok => toks[p]!;
  const next = (): Tok => toks[p++]!;
  const requirements: LabelRequirement[] = [];
  if (peek().t === 'end') return { requirements };
  for (;;) {
    let tok = next();
    let negated = false;
    if (tok.t === 'op' && tok.v === '!') {
      negated = true;
      tok = next();
    }
    if (tok.t !== 'id') throw labelSelectorError(s, `found ${describeTok(tok)}, expected a label key`);
    const key = tok.v;
    const keyErr = labelKeyErrors(key)[0];
    if (keyErr) throw labelSelectorError(s, `invalid label key "${cutValue(key)}": ${keyErr}`);
    const after = peek();
    if (negated) {
      requirements.push({ key, operator: 'DoesNotExist', values: [] });
    } else if (after.t === 'end' || (after.t === 'op' && after.v === ',')) {
      requirements.push({ key, operator: 'Exists', values: [] });
    } else if (after.t === 'op' && (after.v === '=' || after.v === '==' || after.v === '!=')) {
      next();
      const v = peek();
      let value = '';
      if (v.t === 'id') {
        value = v.v;
        next();
      } else if (!(v.t === 'end' || (v.t === 'op' && v.v === ','))) {
        throw labelSelectorError(s, `found ${describeTok(v)}, expected a value`);
      }
      checkValue(s, value);
      requirements.push({ key, operator: after.v === '!=' ? 'NotIn' : 'In', values: [value] });
    } else if (after.t === 'op' && (after.v === '>' || after.v === '<')) {
      next();
      const v = next();
      if (v.t !== 'id' || !/^-?\d+$/.test(v.v)) throw labelSelectorError(s, `found ${describeTok(v)}, expected an integer`);
      requirements.push({ key, operator: after.v === '>' ? 'Gt' : 'Lt', values: [v.v] });
    } else if (after.t === 'id' && (after.v === 'in' || after.v === 'notin')) {
      next();
      const open = next();
      if (!(open.t === 'op' && open.v === '(')) throw labelSelectorError(s, `found ${describeTok(open)}, expected '('`);
      const values: string[] = [];
      const first = peek();
      if (first.t === 'op' && first.v === ')') throw labelSelectorError(s, "for 'in', 'notin' operators, values set can't be empty");
      for (;;) {
        const v = peek();
        if (v.t === 'id') {
          checkValue(s, v.v);
          values.push(v.v);
          next();
        } else if (v.t === 'op' && (v.v === ',' || v.v === ')')) {
          // an empty value between commas is the empty string, as in Kubernetes
          values.push('');
        } else {
          throw labelSelectorError(s, `found ${describeTok(v)}, expected a value`);
        }
        const sep = next();
        if (sep.t === 'op' && sep.v === ')') break;
        if (!(sep.t === 'op' && sep.v === ',')) throw labelSelectorError(s, `found ${describeTok(sep)}, expected ',' or ')'`);
      }
      requirements.push({ key, operator: after.v === 'in' ? 'In' : 'NotIn', values: [...new Set(values)].sort() });
    } else {
      throw labelSelectorError(s, `found ${describeTok(after)}, expected one of '=', '==', '!=', 'in', 'notin', ','`);
    }
    const sep = next();
    if (sep.t === 'end') break;
    if (!(sep.t === 'op' && sep.v === ',')) throw labelSelectorError(s, `found ${describeTok(sep)}, expected ','`);
    if (peek().t === 'end') throw labelSelectorError(s, "found end of string, expected a label key after ','");
  }
  return { requirements };
}

function checkValue(s: string, value: string): void {
  const err = labelValueErrors(value)[0];
  if (err) throw labelSelectorError(s, `invalid label value "${cutValue(value)}": ${err}`);
}

/**
 * Converts a LabelSelector object. An absent selector (undefined/null) matches
 * nothing, an empty one everything, as in Kubernetes. Throws BadRequestError
 * on an unknown operator or bad values.
 */
export function labelSelectorFromObject(sel: LabelSelector | null | undefined): ParsedLabelSelector {
  if (sel === null || sel === undefined) return { requirements: [], matchesNothing: true };
  const requirements: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    requirements.push({ key, operator: 'In', values: [String(value)] });
  }
  for (const e of sel.matchExpressions ?? []) {
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) throw new BadRequestError(`values: Required value: must be specified when \`operator\` is 'In' or 'NotIn'`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) throw new BadRequestError(`values: Forbidden: may not be specified when \`operator\` is 'Exists' or 'DoesNotExist'`);
        break;
      default:
        throw new BadRequestError(`${quoteValue((e as { operator?: unknown }).operator)} is not a valid label selector operator`);
    }
    requirements.push({ key: e.key, operator: e.operator, values: [...values] });
  }
  return { requirements };
}

function requirementMatches(r: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case 'In':
      return has && r.values.includes(v!);
    case 'NotIn':
      return !has || !r.values.includes(v!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || !/^-?\d+$/.test(v!)) return false;
      const a = BigInt(v!);
      const b = BigInt(r.values[0]!);
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** True when the labels satisfy every requirement of the selector. */
export function labelSelectorMatches(sel: ParsedLabelSelector, labels: Record<string, string> | undefined | null): boolean {
  if (sel.matchesNothing) return false;
  const l = isPlainObject(labels) ? (labels as Record<string, string>) : {};
  return sel.requirements.every((r) => requirementMatches(r, l));
}

/** The selector in string form (`app=web,tier notin (db)`), as kubectl prints it. */
export function formatLabelSelector(sel: ParsedLabelSelector): string {
  return sel.requirements
    .map((r) => {
      switch (r.operator) {
        case 'In':
          return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
        case 'NotIn':
          return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
        case 'Exists':
          return r.key;
        case 'DoesNotExist':
          return `!${r.key}`;
        case 'Gt':
          return `${r.key}>${r.values[0]}`;
        case 'Lt':
          return `${r.key}<${r.values[0]}`;
        default:
          return '';
      }
    })
    .join(',');
}

