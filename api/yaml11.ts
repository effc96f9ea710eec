// YAML decoding as kubectl and kube-apiserver do it, so one file means the same
// thing to `flotctl apply` and `kubectl apply`. Both decode YAML with
// sigs.k8s.io/yaml on go-yaml v2: YAML 1.1 resolution of plain scalars (`yes`
// is true, `010` is 8), then a conversion to JSON (map keys become strings,
// NaN/Inf are refused). The `yaml` package only parses here (failsafe schema:
// every scalar stays the text it was written as); resolving scalars, aliases
// and merge keys is done below, the way go-yaml v2's resolve.go and decode.go
// do it. Each rule was checked against `kubectl annotate --local -o json`
// (kubectl 1.33), see test/unit/yaml-parity.test.ts.
import { createRequire } from 'node:module';
import type { Alias, Document, LineCounter, Node as YamlNode, Scalar, YAMLMap, YAMLSeq } from 'yaml';

type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | undefined;
/** The YAML parser, loaded on first use: the node agent imports api/ but never parses YAML (it would cost the agent several MB). */
export function yamlLib(): YamlModule {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as YamlModule);
}

/** A document's content cannot be turned into JSON; `offset` is where in the text. */
export class YamlValueError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

export interface YamlStream {
  /** Every document, syntax errors in `doc.errors` (empty files give none). */
  documents: Document.Parsed[];
  /** 1-based line and column of a text offset. */
  position(offset: number): { line: number; col: number };
}

/**
 * Parses a multi-document stream without resolving any scalar: the failsafe
 * schema keeps `010` as the text "010" so yamlToJson can resolve it as go-yaml
 * v2 does. Duplicate keys are left to yamlToJson too: `1` and `01` are the
 * same key once resolved.
 */
export function parseYamlStream(text: string): YamlStream {
  const { LineCounter: Counter, parseAllDocuments } = yamlLib();
  const lineCounter: LineCounter = new Counter();
  const docs = parseAllDocuments(text, {
    schema: 'failsafe',
    // !!binary, !!set, !!timestamp… stay text and plain collections here: resolved below as go-yaml v2 does
    resolveKnownTags: false,
    uniqueKeys: false,
    prettyErrors: false,
    lineCounter,
  }) as unknown;
  return {
    // an EmptyStream (nothing but comments and whitespace) is not an array
    documents: Array.isArray(docs) ? (docs as Document.Parsed[]) : [],
    position: (offset) => lineCounter.linePos(offset),
  };
}

/** The JSON value of one parsed document, as sigs.k8s.io/yaml's YAMLToJSON gives it. Throws YamlValueError. */
export function yamlToJson(doc: Document.Parsed): unknown {
  const contents = doc.contents as YamlNode | null;
  if (contents === null) return null;
  return new Decoder(aliasTargets(doc), contents.range?.[0] ?? 0).value(contents);
}

const TAG = 'tag:yaml.org,2002:';
const STR = `${TAG}str`;
const BOOL = `${TAG}bool`;
const INT = `${TAG}int`;
const FLOAT = `${TAG}float`;
const NULL = `${TAG}null`;
const TIMESTAMP = `${TAG}timestamp`;
const BINARY = `${TAG}binary`;
const MERGE = `${TAG}merge`;
/** Tags go-yaml v2 resolves a scalar against; any other tag (`!foo`, `!!map` on a scalar) leaves the text a string. */
const RESOLVABLE = new Set(['', STR, BOOL, INT, FLOAT, NULL, TIMESTAMP]);

type Resolved =
  | { kind: 'null'; value: null }
  | { kind: 'bool'; value: boolean }
  | { kind: 'int' | 'uint'; value: bigint }
  | { kind: 'float'; value: number }
  | { kind: 'str' | 'timestamp'; value: string };

const str = (value: string): Resolved => ({ kind: 'str', value });
const float = (value: number): Resolved => ({ kind: 'float', value });

/** go-yaml v2's table of words (YAML 1.1 bool/null/float spellings, exactly these case variants: `yEs` is a string). */
const WORDS = new Map<string, Resolved>();
for (const w of ['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']) WORDS.set(w, { kind: 'bool', value: true });
for (const w of ['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']) WORDS.set(w, { kind: 'bool', value: false });
for (const w of ['', '~', 'null', 'Null', 'NULL']) WORDS.set(w, { kind: 'null', value: null });
for (const w of ['.nan', '.NaN', '.NAN']) WORDS.set(w, float(NaN));
for (const w of ['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF']) WORDS.set(w, float(Infinity));
for (const w of ['-.inf', '-.Inf', '-.INF']) WORDS.set(w, float(-Infinity));

/** go-yaml v2 looks at a scalar's first character before trying anything: only these can be more than a string. */
function hintOf(text: string): 'word' | 'number' | 'dot' | undefined {
  if (text === '') return 'word';
  const c = text[0]!;
  if ('yYnNtTfFoO~'.includes(c)) return 'word';
  if (c === '.') return 'dot';
  if (c === '+' || c === '-' || (c >= '0' && c <= '9')) return 'number';
  return undefined;
}

/** yamlStyleFloat of resolve.go: a decimal float, no hex floats, no `inf`. */
const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
/** What Go's strconv.ParseFloat accepts for text starting with `.` (underscores only between digits). */
const DOT_FLOAT = /^\.[0-9](_?[0-9])*([eE][-+]?[0-9](_?[0-9])*)?$/;
const UINT64_MAX = 2n ** 64n - 1n;
const INT64_LIMIT = 2n ** 63n;
const DIGITS: Record<number, RegExp> = { 2: /^[01]*$/, 8: /^[0-7]*$/, 10: /^[0-9]*$/, 16: /^[0-9a-fA-F]*$/ };
const PREFIX: Record<number, string> = { 2: '0b', 8: '0o', 10: '', 16: '0x' };

/** Go's strconv.ParseUint(s, base, 64); base 0 reads a 0b/0o/0x or a bare leading-0 (octal) prefix. */
function goParseUint(s: string, base: number): bigint | undefined {
  if (s === '') return undefined;
  if (base === 0) {
    base = 10;
    if (s[0] === '0') {
      const p = s.length >= 3 ? s[1]!.toLowerCase() : '';
      base = p === 'b' ? 2 : p === 'o' ? 8 : p === 'x' ? 16 : 8;
      s = s.slice(p === 'b' || p === 'o' || p === 'x' ? 2 : 1);
    }
  }
  if (!DIGITS[base]!.test(s)) return undefined;
  const v = s === '' ? 0n : BigInt(PREFIX[base] + s);
  return v <= UINT64_MAX ? v : undefined;
}

/** Go's strconv.ParseInt(s, base, 64): an optional sign, then ParseUint, then the int64 range. */
function goParseInt(s: string, base: number): bigint | undefined {
  const neg = s.startsWith('-');
  const u = goParseUint(neg || s.startsWith('+') ? s.slice(1) : s, base);
  if (u === undefined) return undefined;
  if (neg) return u <= INT64_LIMIT ? -u : undefined;
  return u < INT64_LIMIT ? u : undefined;
}

/** Number-like text, in resolve.go's order: int64, uint64, decimal float, then its odd `0b` fallback. */
function resolveNumber(text: string): Resolved | undefined {
  // underscores are dropped anywhere (`1__0` is 10, `1_` is 1), as go-yaml v2 does
  const plain = text.replace(/_/g, '');
  const int = goParseInt(plain, 0);
  if (int !== undefined) return { kind: 'int', value: int };
  const uint = goParseUint(plain, 0);
  if (uint !== undefined) return { kind: 'uint', value: uint };
  if (YAML_STYLE_FLOAT.test(plain)) {
    // `08` is no octal number but is the float 8; out-of-range (1e400) stays a string as ParseFloat fails
    const f = Number(plain);
    if (Number.isFinite(f)) return float(f);
  }
  // resolve.go parses what follows `0b` with a sign allowed, so `0b-101` is -5
  if (plain.startsWith('0b')) {
    const b = goParseInt(plain.slice(2), 2) ?? goParseUint(plain.slice(2), 2);
    if (b !== undefined) return { kind: b < INT64_LIMIT ? 'int' : 'uint', value: b };
  }
  return undefined;
}

const TIMESTAMP_RE = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?$/;

/**
 * go-yaml v2's timestamp layouts (2006-1-2, with `T`/`t` and a zone or with a
 * space and none) with time.Parse's range checks. Only `!!timestamp` needs it:
 * decoded into JSON a timestamp stays the text as written, like any string.
 */
function isTimestamp(text: string): boolean {
  const m = TIMESTAMP_RE.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, min, s] = [Number(m[4] ?? m[7] ?? 0), Number(m[5] ?? m[8] ?? 0), Number(m[6] ?? m[9] ?? 0)];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && h < 24 && min < 60 && s < 60;
}

function tagOfKind(kind: Resolved['kind']): string {
  return kind === 'uint' ? INT : kind === 'str' ? STR : `${TAG}${kind}`;
}

const shortTag = (tag: string): string => (tag.startsWith(TAG) ? `!!${tag.slice(TAG.length)}` : tag);

/** resolve.go's resolve(): what a scalar means, given its explicit tag ('' for a plain untagged one). */
function resolveScalar(text: string, tag: string): Resolved {
  const hint = hintOf(text);
  let r: Resolved = str(text);
  if (hint !== undefined && tag !== STR) {
    const word = WORDS.get(text);
    if (word) r = word;
    else if (hint === 'dot') {
      const f = DOT_FLOAT.test(text) ? Number(text.replace(/_/g, '')) : NaN;
      if (Number.isFinite(f)) r = float(f);
    } else if (hint === 'number') {
      if (tag === TIMESTAMP && isTimestamp(text)) r = { kind: 'timestamp', value: text };
      else r = resolveNumber(text) ?? r;
    }
  }
  if (tag === '' || tag === STR || tag === tagOfKind(r.kind)) return r;
  if (tag === FLOAT && r.kind === 'int') return float(Number(r.value));
  throw new Error(`cannot decode ${shortTag(tagOfKind(r.kind))} \`${text}\` as a ${shortTag(tag)}`);
}

/** A `!!binary` scalar: base64 (Go's StdEncoding: padded, line breaks ignored) decoded to a string. */
function decodeBinary(text: string): Resolved {
  const b64 = text.replace(/[\r\n]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64)) {
    throw new Error('!!binary value contains invalid base64 data');
  }
  return str(Buffer.from(b64, 'base64').toString('utf8'));
}

/** A scalar node's meaning: quoted and block scalars are strings unless tagged. */
function scalarOf(node: Scalar): Resolved {
  const tag = node.tag ?? '';
  const text = String(node.value);
  if (tag === BINARY) return decodeBinary(text);
  if (!RESOLVABLE.has(tag)) return str(text);
  if (tag === '' && node.type !== 'PLAIN') return str(text);
  return resolveScalar(text, tag);
}

/** json.Marshal refuses NaN and ±Inf, so kubectl refuses `.inf` and `.nan` values. */
function jsonValue(r: Resolved): unknown {
  if (r.kind === 'int' || r.kind === 'uint') return Number(r.value);
  if (r.kind === 'float' && !Number.isFinite(r.value)) {
    throw new Error(`json: unsupported value: ${Number.isNaN(r.value) ? 'NaN' : r.value > 0 ? '+Inf' : '-Inf'}`);
  }
  return r.value;
}

/**
 * A float map key as sigs.k8s.io/yaml writes it: strconv.FormatFloat(f, 'g',
 * -1, 32), the shortest digits that read back as the same float32, in
 * exponent form below 1e-4 or from 1e6 up (`1e+06`, `1.5e-05`).
 */
export function goFloat32Key(x: number): string {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return '.nan';
  if (f === Infinity) return '.inf';
  if (f === -Infinity) return '-.inf';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  let p = 1;
  while (p < 9 && Math.fround(Number(f.toPrecision(p))) !== f) p++;
  const [mant, expText] = Math.abs(f).toExponential(p - 1).split('e') as [string, string];
  const digits = mant.replace('.', '');
  const exp = Number(expText);
  const sign = f < 0 ? '-' : '';
  if (exp < -4 || exp >= 6) {
    const e = Math.abs(exp);
    return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  const point = exp + 1;
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** A map key as sigs.k8s.io/yaml turns it into a JSON object key. */
function keyString(r: Resolved): string {
  switch (r.kind) {
    case 'str':
    case 'timestamp':
      return r.value;
    case 'int':
      return r.value.toString();
    case 'bool':
      return String(r.value);
    case 'float':
      return goFloat32Key(r.value);
    case 'uint':
      throw new Error(`unsupported map key of type: uint64, key: ${r.value}`);
    case 'null':
      throw new Error('unsupported map key of type: null');
  }
}

/** The node each alias names: the latest anchor of that name before it in the text (later anchors do not count). */
function aliasTargets(doc: Document.Parsed): Map<Alias, YamlNode> {
  const { visit, isAlias } = yamlLib();
  const anchors = new Map<string, YamlNode>();
  const targets = new Map<Alias, YamlNode>();
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target) targets.set(node, target);
    } else if (node && typeof node === 'object' && 'anchor' in node && typeof node.anchor === 'string') {
      // registered before the node's children are visited, so `&x [*x]` names itself (and fails as circular)
      anchors.set(node.anchor, node as YamlNode);
    }
  });
  return targets;
}

/**
 * go-yaml v2's guard against alias bombs (billion laughs): once past 1000
 * nodes and 100 alias-driven ones, alias expansion may make at most 99% of the
 * nodes decoded, falling to 10% for documents of millions of nodes.
 */
function allowedAliasRatio(decoded: number): number {
  const low = 400_000;
  const high = 4_000_000;
  if (decoded <= low) return 0.99;
  if (decoded >= high) return 0.1;
  return 0.99 - 0.89 * ((decoded - low) / (high - low));
}

const offsetOf = (node: YamlNode | null | undefined, fallback: number): number => node?.range?.[0] ?? fallback;

function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  // an own property, never the prototype: `__proto__: {...}` must not change what every lookup sees
  if (key === '__proto__') Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
  else out[key] = value;
}

/** Walks one document's nodes the way go-yaml v2's decoder does into interface{}, building the JSON value. */
class Decoder {
  private decoded = 0;
  private aliasDecoded = 0;
  private aliasDepth = 0;
  /** Collections being decoded: an alias to one of them would expand forever. */
  private readonly open = new Set<YamlNode>();
  private readonly lib = yamlLib();

  constructor(
    private readonly targets: Map<Alias, YamlNode>,
    private readonly start: number,
  ) {}

  value(node: YamlNode | null): unknown {
    if (node === null) return null; // `? key` with no value
    this.count();
    const { isAlias, isScalar, isMap, isSeq } = this.lib;
    if (isAlias(node)) return this.throughAlias(node, (target) => this.value(target));
    if (isScalar(node)) return this.at(node, () => jsonValue(scalarOf(node)));
    if (isMap(node)) return this.inside(node, () => this.mapInto(node, {}));
    if (isSeq(node)) return this.inside(node, () => (node as YAMLSeq<YamlNode>).items.map((item) => this.value(item)));
    throw new YamlValueError(offsetOf(node, this.start), 'unexpected YAML node');
  }

  private count(): void {
    this.decoded++;
    if (this.aliasDepth > 0) this.aliasDecoded++;
    if (this.aliasDecoded > 100 && this.decoded > 1000 && this.aliasDecoded / this.decoded > allowedAliasRatio(this.decoded)) {
      // reported at the document's start: no single alias is to blame
      throw new YamlValueError(this.start, 'Excessive alias count: the document contains excessive aliasing (an alias bomb?)');
    }
  }

  /** Turns a plain Error of a scalar rule into a YamlValueError at the node. */
  private at<T>(node: YamlNode | null, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof YamlValueError) throw e;
      throw new YamlValueError(offsetOf(node, this.start), (e as Error).message);
    }
  }

  private inside<T>(node: YamlNode, fn: () => T): T {
    this.open.add(node);
    try {
      return fn();
    } finally {
      this.open.delete(node);
    }
  }

  private throughAlias<T>(alias: Alias, fn: (target: YamlNode) => T): T {
    const target = this.targets.get(alias);
    const where = offsetOf(alias, this.start);
    if (!target) throw new YamlValueError(where, `unknown anchor '${alias.source}' referenced`);
    if (this.open.has(target)) throw new YamlValueError(where, `anchor '${alias.source}' value contains itself`);
    this.aliasDepth++;
    try {
      return fn(target);
    } finally {
      this.aliasDepth--;
    }
  }

  /**
   * A mapping's pairs in order. A merge key (`<<`) copies the merged maps in
   * at its place, so it overrides keys before it and later keys override it,
   * as in go-yaml v2. Repeated keys are refused, compared after resolution
   * (`1` and `01` are one key): kubectl would keep the last silently, but
   * kube-apiserver's strict field validation (kubectl's default) refuses them.
   */
  private mapInto(node: YAMLMap, out: Record<string, unknown>): Record<string, unknown> {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null;
      const valueNode = pair.value as YamlNode | null;
      if (this.isMergeKey(keyNode)) {
        this.merge(valueNode, out, offsetOf(keyNode, this.start));
        continue;
      }
      const key = this.key(keyNode, offsetOf(node, this.start));
      if (seen.has(key)) throw new YamlValueError(offsetOf(keyNode, this.start), 'Map keys must be unique');
      seen.add(key);
      setKey(out, key, this.value(valueNode));
    }
    return out;
  }

  private isMergeKey(node: YamlNode | null): boolean {
    if (!this.lib.isScalar(node) || node.value !== '<<') return false;
    return node.tag === MERGE || (node.tag === undefined && node.type === 'PLAIN');
  }

  private key(node: YamlNode | null, fallback: number): string {
    const { isAlias, isScalar } = this.lib;
    if (node === null) throw new YamlValueError(fallback, 'unsupported map key of type: null');
    this.count();
    if (isAlias(node)) return this.throughAlias(node, (target) => this.key(target, offsetOf(node, fallback)));
    if (!isScalar(node)) throw new YamlValueError(offsetOf(node, fallback), `invalid map key: a ${this.lib.isMap(node) ? 'mapping' : 'sequence'}`);
    return this.at(node, () => keyString(scalarOf(node)));
  }

  /** The value of a merge key: a mapping, an alias to one, or a list of those (earlier ones win). */
  private merge(node: YamlNode | null, out: Record<string, unknown>, keyAt: number): void {
    const { isAlias, isMap, isSeq } = this.lib;
    const fail = (n: YamlNode | null): never => {
      throw new YamlValueError(offsetOf(n, keyAt), 'map merge requires map or sequence of maps as the value');
    };
    const mergeOne = (n: YamlNode | null): void => {
      if (isAlias(n)) {
        const target = this.targets.get(n);
        if (target && !isMap(target)) fail(n);
        this.count();
        this.throughAlias(n, (t) => this.inside(t, () => this.mapInto(t as YAMLMap, out)));
      } else if (isMap(n)) {
        this.count();
        this.inside(n, () => this.mapInto(n, out));
      } else {
        fail(n);
      }
    };
    if (isSeq(node)) {
      const items = (node as YAMLSeq<YamlNode>).items;
      for (let i = items.length - 1; i >= 0; i--) mergeOne(items[i]!);
    } else {
      mergeOne(node);
    }
  }
}
