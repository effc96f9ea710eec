// YAML parity with kubectl: the same file must mean the same to `flotctl apply`
// (api decodeManifests) and to a YAML request body (the API server's body
// parse) as to kubectl, which reads YAML with sigs.k8s.io/yaml on go-yaml v2
// (YAML 1.1). Every expected value below is what kubectl 1.33 produced for the
// snippet (`kubectl annotate --local -o json`), and the last suite checks the
// table against that kubectl again.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestError, decodeManifests, ManifestError } from '../../api/index.js';
import { goFloat32Key } from '../../api/yaml11.js';
import { parseObjectBody } from '../../controller/apiserver/body.js';

const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';

/** A ConfigMap with the snippet under `extra:`; the snippet's first line is line 6, its text starts at column 3. */
function manifest(snippet: string, name = 'x'): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\nextra:\n${snippet
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
}

/** [what, snippet under `extra:`, the JSON kubectl sends for `extra`]. */
const DECODES: [string, string, unknown][] = [
  ['YAML 1.1 booleans in go-yaml v2 spellings', 'a: yes\nb: Yes\nc: YES\nd: y\ne: Y\nf: on\ng: On\nh: ON\ni: True\nj: TRUE', { a: true, b: true, c: true, d: true, e: true, f: true, g: true, h: true, i: true, j: true }],
  ['YAML 1.1 false words', 'a: no\nb: No\nc: NO\nd: n\ne: N\nf: off\ng: Off\nh: OFF\ni: False', { a: false, b: false, c: false, d: false, e: false, f: false, g: false, h: false, i: false }],
  ['mixed-case words that go-yaml v2 leaves strings', 'a: yEs\nb: tRUE\nc: nULL\nd: NaN\ne: oN', { a: 'yEs', b: 'tRUE', c: 'nULL', d: 'NaN', e: 'oN' }],
  ['nulls', 'a: ~\nb: null\nc: Null\nd: NULL\ne:', { a: null, b: null, c: null, d: null, e: null }],
  ['octal with a leading 0 or 0o', 'a: 010\nb: -010\nc: 0o17\nd: 0O17\ne: 0\nf: 00', { a: 8, b: -8, c: 15, d: 15, e: 0, f: 0 }],
  ['hex and binary', 'a: 0x1F\nb: 0X1f\nc: -0x1F\nd: 0b101\ne: 0B11\nf: +0b11\ng: -0b11\nh: 0b-101', { a: 31, b: 31, c: -31, d: 5, e: 3, f: 3, g: -3, h: -5 }],
  ['underscores, dropped wherever they are', 'a: 1_000\nb: 1__0\nc: 1_\nd: 0x_1F\ne: 0.1_5\nf: .5_5\ng: 1_0.5\nh: _1', { a: 1000, b: 10, c: 1, d: 31, e: 0.15, f: 0.55, g: 10.5, h: '_1' }],
  ['signs and floats', 'a: +12\nb: 1e3\nc: .5\nd: 1.\ne: +.5\nf: 1.5e+3\ng: 08\nh: 09.5', { a: 12, b: 1000, c: 0.5, d: 1, e: 0.5, f: 1500, g: 8, h: 9.5 }],
  ['integers past int64', 'a: 18446744073709551615\nb: 9223372036854775808\nc: -9223372036854775809', { a: 18446744073709551615, b: 9223372036854775808, c: -9223372036854775809 }],
  ['numbers go-yaml v2 does not read', 'a: 1e400\nb: 0x1p3\nc: 0x\nd: 0o\ne: +\nf: 1.2.3\ng: .\nh: ~x', { a: '1e400', b: '0x1p3', c: '0x', d: '0o', e: '+', f: '1.2.3', g: '.', h: '~x' }],
  // YAML 1.1 sexagesimal (1:20 = 80) was dropped by go-yaml v2 on purpose: a string
  ['sexagesimal numbers stay strings', 'a: 1:20\nb: 12:30:45\nc: -1:30', { a: '1:20', b: '12:30:45', c: '-1:30' }],
  // go-yaml v2 resolves timestamps, but decoded into interface{} gives back the text
  ['timestamps stay the text as written', 'a: 2002-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10\nd: !!timestamp 2001-12-14', { a: '2002-12-14', b: '2001-12-14t21:59:43.10-05:00', c: '2001-12-14 21:59:43.10', d: '2001-12-14' }],
  ['quoted and block scalars are strings', 'a: "yes"\nb: \'010\'\nc: |\n  on\nd: >-\n  0x1F\ne: <<', { a: 'yes', b: '010', c: 'on\n', d: '0x1F', e: '<<' }],
  ['explicit tags', 'a: !!str 010\nb: !!int "10"\nc: !!float 1\nd: !!float "1e3"\ne: !!bool "yes"\nf: !!null ""\ng: !!binary aGVsbG8=\nh: !!str yes', { a: '010', b: 10, c: 1, d: 1000, e: true, f: null, g: 'hello', h: 'yes' }],
  ['unknown tags leave the text or the collection as it is', 'a: !custom x\nb: !custom 10\nc: !custom {k: 1}\nd: ! 10\ne: !!set {p, q}\nf: !!omap [p: 1, q: 2]', { a: 'x', b: '10', c: { k: 1 }, d: '10', e: { p: null, q: null }, f: [{ p: 1 }, { q: 2 }] }],
  [
    'map keys turned into JSON keys (floats as float32 %g)',
    '1: a\nyes: b\n1.5: c\n010: d\n1e3: e\n0.1: f\n1e6: g\n1234567: h\n3.14159265358979: i\n1.5e-5: j\n.inf: k\n-.inf: l\n.nan: m\n123456.7: n\n2002-12-14: o',
    { '1': 'a', true: 'b', '1.5': 'c', '8': 'd', '1000': 'e', '0.1': 'f', '1e+06': 'g', '1234567': 'h', '3.1415927': 'i', '1.5e-05': 'j', '.inf': 'k', '-.inf': 'l', '.nan': 'm', '123456.7': false, '2002-12-14': 'o' },
  ],
  ['an anchor reused', 'a: &x {p: 1, q: [on]}\nb: *x\nc: [*x, *x]', { a: { p: 1, q: [true] }, b: { p: 1, q: [true] }, c: [{ p: 1, q: [true] }, { p: 1, q: [true] }] }],
  ['an anchor redefined: an alias names the latest before it', 'a: &x 1\nb: *x\nc: &x 2\nd: *x', { a: 1, b: 1, c: 2, d: 2 }],
  ['a merge key, overridden by keys after it', 'm: &m {a: 1, b: 2}\nr:\n  <<: *m\n  b: 3', { m: { a: 1, b: 2 }, r: { a: 1, b: 3 } }],
  ['a merge key overrides keys before it', 'm: &m {a: 1, b: 2}\nr:\n  b: 3\n  <<: *m', { m: { a: 1, b: 2 }, r: { a: 1, b: 2 } }],
  ['a merge of several maps: earlier ones win', 'm: &m {a: 1, b: 2}\no: &o {a: 9, c: 4}\nr:\n  <<: [*m, *o]\n  d: 3', { m: { a: 1, b: 2 }, o: { a: 9, c: 4 }, r: { a: 1, b: 2, c: 4, d: 3 } }],
  ['inline and repeated merge keys', 'r:\n  <<: {a: 1}\n  <<: {a: 2, b: 3}', { r: { a: 2, b: 3 } }],
  ['a quoted "<<" is an ordinary key', 'r:\n  "<<": {a: 1}', { r: { '<<': { a: 1 } } }],
];

/** [what, snippet, flotctl's error after `pod.yaml:`, what kubectl's error says]. */
const REFUSES: [string, string, string, string][] = [
  ['.inf, which JSON cannot hold', 'a: .inf', '6:6: json: unsupported value: +Inf', 'json: unsupported value: +Inf'],
  ['-.Inf', 'a: -.Inf', '6:6: json: unsupported value: -Inf', 'json: unsupported value: -Inf'],
  ['.NaN', 'a: .NaN', '6:6: json: unsupported value: NaN', 'json: unsupported value: NaN'],
  ['!!float .inf', 'a: !!float .inf', '6:14: json: unsupported value: +Inf', 'json: unsupported value: +Inf'],
  ['a sequence that contains itself', 'a: &x [*x]', "6:10: anchor 'x' value contains itself", "anchor 'x' value contains itself"],
  ['a mapping that contains itself', 'a: &x {b: *x}', "6:13: anchor 'x' value contains itself", "anchor 'x' value contains itself"],
  ['an alias to an ancestor', 'a: &top\n  b:\n    c: [1, *top]', "8:14: anchor 'top' value contains itself", "anchor 'top' value contains itself"],
  ['a merge of the map itself', 'a: &m\n  b: 1\n  <<: *m', "8:9: anchor 'm' value contains itself", "anchor 'm' value contains itself"],
  ['an unknown alias', 'a: *nope', "6:6: unknown anchor 'nope' referenced", "unknown anchor 'nope' referenced"],
  ['an alias before its anchor', 'a: *x\nb: &x 1', "6:6: unknown anchor 'x' referenced", "unknown anchor 'x' referenced"],
  ['a merge of a scalar', 'r:\n  <<: 1', '7:9: map merge requires map or sequence of maps as the value', 'map merge requires map or sequence of maps as the value'],
  ['a merge of a list holding a scalar', 'r:\n  <<: [{a: 1}, 2]', '7:18: map merge requires map or sequence of maps as the value', 'map merge requires map or sequence of maps as the value'],
  ['a null key', '~: a', '6:3: unsupported map key of type: null', 'unsupported map key of type'],
  ['a key past int64', '18446744073709551615: a', '6:3: unsupported map key of type: uint64, key: 18446744073709551615', 'unsupported map key of type: uint64'],
  ['a sequence as a key', '? [a, b]\n: c', '6:5: invalid map key: a sequence', 'invalid map key'],
  ['bad base64 in !!binary', 'a: !!binary "aGVsbG8"', '6:15: !!binary value contains invalid base64 data', '!!binary value contains invalid base64 data'],
  ['!!int on a word', 'a: !!int abc', '6:12: cannot decode !!str `abc` as a !!int', 'cannot decode !!str `abc` as a !!int'],
  ['!!timestamp on a number', 'a: !!timestamp 123', '6:18: cannot decode !!int `123` as a !!timestamp', 'cannot decode !!int `123` as a !!timestamp'],
  ['!!timestamp on a 13th month', 'a: !!timestamp 2001-13-14', '6:18: cannot decode !!str `2001-13-14` as a !!timestamp', 'cannot decode !!str `2001-13-14` as a !!timestamp'],
  ['!!null on a word', 'a: !!null x', '6:13: cannot decode !!str `x` as a !!null', 'cannot decode !!str `x` as a !!null'],
  ['!!float past uint64', 'a: !!float 18446744073709551615', '6:14: cannot decode !!int `18446744073709551615` as a !!float', 'cannot decode !!int `18446744073709551615` as a !!float'],
];

/** A billion-laughs document: ten levels of ten aliases each. */
function aliasBomb(levels = 10): string {
  const lines = ['l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < levels; i++) lines.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
  return lines.join('\n');
}

function decodeExtra(snippet: string): unknown {
  const [doc] = decodeManifests(manifest(snippet), 'pod.yaml');
  return (doc!.object as Record<string, unknown>).extra;
}

function bodyExtra(snippet: string): unknown {
  const body = parseObjectBody('application/yaml', Buffer.from(manifest(snippet))) as Record<string, unknown>;
  return body.extra;
}

function manifestError(text: string): string {
  try {
    decodeManifests(text, 'pod.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return (e as Error).message;
  }
  throw new Error('decoded without an error');
}

function bodyError(text: string): string {
  try {
    parseObjectBody('application/yaml', Buffer.from(text));
  } catch (e) {
    expect(e).toBeInstanceOf(BadRequestError);
    return (e as Error).message;
  }
  throw new Error('parsed without an error');
}

describe('[api] YAML decoded as kubectl decodes it', () => {
  it.each(DECODES)('%s (flotctl apply)', (_what, snippet, json) => {
    expect(decodeExtra(snippet)).toStrictEqual(json);
  });

  it.each(DECODES)('%s (a YAML request body)', (_what, snippet, json) => {
    expect(bodyExtra(snippet)).toStrictEqual(json);
  });

  it.each(REFUSES)('refuses %s with file:line:col', (_what, snippet, message) => {
    expect(manifestError(manifest(snippet))).toBe(`pod.yaml:${message}`);
  });

  it.each(REFUSES)('refuses %s in a request body with line and column', (_what, snippet, message) => {
    const [, line, col, what] = /^(\d+):(\d+): (.*)$/.exec(message)!;
    expect(bodyError(manifest(snippet))).toBe(`the request body is not valid YAML (line ${line}, column ${col}): ${what}`);
  });

  it('makes the values of a Pod what kubectl sends: hostNetwork: yes is true, containerPort: 010 is 8, name: no is false', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: no\nspec:\n  hostNetwork: yes\n  containers:\n  - name: web\n    image: nginx\n    ports:\n    - containerPort: 010\n      hostPort: 0x50\n';
    const [pod] = decodeManifests(text, 'pod.yaml');
    expect(pod!.object).toStrictEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: false },
      spec: { hostNetwork: true, containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 8, hostPort: 80 }] }] },
    });
  });

  it('keeps a __proto__ key an own property, never the prototype', () => {
    const extra = decodeExtra('__proto__: {polluted: yes}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(extra)).toBe(Object.prototype);
    expect(Object.keys(extra)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a key repeated after resolution (1 and 01, yes and true), where kube-apiserver strict validation would', () => {
    expect(manifestError(manifest('1: a\n01: b'))).toBe('pod.yaml:7:3: Map keys must be unique');
    expect(manifestError(manifest('yes: a\n"true": b'))).toBe('pod.yaml:7:3: Map keys must be unique');
    // a key that came in through a merge is not a repeat
    expect(decodeExtra('m: &m {a: 1}\nr: {<<: *m, a: 2}')).toStrictEqual({ m: { a: 1 }, r: { a: 2 } });
  });

  it('refuses an alias bomb quickly, and still decodes an anchor used hundreds of times', () => {
    const started = Date.now();
    expect(manifestError(manifest(aliasBomb()))).toBe('pod.yaml:1:1: Excessive alias count: the document contains excessive aliasing (an alias bomb?)');
    expect(bodyError(manifest(aliasBomb()))).toBe(
      'the request body is not valid YAML (line 1, column 1): Excessive alias count: the document contains excessive aliasing (an alias bomb?)',
    );
    expect(Date.now() - started).toBeLessThan(2000);
    const reused = `env: &env [{name: A, value: "1"}, {name: B, value: "2"}]\nlist:\n${Array.from({ length: 500 }, () => '  - *env').join('\n')}`;
    const extra = decodeExtra(reused) as { list: unknown[] };
    expect(extra.list).toHaveLength(500);
    expect(extra.list[499]).toStrictEqual([{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);
  });

  it('copies an aliased value: changing one use does not change the others', () => {
    const extra = decodeExtra('a: &x {p: 1}\nb: *x') as { a: { p: number }; b: { p: number } };
    extra.b.p = 2;
    expect(extra.a.p).toBe(1);
  });

  it('decodes nothing when any document of a stream has a syntax error', () => {
    const text = `${manifest('a: 1', 'first')}---\n${manifest('a: [1, 2', 'second')}`;
    expect(manifestError(text)).toMatch(/^pod\.yaml:1[0-9]:\d+: /);
  });

  it('formats float map keys as Go FormatFloat(f, g, -1, 32) does', () => {
    expect([0.1, 1e6, 123456, 1.5e-5, 1e-4, 3.14159265358979, -2.5, 1e39, 100, 0].map(goFloat32Key)).toEqual([
      '0.1',
      '1e+06',
      '123456',
      '1.5e-05',
      '0.0001',
      '3.1415927',
      '-2.5',
      '.inf',
      '100',
      '0',
    ]);
  });
});

function kubectl(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // --local: no server is asked; KUBECONFIG points nowhere so no real cluster can be reached
    execFile(KUBECTL, ['annotate', '--local', '-f', file, 'flotilla/parity=1', '-o', 'json'], { env: { PATH: process.env.PATH, KUBECONFIG: '/dev/null', HOME: tmpdir() }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('[api] the table above, checked against kubectl 1.33 itself', () => {
  let dir: string;
  beforeAll(() => {
    if (!existsSync(KUBECTL)) throw new Error(`yaml parity needs ${KUBECTL}: run hack/deps.sh first`);
    dir = mkdtempSync(join(tmpdir(), 'yaml-parity-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('kubectl decodes every snippet of the table to the same JSON as flotctl', async () => {
    // one stream, one document per case: one kubectl run for all of them
    const file = join(dir, 'decodes.yaml');
    writeFileSync(file, DECODES.map(([, snippet], i) => manifest(snippet, `case-${i}`)).join('---\n'));
    const r = await kubectl(file);
    expect(r.stderr).toBe('');
    const objects = JSON.parse(`[${r.stdout.replace(/^}\n{/gm, '},{')}]`) as { metadata: { name: string }; extra: unknown }[];
    const byCase = objects.map((o) => [o.metadata.name, o.extra]);
    expect(byCase).toStrictEqual(DECODES.map(([, snippet], i) => [`case-${i}`, decodeExtra(snippet)]));
  }, 60_000);

  it('kubectl refuses every snippet flotctl refuses, for the same reason', async () => {
    const cases = [...REFUSES.map(([, snippet, , says]) => [snippet, says] as const), [aliasBomb(), 'excessive aliasing'] as const];
    const results: Awaited<ReturnType<typeof kubectl>>[] = [];
    // four at a time: the machine is shared
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4).map(([snippet], j) => {
        const file = join(dir, `refuse-${i + j}.yaml`);
        writeFileSync(file, manifest(snippet));
        return kubectl(file);
      });
      results.push(...(await Promise.all(batch)));
    }
    results.forEach((r, i) => {
      expect({ snippet: cases[i]![0].slice(0, 80), code: r.code }).toStrictEqual({ snippet: cases[i]![0].slice(0, 80), code: 1 });
      expect(r.stderr).toContain(cases[i]![1]);
    });
  }, 120_000);
});
