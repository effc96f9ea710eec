// The node restriction for ConfigMaps and Secrets (controller/agentapi/node-restriction.ts):
// a node reads one only for a pod bound to it that references it.
import { describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import { configReadDecision, podConfigReferences, type ConfigObjectRef } from '../../controller/agentapi/node-restriction.js';

const POD: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'demo', uid: 'u1' },
  spec: {
    nodeName: 'n1',
    initContainers: [{ name: 'init', image: 'busybox', envFrom: [{ secretRef: { name: 'init-secret' } }] }],
    containers: [
      {
        name: 'app',
        image: 'busybox',
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'env-cm', key: 'k' } } },
          { name: 'B', valueFrom: { secretKeyRef: { name: 'env-secret', key: 'k' } } },
          { name: 'C', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'D', value: 'plain' },
        ],
        envFrom: [{ configMapRef: { name: 'from-cm' } }],
      },
    ],
    volumes: [
      { name: 'v1', configMap: { name: 'vol-cm' } },
      { name: 'v2', secret: { secretName: 'vol-secret' } },
      { name: 'v3', emptyDir: {} },
    ],
    imagePullSecrets: [{ name: 'pull-secret' }],
  },
};

const ref = (resource: ConfigObjectRef['resource'], name: string, namespace = 'demo'): ConfigObjectRef => ({ resource, namespace, name });

describe('[agentapi] node restriction for ConfigMaps and Secrets', () => {
  it('a pod references the objects of its env, envFrom, volumes (every container kind) and imagePullSecrets', () => {
    expect(podConfigReferences(POD)).toEqual({
      configmaps: new Set(['env-cm', 'from-cm', 'vol-cm']),
      secrets: new Set(['init-secret', 'env-secret', 'vol-secret', 'pull-secret']),
    });
  });

  it.each<[string, string, ConfigObjectRef, { name: string; uid?: string }, Pod | undefined, true | string]>([
    ['its pod references the configmap (volume)', 'n1', ref('configmaps', 'vol-cm'), { name: 'web' }, POD, true],
    ['its pod references the secret (env)', 'n1', ref('secrets', 'env-secret'), { name: 'web', uid: 'u1' }, POD, true],
    ['an imagePullSecret', 'n1', ref('secrets', 'pull-secret'), { name: 'web' }, POD, true],
    [
      'a configmap the pod does not reference',
      'n1',
      ref('configmaps', 'other'),
      { name: 'web' },
      POD,
      'node "n1" may not read configmap demo/other: no pod bound to that node references it (pod demo/web does not)',
    ],
    [
      'a secret of the same name as a referenced configmap',
      'n1',
      ref('secrets', 'vol-cm'),
      { name: 'web' },
      POD,
      'node "n1" may not read secret demo/vol-cm: no pod bound to that node references it (pod demo/web does not)',
    ],
    ['a pod bound to another node', 'n2', ref('secrets', 'env-secret'), { name: 'web' }, POD, 'node "n2" may not read secret demo/env-secret: pod demo/web is not bound to that node'],
    [
      'an unscheduled pod',
      'n1',
      ref('configmaps', 'vol-cm'),
      { name: 'web' },
      { ...POD, spec: { ...POD.spec, nodeName: undefined } },
      'node "n1" may not read configmap demo/vol-cm: pod demo/web is not bound to that node',
    ],
    ['a pod that does not exist', 'n1', ref('configmaps', 'vol-cm'), { name: 'web' }, undefined, 'node "n1" may not read configmap demo/vol-cm: pod demo/web (named in the request) does not exist'],
    [
      'a replaced pod (another uid)',
      'n1',
      ref('configmaps', 'vol-cm'),
      { name: 'web', uid: 'old' },
      POD,
      'node "n1" may not read configmap demo/vol-cm: pod demo/web with uid old does not exist (it was replaced)',
    ],
  ])('%s', (_name, node, r, podRef, pod, want) => {
    const d = configReadDecision(node, r, podRef, pod);
    expect(d.allowed ? true : d.reason).toEqual(want);
  });
});
