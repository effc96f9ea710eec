import { describe, expect, it } from 'vitest';
import { BadRequestError, decodeManifests, decodeSingleManifest, ManifestError } from '../../api/index.js';

const TWO_PODS = `# two pods
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx
---
apiVersion: v1
kind: Pod
metadata:
  name: db
spec:
  containers:
  - name: db
    image: redis
`;

function errorOf(text: string, source = 'pod.yaml'): string {
  try {
    decodeManifests(text, source);
    return '';
  } catch (e) {
    expect(e).toBeInstanceOf(BadRequestError);
    expect(e).toBeInstanceOf(ManifestError);
    return (e as Error).message;
  }
}

describe('[api] manifest decoding', () => {
  it('decodes every document with the line it starts on', () => {
    const docs = decodeManifests(TWO_PODS, 'pods.yaml');
    expect(docs.map((d) => [d.object.metadata.name, d.line, d.document, d.source])).toEqual([
      ['web', 2, 0, 'pods.yaml'],
      ['db', 11, 1, 'pods.yaml'],
    ]);
    expect(docs[0]!.object.spec).toEqual({ containers: [{ name: 'web', image: 'nginx' }] });
  });

  it('skips empty documents and comment-only files', () => {
    expect(decodeManifests('', 'a.yaml')).toEqual([]);
    expect(decodeManifests('# nothing here\n', 'a.yaml')).toEqual([]);
    expect(decodeManifests('---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n', 'a.yaml').map((d) => d.line)).toEqual([3]);
  });

  it('ignores a byte-order mark, in YAML and JSON', () => {
    expect(decodeManifests('\uFEFFapiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n', 'a.yaml')).toHaveLength(1);
    expect(decodeManifests('\uFEFF{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}', 'a.json')).toHaveLength(1);
  });

  it('reads JSON too', () => {
    const docs = decodeManifests('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}}', 'ns.json');
    expect(docs).toHaveLength(1);
    expect(docs[0]!.object).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  });

  it('expands List documents into their items, each with its own line', () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: a}
- apiVersion: v1
  kind: Namespace
  metadata: {name: b}
`;
    expect(decodeManifests(text, 'list.yaml').map((d) => [d.object.metadata.name, d.line])).toEqual([
      ['a', 4],
      ['b', 7],
    ]);
    const podList = decodeManifests('{"apiVersion":"v1","kind":"PodList","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}]}', 'l.json');
    expect(podList.map((d) => d.object.kind)).toEqual(['Pod']);
  });

  it('keeps YAML anchors and merge keys working', () => {
    const text = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: &labels {app: web}
  annotations:
    <<: *labels
    extra: "yes"
`;
    expect(decodeManifests(text, 'p.yaml')[0]!.object.metadata.annotations).toEqual({ app: 'web', extra: 'yes' });
  });

  it.each<[string, string, string]>([
    ['an unclosed flow sequence', 'a: 1\nb: [1, 2\nc: 3\n', 'pod.yaml:3:1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['a bad indent', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n labels: {}\n', 'pod.yaml:5:1: All mapping items must start at the same column'],
    ['a duplicate key', 'apiVersion: v1\nkind: Pod\nkind: Pod\n', 'pod.yaml:3:1: Map keys must be unique'],
    ['a tab indent', 'apiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n', 'pod.yaml:4:1: Tabs are not allowed as indentation'],
    ['an unterminated quote', "apiVersion: v1\nkind: 'Pod\n", "pod.yaml:3:1: Missing closing 'quote"],
    ['a nested compact mapping', 'apiVersion: v1\nkind: Pod: x\n', 'pod.yaml:2:7: Nested mappings are not allowed in compact mappings'],
    ['malformed JSON', '{"apiVersion": "v1", "kind": }', "pod.yaml:1:30: unexpected '}', expected a value"],
    ['JSON missing a comma', '{\n  "apiVersion": "v1"\n  "kind": "Pod"\n}', "pod.yaml:3:3: unexpected '\"', expected ',' or '}' after property value"],
    ['truncated JSON', '{"apiVersion": "v1", "kind": "Pod"', "pod.yaml:1:35: unexpected end of input, expected ',' or '}' after property value"],
    ['JSON with trailing garbage', '{"a": 1} x', "pod.yaml:1:10: unexpected 'x', expected end of input"],
    ['an unterminated JSON string', '{"a": "b', 'pod.yaml:1:9: unterminated string'],
    ['a JSON list', '[{"apiVersion": "v1", "kind": "Pod"}]', 'pod.yaml:1: a manifest must be a mapping, not a list'],
    ['a document that is a list', '- a\n- b\n', 'pod.yaml:1: a manifest must be a mapping, not a list'],
    ['a document that is a string', 'apiVersion: v1\nkind: Pod\n---\nhello\n', 'pod.yaml:4: a manifest must be a mapping, not a string'],
    ['a missing kind', 'apiVersion: v1\nmetadata: {name: x}\n', 'pod.yaml:1: "kind" is not set'],
    ['a missing apiVersion in the second document', `${TWO_PODS}---\nkind: Pod\n`, 'pod.yaml:20: "apiVersion" is not set'],
    ['both missing', 'metadata: {name: x}\n', 'pod.yaml:1: "apiVersion" and "kind" are not set'],
    ['a numeric kind', 'apiVersion: v1\nkind: 3\n', 'pod.yaml:1: "kind" is not set'],
    ['a string metadata', 'apiVersion: v1\nkind: Pod\nmetadata: web\n', 'pod.yaml:1: "metadata" must be a mapping, not a string'],
    ['a List item without kind', 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata: {}\n', 'pod.yaml:4: "kind" is not set'],
    ['a List without items', 'apiVersion: v1\nkind: List\n', 'pod.yaml:1: List has no "items" list'],
  ])('reports %s as file:line[:col]', (_what, text, message) => {
    expect(errorOf(text)).toBe(message);
  });

  it('refuses alias bombs instead of expanding them', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 12; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`);
    expect(errorOf(lines.join('\n'))).toMatch(/^pod\.yaml:1:1: Excessive alias count/);
  });

  it('decodes a single-object body and refuses several', () => {
    expect(decodeSingleManifest('apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n', 'request body').object.metadata.name).toBe('a');
    expect(() => decodeSingleManifest(TWO_PODS, 'request body')).toThrow('request body:11: expected one object, found 2');
    expect(() => decodeSingleManifest('', 'request body')).toThrow('request body: no object found');
  });
});
