import { describe, expect, it } from 'vitest';
import {
  defaultObject,
  defaultPullPolicy,
  deepClone,
  getCondition,
  isTerminalPhase,
  objectKey,
  objectRef,
  podReadyCount,
  podRequests,
  qosClassOf,
  setCondition,
  type Pod,
  type PodCondition,
} from '../../api/index.js';

function pod(spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'web' }): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec } as unknown as Pod;
}

describe('[api] defaulting', () => {
  it.each([
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['nginx:1.25', 'IfNotPresent'],
    ['registry.local:5000/nginx', 'Always'],
    ['registry.local:5000/nginx:1.25', 'IfNotPresent'],
    ['registry.local:5000/team/nginx:latest', 'Always'],
    ['nginx@sha256:0123456789abcdef', 'IfNotPresent'],
  ])('picks the pull policy for %s: %s', (image, policy) => {
    expect(defaultPullPolicy(image)).toBe(policy);
  });

  it('fills a pod the way Kubernetes does', () => {
    const input = pod({ containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] });
    const out = defaultObject(input);
    expect(out).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'nginx',
            imagePullPolicy: 'Always',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            resources: {},
            terminationMessagePath: '/dev/termination-log',
            terminationMessagePolicy: 'File',
          },
        ],
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 30,
        dnsPolicy: 'ClusterFirst',
        schedulerName: 'default-scheduler',
      },
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    });
  });

  it('never mutates its input', () => {
    const input = pod({ containers: [{ name: 'web', image: 'nginx:1.25' }] });
    const before = deepClone(input);
    defaultObject(input);
    expect(input).toEqual(before);
  });

  it('keeps what the user set', () => {
    const out = defaultObject(
      pod(
        {
          containers: [{ name: 'a', image: 'busybox', imagePullPolicy: 'Never', ports: [{ containerPort: 53, protocol: 'UDP' }] }],
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 0,
        },
        { name: 'p', namespace: 'team' },
      ),
    );
    expect(out.metadata.namespace).toBe('team');
    expect(out.spec.restartPolicy).toBe('Never');
    expect(out.spec.terminationGracePeriodSeconds).toBe(0);
    expect(out.spec.containers[0]!.imagePullPolicy).toBe('Never');
    expect(out.spec.containers[0]!.ports![0]!.protocol).toBe('UDP');
  });

  it('copies limits into missing requests and canonicalises numeric quantities', () => {
    const out = defaultObject(
      pod({ containers: [{ name: 'a', image: 'x:1', resources: { limits: { cpu: 1, memory: '128Mi' }, requests: { cpu: '500m' } } }] }),
    );
    expect(out.spec.containers[0]!.resources).toEqual({ limits: { cpu: '1', memory: '128Mi' }, requests: { cpu: '500m', memory: '128Mi' } });
    expect(out.status!.qosClass).toBe('Burstable');
  });

  it('sets hostPort from containerPort for host-network pods and gives source-less volumes an emptyDir', () => {
    const out = defaultObject(
      pod({
        hostNetwork: true,
        containers: [{ name: 'a', image: 'x:1', ports: [{ containerPort: 8080 }] }],
        volumes: [{ name: 'scratch' }, { name: 'logs', hostPath: { path: '/var/log' } }],
        tolerations: [{ key: 'k', value: 'v' }, {}],
      }),
    );
    expect(out.spec.containers[0]!.ports![0]!.hostPort).toBe(8080);
    expect(out.spec.volumes).toEqual([
      { name: 'scratch', emptyDir: {} },
      { name: 'logs', hostPath: { path: '/var/log', type: '' } },
    ]);
    expect(out.spec.tolerations).toEqual([{ key: 'k', value: 'v', operator: 'Equal' }, { operator: 'Exists' }]);
  });

  it('keeps an existing status phase', () => {
    const out = defaultObject({ ...pod({ containers: [] }), status: { phase: 'Running' } });
    expect(out.status!.phase).toBe('Running');
  });

  it('defaults namespaces, events and leaves nodes and unknown kinds alone', () => {
    expect(defaultObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } })).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team' },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
    expect(
      defaultObject({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'web' } }),
    ).toEqual({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'e1', namespace: 'default' },
      involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' },
      type: 'Normal',
    });
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } };
    expect(defaultObject(node)).toEqual(node);
    const foo = { apiVersion: 'v1', kind: 'Foo', metadata: {} };
    expect(defaultObject(foo)).toEqual(foo);
  });

  it.each([
    ['a string', 'nope'],
    ['null', null],
    ['a pod with garbage fields', { kind: 'Pod', apiVersion: 'v1', metadata: 'x', spec: { containers: 'x', volumes: [1, null], tolerations: 'x' }, status: 3 }],
    ['a pod with garbage containers', { kind: 'Pod', apiVersion: 'v1', spec: { containers: [null, 'x', { image: 3, ports: 'x', resources: 'x' }] } }],
    ['a pod with a string spec', { kind: 'Pod', apiVersion: 'v1', metadata: {}, spec: 'x' }],
  ])('does not throw on %s', (_what, input) => {
    expect(() => defaultObject(input)).not.toThrow();
  });
});

describe('[api] helpers', () => {
  it('sums container requests, treating a lone limit as the request', () => {
    const p = pod({
      containers: [
        { name: 'a', image: 'x', resources: { requests: { cpu: '250m', memory: '64Mi' } } },
        { name: 'b', image: 'x', resources: { limits: { cpu: '1', memory: '1Gi' } } },
        { name: 'c', image: 'x' },
      ],
    });
    expect(podRequests(p)).toEqual({ milliCPU: 1250, memoryBytes: 64 * 1024 ** 2 + 1024 ** 3 });
  });

  it('reserves the largest init container request when it exceeds the sum', () => {
    const p = pod({
      initContainers: [{ name: 'init', image: 'x', resources: { requests: { cpu: '2' } } }],
      containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '100m', memory: '10Mi' } } }],
    });
    expect(podRequests(p)).toEqual({ milliCPU: 2000, memoryBytes: 10 * 1024 ** 2 });
  });

  it('adds sidecar requests to the app containers and to the init containers that run after them', () => {
    const p = pod({
      initContainers: [
        { name: 'before', image: 'x', resources: { requests: { cpu: '300m' } } },
        { name: 'side', image: 'x', restartPolicy: 'Always', resources: { requests: { cpu: '200m', memory: '20Mi' } } },
        { name: 'after', image: 'x', resources: { requests: { cpu: '500m' } } },
      ],
      containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '100m', memory: '10Mi' } } }],
    });
    // peaks: before 300m; side+after 700m; side+app 300m
    expect(podRequests(p)).toEqual({ milliCPU: 700, memoryBytes: 30 * 1024 ** 2 });
  });

  it('counts ready sidecars in the ready/total of a pod', () => {
    const p = pod({ initContainers: [{ name: 'side', image: 'x', restartPolicy: 'Always' }, { name: 'once', image: 'x' }], containers: [{ name: 'a', image: 'x' }] });
    p.status = {
      phase: 'Running',
      initContainerStatuses: [
        { name: 'side', ready: true, restartCount: 0, image: 'x', imageID: '' },
        { name: 'once', ready: true, restartCount: 0, image: 'x', imageID: '' },
      ],
      containerStatuses: [{ name: 'a', ready: false, restartCount: 0, image: 'x', imageID: '' }],
    };
    expect(podReadyCount(p)).toEqual({ ready: 1, total: 2 });
  });

  it('computes QoS classes', () => {
    const g = pod({ containers: [{ name: 'a', image: 'x', resources: { limits: { cpu: '1', memory: '1Gi' } } }] });
    expect(qosClassOf(g)).toBe('Guaranteed');
    const b = pod({ containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '1' } } }] });
    expect(qosClassOf(b)).toBe('Burstable');
    expect(qosClassOf(pod({ containers: [{ name: 'a', image: 'x' }] }))).toBe('BestEffort');
  });

  it('makes object references and keys', () => {
    const p = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '7' } };
    expect(objectRef(p)).toEqual({ apiVersion: 'v1', kind: 'Pod', name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '7' });
    expect(objectKey(p)).toBe('default/web');
    expect(objectKey({ kind: 'Node', metadata: { name: 'n1' } })).toBe('n1');
  });

  it.each([
    ['Succeeded', true],
    ['Failed', true],
    ['Running', false],
    ['Pending', false],
    [undefined, false],
  ])('says whether phase %s is terminal: %s', (phase, terminal) => {
    expect(isTerminalPhase(phase)).toBe(terminal);
  });

  it('deep-clones JSON data', () => {
    const a = { x: [1, { y: 2 }], z: null as null, u: undefined };
    const b = deepClone(a);
    expect(b).toEqual({ x: [1, { y: 2 }], z: null });
    (b.x[1] as { y: number }).y = 3;
    expect((a.x[1] as { y: number }).y).toBe(2);
  });
});

describe('[api] condition helpers', () => {
  it('moves lastTransitionTime only when the status changes', () => {
    const t0 = '2026-01-01T00:00:00Z';
    const t1 = '2026-01-01T00:01:00Z';
    let conds = setCondition<PodCondition>(undefined, { type: 'Ready', status: 'False', reason: 'Starting' }, t0);
    expect(conds).toEqual([{ type: 'Ready', status: 'False', reason: 'Starting', lastTransitionTime: t0 }]);
    conds = setCondition(conds, { type: 'Ready', status: 'False', reason: 'StillStarting' }, t1);
    expect(getCondition(conds, 'Ready')).toEqual({ type: 'Ready', status: 'False', reason: 'StillStarting', lastTransitionTime: t0 });
    conds = setCondition(conds, { type: 'Ready', status: 'True' }, t1);
    conds = setCondition(conds, { type: 'PodScheduled', status: 'True' }, t1);
    expect(conds).toEqual([
      { type: 'Ready', status: 'True', lastTransitionTime: t1 },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: t1 },
    ]);
    expect(getCondition(conds, 'Initialized')).toBeUndefined();
  });

  it('counts ready containers', () => {
    const p = pod({ containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'x' }] });
    expect(podReadyCount(p)).toEqual({ ready: 0, total: 2 });
    p.status = { containerStatuses: [{ name: 'a', ready: true, restartCount: 0, image: 'x' }, { name: 'b', ready: false, restartCount: 1, image: 'x' }] };
    expect(podReadyCount(p)).toEqual({ ready: 1, total: 2 });
  });
});
