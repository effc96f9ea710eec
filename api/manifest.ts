// Manifest decoding for the CLI (`apply -f`) and YAML request bodies: multi-
// document YAML or JSON, each document with the line it starts on, errors as
// `file.yaml:3:7: what is wrong`. Kind-agnostic: whether a kind is registered
// is the caller's question (resourceForObject).
import type { Node as YamlNode } from 'yaml';
import { BadRequestError } from './errors.js';
import { isPlainObject } from './helpers.js';
import type { KubeObject } from './meta.js';
import { parseYamlStream, yamlLib, yamlToJson, YamlValueError } from './yaml11.js';

export interface DecodedManifest {
  /** The decoded object; apiVersion and kind are non-empty strings. */
  object: KubeObject & { apiVersion: string; kind: string } & Record<string, unknown>;
  /** Where it came from (a file name, `-` for stdin, `request body`). */
  source: string;
  /** 1-based line where the object's content starts. */
  line: number;
  /** 0-based index of the YAML document in the stream. */
  document: number;
}

/** Thrown for a manifest that cannot be decoded; message `source:line:col: what is wrong`. */
export class ManifestError extends BadRequestError {
  readonly source: string;
  readonly line: number;
  readonly column: number | undefined;
  constructor(source: string, line: number, column: number | undefined, what: string) {
    super(`${source}:${line}${column === undefined ? '' : `:${column}`}: ${what}`);
    this.source = source;
    this.line = line;
    this.column = column;
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

/**
 * Decodes every document of `text`. Empty documents are skipped; `List`
 * documents (kind `List` or `*List` with items) expand to their items.
 * Throws ManifestError (a BadRequestError) naming source, line and column.
 */
export function decodeManifests(text: string, source: string): DecodedManifest[] {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  if (/^\s*[[{]/.test(text)) return decodeJson(text, source);
  // YAML as kubectl reads it (YAML 1.1 scalars, go-yaml v2 aliases and merges): see yaml11.ts
  const { documents, position: lineOf } = parseYamlStream(text);
  const { isMap, isSeq } = yamlLib();
  const out: DecodedManifest[] = [];
  // every document is decoded before any is returned: an error anywhere means nothing is applied
  documents.forEach((doc, index) => {
    const err = doc.errors[0];
    if (err) {
      const { line, col } = lineOf(err.pos[0]);
      throw new ManifestError(source, line, col, err.message);
    }
    if (doc.contents === null) return;
    const contents = doc.contents as YamlNode;
    const start = contents.range ? lineOf(contents.range[0]) : { line: 1, col: 1 };
    let value: unknown;
    try {
      value = yamlToJson(doc);
    } catch (e) {
      if (!(e instanceof YamlValueError)) throw e;
      const at = lineOf(e.offset);
      throw new ManifestError(source, at.line, at.col, e.message);
    }
    if (value === null || value === undefined) return;
    const itemNodes = isMap(contents) ? contents.get('items', true) : undefined;
    pushExpanded(out, value, source, start.line, index, (i) => {
      const node = isSeq(itemNodes) ? (itemNodes.items[i] as YamlNode | undefined) : undefined;
      return node?.range ? lineOf(node.range[0]).line : start.line;
    });
  });
  return out;
}

/** Adds one decoded document, or the items of a List document. */
function pushExpanded(
  out: DecodedManifest[],
  value: unknown,
  source: string,
  line: number,
  document: number,
  itemLine: (i: number) => number,
): void {
  const obj = requireObject(value, source, line);
  const kind = obj.kind as string;
  if (kind === 'List' || (kind.endsWith('List') && Array.isArray(obj.items))) {
    const items = obj.items;
    if (!Array.isArray(items)) throw new ManifestError(source, line, undefined, `${kind} has no "items" list`);
    items.forEach((item, i) => {
      const l = itemLine(i);
      out.push({ object: requireObject(item, source, l), source, line: l, document });
    });
    return;
  }
  out.push({ object: obj, source, line, document });
}

/**
 * JSON text (first character `{` or `[`) is parsed as JSON, not YAML: YAML would
 * accept `{"kind": }` as a null kind. Errors carry a line and column.
 */
function decodeJson(text: string, source: string): DecodedManifest[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const { pos, what } = locateJsonError(text);
    const before = text.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - before.lastIndexOf('\n');
    throw new ManifestError(source, line, col, what);
  }
  const start = text.length - text.trimStart().length;
  const line = text.slice(0, start).split('\n').length;
  const out: DecodedManifest[] = [];
  pushExpanded(out, value, source, line, 0, () => line);
  return out;
}

/** Finds where and why `text` is not JSON (JSON.parse's messages carry no position on Node 20). */
export function locateJsonError(text: string): { pos: number; what: string } {
  let i = 0;
  class Fail {
    constructor(readonly pos: number, readonly what: string) {}
  }
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const found = (): string => (i >= text.length ? 'end of input' : `'${text[i]}'`);
  const expect = (what: string): never => {
    throw new Fail(i, `unexpected ${found()}, expected ${what}`);
  };
  const str = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) throw new Fail(i, 'unterminated string');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const n = text[i + 1];
        if (n === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new Fail(i, 'invalid unicode escape in string');
          i += 6;
        } else if (n !== undefined && '"\\/bfnrt'.includes(n)) {
          i += 2;
        } else {
          throw new Fail(i, 'invalid escape in string');
        }
      } else if (c < ' ') {
        throw new Fail(i, 'control character in string');
      } else {
        i++;
      }
    }
  };
  const value = (depth: number): void => {
    if (depth > 1000) throw new Fail(i, 'nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') expect('a string key');
        str();
        ws();
        if (text[i] !== ':') expect("':' after key");
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        expect("',' or '}' after property value");
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        expect("',' or ']' after array element");
      }
    } else if (c === '"') {
      str();
    } else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
      if (!m) expect('a value');
      i += m![0].length;
    }
  };
  try {
    value(0);
    ws();
    if (i < text.length) expect('end of input');
  } catch (e) {
    if (e instanceof Fail) return { pos: e.pos, what: e.what };
    throw e;
  }
  return { pos: 0, what: 'invalid JSON' };
}

/**
 * Decodes a body that must hold exactly one object (a YAML request body).
 * Throws BadRequestError when it holds none or several.
 */
export function decodeSingleManifest(text: string, source: string): DecodedManifest {
  const all = decodeManifests(text, source);
  if (all.length === 0) throw new BadRequestError(`${source}: no object found`);
  if (all.length > 1) throw new BadRequestError(`${source}:${all[1]!.line}: expected one object, found ${all.length}`);
  return all[0]!;
}

function requireObject(value: unknown, source: string, line: number): DecodedManifest['object'] {
  if (!isPlainObject(value)) {
    throw new ManifestError(source, line, undefined, `a manifest must be a mapping, not ${describeValue(value)}`);
  }
  const missing: string[] = [];
  if (typeof value.apiVersion !== 'string' || value.apiVersion === '') missing.push('apiVersion');
  if (typeof value.kind !== 'string' || value.kind === '') missing.push('kind');
  if (missing.length > 0) {
    throw new ManifestError(source, line, undefined, `${missing.map((m) => `"${m}"`).join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set`);
  }
  if (value.metadata !== undefined && !isPlainObject(value.metadata)) {
    throw new ManifestError(source, line, undefined, `"metadata" must be a mapping, not ${describeValue(value.metadata)}`);
  }
  if (value.metadata === undefined) value.metadata = {};
  return value as DecodedManifest['object'];
}
