// The protobuf request bodies kubectl 1.3x sends for typed creates, decoded
// into the JSON shape the server reads; anything else refused with a message.
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../api/index.js';
import { parseProtobufObject } from '../../controller/apiserver/protobuf.js';

// a minimal protobuf writer for the test: length-delimited and varint fields
const varint = (n: number): Buffer => {
  const out: number[] = [];
  let v = n;
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return Buffer.from(out);
};
const len = (field: number, body: Buffer | string) => {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
};
const vint = (field: number, n: number) => Buffer.concat([varint(field << 3), varint(n)]);
const entry = (field: number, k: string, v: string | Buffer) => len(field, Buffer.concat([len(1, k), len(2, v)]));
const envelope = (apiVersion: string, kind: string, raw: Buffer) =>
  Buffer.concat([Buffer.from('k8s\0', 'binary'), len(1, Buffer.concat([len(1, apiVersion), len(2, kind)])), len(2, raw)]);

describe('[api] protobuf bodies', () => {
  it('decodes a ConfigMap as kubectl create configmap sends it', () => {
    const meta = Buffer.concat([len(1, 'app-config'), len(3, 'demo'), entry(11, 'app', 'web'), len(14, 'example.com/keep')]);
    const cm = Buffer.concat([len(1, meta), entry(2, 'mode', 'fast'), entry(3, 'blob', Buffer.from([0, 1, 2])), vint(4, 1)]);
    expect(parseProtobufObject(envelope('v1', 'ConfigMap', cm))).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-config', namespace: 'demo', labels: { app: 'web' }, finalizers: ['example.com/keep'] },
      data: { mode: 'fast' },
      binaryData: { blob: 'AAEC' },
      immutable: true,
    });
  });

  it('decodes a Secret: data bytes become base64, stringData stays text', () => {
    const s = Buffer.concat([len(1, len(1, 'db')), entry(2, 'password', 's3cr3t'), len(3, 'Opaque'), entry(4, 'user', 'app')]);
    expect(parseProtobufObject(envelope('v1', 'Secret', s))).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db' },
      data: { password: Buffer.from('s3cr3t').toString('base64') },
      type: 'Opaque',
      stringData: { user: 'app' },
    });
  });

  it('decodes a Namespace with its owner references and spec finalizers', () => {
    const owner = Buffer.concat([len(1, 'ConfigMap'), len(3, 'o'), len(4, '8d3c5b4e-0000-4000-8000-000000000001'), len(5, 'v1'), vint(6, 1)]);
    const ns = Buffer.concat([len(1, Buffer.concat([len(1, 'team'), len(13, owner)])), len(2, len(1, 'kubernetes'))]);
    expect(parseProtobufObject(envelope('v1', 'Namespace', ns))).toMatchObject({
      kind: 'Namespace',
      metadata: { name: 'team', ownerReferences: [{ kind: 'ConfigMap', name: 'o', uid: '8d3c5b4e-0000-4000-8000-000000000001', apiVersion: 'v1', controller: true }] },
      spec: { finalizers: ['kubernetes'] },
    });
  });

  it('refuses a kind it does not decode with a 415 naming the kind', () => {
    expect(() => parseProtobufObject(envelope('v1', 'Pod', Buffer.alloc(0)))).toThrow(/protobuf for Pod \(v1\), which this server reads only in JSON or YAML/);
  });

  it.each([
    ['without the magic', Buffer.from('{"kind":"ConfigMap"}'), /does not start with the Kubernetes magic/],
    ['truncated', envelope('v1', 'ConfigMap', len(1, 'x')).subarray(0, 12), /truncated/],
  ])('refuses a body %s with a 400', (_w, body, msg) => {
    expect(() => parseProtobufObject(body)).toThrow(BadRequestError);
    expect(() => parseProtobufObject(body)).toThrow(msg);
  });
});
