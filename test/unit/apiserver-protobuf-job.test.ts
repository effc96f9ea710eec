// The protobuf body kubectl 1.33 sends for `kubectl create job [--from=cronjob/x]`:
// a Job decoded field by field (pod template included), Go's always-sent zero
// values dropped, and any field outside the decoded part refused (415), never skipped.
import { describe, expect, it } from 'vitest';
import { parseProtobufObject } from '../../controller/apiserver/protobuf.js';

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
const envelope = (raw: Buffer) => Buffer.concat([Buffer.from('k8s\0', 'binary'), len(1, Buffer.concat([len(1, 'batch/v1'), len(2, 'Job')])), len(2, raw)]);

function job(extraContainerField = Buffer.alloc(0)): Buffer {
  const container = Buffer.concat([
    len(1, 'hello'),
    len(2, 'busybox:1.35'),
    len(3, '/bin/sh'),
    len(3, '-c'),
    len(3, 'date'),
    len(5, ''), // workingDir "" (always sent)
    len(8, entry(2, 'cpu', len(1, '100m'))), // resources.requests.cpu
    len(13, '/dev/termination-log'),
    len(14, 'IfNotPresent'),
    vint(16, 0), // stdin false
    len(20, 'File'),
    extraContainerField,
  ]);
  const podSpec = Buffer.concat([len(2, container), len(3, 'OnFailure'), vint(4, 30), len(6, 'ClusterFirst'), len(9, ''), len(14, Buffer.alloc(0)), len(19, 'default-scheduler'), len(24, '')]);
  const template = Buffer.concat([len(1, entry(12, 'hollow.flotilla.io/exit-code', '0')), len(2, podSpec)]);
  const meta = Buffer.concat([len(1, 'hello-manual'), len(3, 'demo'), entry(12, 'cronjob.kubernetes.io/instantiate', 'manual')]);
  const spec = Buffer.concat([vint(7, 0), len(6, template)]);
  return Buffer.concat([len(1, meta), len(2, spec), len(3, Buffer.alloc(0))]);
}

describe('[api] protobuf Job bodies', () => {
  it('decodes the Job kubectl create job --from=cronjob sends, template and all', () => {
    expect(parseProtobufObject(envelope(job()))).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'hello-manual', namespace: 'demo', annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' } },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { annotations: { 'hollow.flotilla.io/exit-code': '0' } },
          spec: {
            containers: [
              {
                name: 'hello',
                image: 'busybox:1.35',
                command: ['/bin/sh', '-c', 'date'],
                resources: { requests: { cpu: '100m' } },
                terminationMessagePath: '/dev/termination-log',
                imagePullPolicy: 'IfNotPresent',
                stdin: false,
                terminationMessagePolicy: 'File',
              },
            ],
            restartPolicy: 'OnFailure',
            terminationGracePeriodSeconds: 30,
            dnsPolicy: 'ClusterFirst',
            securityContext: {},
            schedulerName: 'default-scheduler',
          },
        },
      },
      status: {},
    });
  });

  it('refuses a template field it does not decode (a livenessProbe) with a 415 instead of dropping it', () => {
    expect(() => parseProtobufObject(envelope(job(len(10, len(1, Buffer.alloc(0))))))).toThrow(/field 10 of a message this server decodes only in part; send it in JSON or YAML/);
  });
});
