// Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
// which kubectl 1.3x sends for some typed writes (`kubectl create configmap|secret|namespace`).
// The envelope is the 4-byte magic `k8s\0` and a runtime.Unknown message
// (typeMeta, raw, contentEncoding, contentType); `raw` is the object's own
// message. Only the kinds listed in MESSAGES are decoded, field by field, into
// the JSON shape the rest of the server reads; any other kind is refused with
// a 415 naming it (the client then retries in JSON). Answers are always JSON.
import { BadRequestError, rfc3339 } from '../../api/index.js';
import { UnsupportedMediaTypeError } from './media-errors.js';

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type FieldType = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'map' | 'bytesmap' | 'message';
interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
  message?: Message;
}
type Message = Readonly<Record<number, Field>>;

const OWNER_REFERENCE: Message = {
  1: { name: 'kind', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'controller', type: 'bool' },
  7: { name: 'blockOwnerDeletion', type: 'bool' },
};

const OBJECT_META: Message = {
  1: { name: 'name', type: 'string' },
  2: { name: 'generateName', type: 'string' },
  3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'generation', type: 'int' },
  8: { name: 'creationTimestamp', type: 'time' },
  9: { name: 'deletionTimestamp', type: 'time' },
  10: { name: 'deletionGracePeriodSeconds', type: 'int' },
  11: { name: 'labels', type: 'map' },
  12: { name: 'annotations', type: 'map' },
  13: { name: 'ownerReferences', type: 'message', repeated: true, message: OWNER_REFERENCE },
  14: { name: 'finalizers', type: 'string', repeated: true },
};

/** The messages of the kinds decoded from protobuf, by `apiVersion/kind`. */
const MESSAGES: Readonly<Record<string, Message>> = {
  'v1/ConfigMap': {
    1: { name: 'metadata', type: 'message', message: OBJECT_META },
    2: { name: 'data', type: 'map' },
    3: { name: 'binaryData', type: 'bytesmap' },
    4: { name: 'immutable', type: 'bool' },
  },
  'v1/Secret': {
    1: { name: 'metadata', type: 'message', message: OBJECT_META },
    2: { name: 'data', type: 'bytesmap' },
    3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: 'map' },
    5: { name: 'immutable', type: 'bool' },
  },
  'v1/Namespace': {
    1: { name: 'metadata', type: 'message', message: OBJECT_META },
    2: { name: 'spec', type: 'message', message: { 1: { name: 'finalizers', type: 'string', repeated: true } } },
    3: { name: 'status', type: 'message', message: { 1: { name: 'phase', type: 'string' } } },
  },
};

const TIME: Message = { 1: { name: 'seconds', type: 'int' }, 2: { name: 'nanos', type: 'int' } };
const TYPE_META: Message = { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } };
const UNKNOWN: Message = {
  1: { name: 'typeMeta', type: 'message', message: TYPE_META },
  2: { name: 'raw', type: 'bytes' },
  3: { name: 'contentEncoding', type: 'string' },
  4: { name: 'contentType', type: 'string' },
};
const MAP_ENTRY: Message = { 1: { name: 'key', type: 'string' }, 2: { name: 'value', type: 'bytes' } };

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new BadRequestError('the protobuf body is truncated (in a varint)');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new BadRequestError('the protobuf body has a varint longer than 64 bits');
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new BadRequestError('the protobuf body is truncated (a field is longer than the body)');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new BadRequestError(`the protobuf body has an unsupported wire type ${wire}`);
    if (this.pos > this.buf.length) throw new BadRequestError('the protobuf body is truncated');
  }
}

function toInt(v: bigint): number {
  // int64 as two's complement
  const signed = v >= 1n << 63n ? v - (1n << 64n) : v;
  return Number(signed);
}

function decodeMessage(buf: Buffer, msg: Message): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (r.pos < buf.length) {
    const tag = r.varint();
    const num = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    const f = msg[num];
    if (!f) {
      r.skip(wire);
      continue;
    }
    const expectLen = !['int', 'bool'].includes(f.type);
    if (expectLen !== (wire === 2)) throw new BadRequestError(`the protobuf body has field ${f.name} with the wrong wire type ${wire}`);
    let v: unknown;
    switch (f.type) {
      case 'string':
        v = r.bytes().toString('utf8');
        break;
      case 'bytes':
        v = Buffer.from(r.bytes());
        break;
      case 'int':
        v = toInt(r.varint());
        break;
      case 'bool':
        v = r.varint() !== 0n;
        break;
      case 'time': {
        const t = decodeMessage(r.bytes(), TIME);
        v = rfc3339(Number(t.seconds ?? 0) * 1000);
        break;
      }
      case 'map':
      case 'bytesmap': {
        const e = decodeMessage(r.bytes(), MAP_ENTRY);
        const m = (out[f.name] ??= {}) as Record<string, string>;
        const value = (e.value as Buffer | undefined) ?? Buffer.alloc(0);
        m[String(e.key ?? '')] = f.type === 'map' ? value.toString('utf8') : value.toString('base64');
        continue;
      }
      case 'message':
        v = decodeMessage(r.bytes(), f.message!);
        break;
    }
    if (f.repeated) ((out[f.name] ??= []) as unknown[]).push(v);
    else out[f.name] = v;
  }
  return out;
}

/** Decodes a protobuf object body into its JSON shape; 415 for a kind this server does not decode. */
export function parseProtobufObject(raw: Buffer): Record<string, unknown> {
  if (raw.length < 4 || !raw.subarray(0, 4).equals(MAGIC)) throw new BadRequestError('the protobuf body does not start with the Kubernetes magic "k8s\\x00"');
  const env = decodeMessage(raw.subarray(4), UNKNOWN);
  const tm = (env.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  if (env.contentEncoding) throw new BadRequestError(`the protobuf body has a content encoding this server does not read: ${String(env.contentEncoding)}`);
  const key = `${tm.apiVersion ?? ''}/${tm.kind ?? ''}`;
  const msg = MESSAGES[key];
  if (!msg) {
    throw new UnsupportedMediaTypeError(
      `the body of the request was in protobuf for ${tm.kind ?? 'an unnamed kind'} (${tm.apiVersion ?? ''}), which this server reads only in JSON or YAML - accepted media types include: application/json, application/yaml`,
    );
  }
  const obj = decodeMessage((env.raw as Buffer | undefined) ?? Buffer.alloc(0), msg);
  return { apiVersion: tm.apiVersion, kind: tm.kind, ...obj };
}
