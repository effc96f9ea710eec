import { describe, expect, it } from 'vitest';
import { assertNoUnknownFields, BadRequestError, defaultObject, findUnknownFields, unknownFieldWarnings } from '../../api/index.js';

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', labels: { anything: 'goes' }, annotations: { 'a/b': 'c' } },
  spec: {
    containers: [
      {
        name: 'web',
        image: 'nginx',
        livenessProbe: { httpGet: { path: '/', port: 80 }, whateverInside: true },
        securityContext: { runAsUser: 1000 },
        ports: [{ containerPort: 80 }],
      },
    ],
    affinity: { nodeAffinity: {} },
    volumes: [{ name: 'd', hostPath: { path: '/d' } }],
  },
};

describe('[api] unknown fields (fieldValidation)', () => {
  it('knows every field of a real manifest, including ones Flotilla ignores', () => {
    expect(findUnknownFields(POD)).toEqual([]);
    expect(findUnknownFields(defaultObject(POD))).toEqual([]);
  });

  it.each<[string, unknown, string[]]>([
    ['a typo in a container', { ...POD, spec: { containers: [{ name: 'a', imagee: 'x' }] } }, ['spec.containers[0].imagee']],
    ['a typo at the top', { ...POD, sepc: {} }, ['sepc']],
    ['a typo in metadata and in a port', { ...POD, metadata: { name: 'x', label: {} }, spec: { containers: [{ name: 'a', image: 'x', ports: [{ port: 80 }] }] } }, ['metadata.label', 'spec.containers[0].ports[0].port']],
    ['a typo in a hostPath', { ...POD, spec: { containers: [], volumes: [{ name: 'd', hostPath: { pth: '/d' } }] } }, ['spec.volumes[0].hostPath.pth']],
    ['a typo in a node taint', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { taints: [{ key: 'k', efect: 'NoSchedule' }] } }, ['spec.taints[0].efect']],
    ['a typo in an event', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e' }, involvedObject: { knd: 'Pod' } }, ['involvedObject.knd']],
  ])('finds %s', (_what, obj, paths) => {
    expect(findUnknownFields(obj)).toEqual(paths);
  });

  it('ignores values of the wrong type and unknown kinds', () => {
    expect(findUnknownFields({ ...POD, spec: { containers: 'x' } })).toEqual([]);
    expect(findUnknownFields({ apiVersion: 'v1', kind: 'Foo', x: 1 })).toEqual([]);
    expect(findUnknownFields('nope')).toEqual([]);
  });

  it('words strict errors and warnings as Kubernetes does', () => {
    const bad = { ...POD, spec: { containers: [{ name: 'a', imagee: 'x', commnd: [] }] } };
    expect(unknownFieldWarnings(bad)).toEqual(['unknown field "spec.containers[0].imagee"', 'unknown field "spec.containers[0].commnd"']);
    expect(() => assertNoUnknownFields(bad)).toThrow(BadRequestError);
    expect(() => assertNoUnknownFields(bad)).toThrow(
      'strict decoding error: unknown field "spec.containers[0].imagee", unknown field "spec.containers[0].commnd"',
    );
    expect(() => assertNoUnknownFields(POD)).not.toThrow();
  });
});
