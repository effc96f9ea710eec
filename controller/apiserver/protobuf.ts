// Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
// which kubectl 1.3x sends for some typed writes (`kubectl create configmap|secret|namespace`).
// The envelope is the 4-byte magic `k8s\0` and a runtime.Unknown message
// (typeMeta, raw, contentEncoding, contentType); `raw` is the object's own
// message. Only the kinds listed in MESSAGES are decoded, field by field, into
// the JSON shape the rest of the server reads; any other kind is refused with
// a 415 naming it (the client then retries in JSON). Answers are always JSON.
import { BadRequestError, rfc3339 } from '../../api/index.js';
import { plainValue } from '../../api/quote.js';
import { UnsupportedMediaTypeError } from './media-errors.js';

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type FieldType = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'map' | 'bytesmap' | 'quantitymap' | 'message';
interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
  message?: Message;
  /** A Go non-pointer int: 0 is its zero value, sent always, meaning unset. */
  omitZero?: boolean;
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

/**
 * Messages whose unknown fields are refused (415) rather than skipped: a Job's
 * pod template is decoded only as far as the fields listed here, and anything
 * else in it must not be silently dropped (kubectl then gets the 415's message).
 */
const STRICT = new WeakSet<Message>();
const strict = (m: Message): Message => (STRICT.add(m), m);

// batch/v1 Job, as `kubectl create job [--from=cronjob/x]` sends it (field numbers of k8s.io/api generated.proto)
const LABEL_SELECTOR: Message = strict({
  1: { name: 'matchLabels', type: 'map' },
  2: { name: 'matchExpressions', type: 'message', repeated: true, message: strict({ 1: { name: 'key', type: 'string' }, 2: { name: 'operator', type: 'string' }, 3: { name: 'values', type: 'string', repeated: true } }) },
});
const ENV_VAR: Message = strict({
  1: { name: 'name', type: 'string' },
  2: { name: 'value', type: 'string' },
  3: { name: 'valueFrom', type: 'message', message: strict({ 1: { name: 'fieldRef', type: 'message', message: strict({ 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'fieldPath', type: 'string' } }) } }) },
});
const CONTAINER: Message = strict({
  1: { name: 'name', type: 'string' },
  2: { name: 'image', type: 'string' },
  3: { name: 'command', type: 'string', repeated: true },
  4: { name: 'args', type: 'string', repeated: true },
  5: { name: 'workingDir', type: 'string' },
  6: {
    name: 'ports',
    type: 'message',
    repeated: true,
    message: strict({ 1: { name: 'name', type: 'string' }, 2: { name: 'hostPort', type: 'int', omitZero: true }, 3: { name: 'containerPort', type: 'int' }, 4: { name: 'protocol', type: 'string' }, 5: { name: 'hostIP', type: 'string' } }),
  },
  7: { name: 'env', type: 'message', repeated: true, message: ENV_VAR },
  8: { name: 'resources', type: 'message', message: strict({ 1: { name: 'limits', type: 'quantitymap' }, 2: { name: 'requests', type: 'quantitymap' } }) },
  9: {
    name: 'volumeMounts',
    type: 'message',
    repeated: true,
    message: strict({ 1: { name: 'name', type: 'string' }, 2: { name: 'readOnly', type: 'bool' }, 3: { name: 'mountPath', type: 'string' }, 4: { name: 'subPath', type: 'string' }, 6: { name: 'subPathExpr', type: 'string' } }),
  },
  13: { name: 'terminationMessagePath', type: 'string' },
  14: { name: 'imagePullPolicy', type: 'string' },
  15: { name: 'securityContext', type: 'message', message: strict({}) },
  16: { name: 'stdin', type: 'bool' },
  17: { name: 'stdinOnce', type: 'bool' },
  18: { name: 'tty', type: 'bool' },
  20: { name: 'terminationMessagePolicy', type: 'string' },
});
const POD_SPEC: Message = strict({
  2: { name: 'containers', type: 'message', repeated: true, message: CONTAINER },
  3: { name: 'restartPolicy', type: 'string' },
  4: { name: 'terminationGracePeriodSeconds', type: 'int' },
  6: { name: 'dnsPolicy', type: 'string' },
  7: { name: 'nodeSelector', type: 'map' },
  8: { name: 'serviceAccountName', type: 'string' },
  9: { name: 'serviceAccount', type: 'string' },
  10: { name: 'nodeName', type: 'string' },
  11: { name: 'hostNetwork', type: 'bool' },
  12: { name: 'hostPID', type: 'bool' },
  13: { name: 'hostIPC', type: 'bool' },
  14: { name: 'securityContext', type: 'message', message: strict({ 2: { name: 'runAsUser', type: 'int' }, 3: { name: 'runAsNonRoot', type: 'bool' }, 5: { name: 'fsGroup', type: 'int' }, 6: { name: 'runAsGroup', type: 'int' } }) },
  16: { name: 'hostname', type: 'string' },
  17: { name: 'subdomain', type: 'string' },
  19: { name: 'schedulerName', type: 'string' },
  24: { name: 'priorityClassName', type: 'string' },
  30: { name: 'enableServiceLinks', type: 'bool' },
});
const JOB_SPEC: Message = strict({
  1: { name: 'parallelism', type: 'int' },
  2: { name: 'completions', type: 'int' },
  3: { name: 'activeDeadlineSeconds', type: 'int' },
  4: { name: 'selector', type: 'message', message: LABEL_SELECTOR },
  5: { name: 'manualSelector', type: 'bool' },
  6: { name: 'template', type: 'message', message: strict({ 1: { name: 'metadata', type: 'message', message: OBJECT_META }, 2: { name: 'spec', type: 'message', message: POD_SPEC } }) },
  7: { name: 'backoffLimit', type: 'int' },
  8: { name: 'ttlSecondsAfterFinished', type: 'int' },
  9: { name: 'completionMode', type: 'string' },
  10: { name: 'suspend', type: 'bool' },
  11: {
    name: 'podFailurePolicy',
    type: 'message',
    message: strict({
      1: {
        name: 'rules',
        type: 'message',
        repeated: true,
        message: strict({
          1: { name: 'action', type: 'string' },
          2: { name: 'onExitCodes', type: 'message', message: strict({ 1: { name: 'containerName', type: 'string' }, 2: { name: 'operator', type: 'string' }, 3: { name: 'values', type: 'int', repeated: true } }) },
          3: { name: 'onPodConditions', type: 'message', repeated: true, message: strict({ 1: { name: 'type', type: 'string' }, 2: { name: 'status', type: 'string' } }) },
        }),
      },
    }),
  },
  14: { name: 'podReplacementPolicy', type: 'string' },
  15: { name: 'managedBy', type: 'string' },
});

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
  'batch/v1/Job': strict({
    1: { name: 'metadata', type: 'message', message: OBJECT_META },
    2: { name: 'spec', type: 'message', message: JOB_SPEC },
    // always sent (empty on a create); the server resets a created Job's status anyway
    3: { name: 'status', type: 'message', message: {} },
  }),
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
      if (STRICT.has(msg)) {
        throw new UnsupportedMediaTypeError(
          `the protobuf body has field ${num} of a message this server decodes only in part; send it in JSON or YAML - accepted media types include: application/json, application/yaml`,
        );
      }
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
      case 'quantitymap': {
        // map<string, Quantity>: a Quantity is a message with its string form in field 1
        const e = decodeMessage(r.bytes(), MAP_ENTRY);
        const q = decodeMessage((e.value as Buffer | undefined) ?? Buffer.alloc(0), { 1: { name: 'string', type: 'string' } });
        ((out[f.name] ??= {}) as Record<string, string>)[String(e.key ?? '')] = String(q.string ?? '');
        continue;
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
    // Go's non-pointer fields are sent even when unset: in the strictly decoded kinds, "" (and a marked 0) is absent
    if (STRICT.has(msg) && !f.repeated && (v === '' || (f.omitZero && v === 0))) continue;
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
  if (env.contentEncoding) throw new BadRequestError(`the protobuf body has a content encoding this server does not read: ${plainValue(env.contentEncoding)}`);
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
