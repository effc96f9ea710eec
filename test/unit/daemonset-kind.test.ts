// The DaemonSet and ControllerRevision kinds: kube-apiserver's defaults and
// validation wording, and kubectl's columns; pod affinity validation.
import { describe, expect, it } from 'vitest';
import { InvalidError, assertValid, defaultObject, printObjects, validateObject, type KubeObject } from '../../api/index.js';

type Obj = Record<string, any>;

function ds(mutate: (d: Obj) => void = () => {}): Obj {
  const d: Obj = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'fluentd', namespace: 'kube-system' },
    spec: {
      selector: { matchLabels: { name: 'fluentd' } },
      template: { metadata: { labels: { name: 'fluentd' } }, spec: { containers: [{ name: 'fluentd', image: 'busybox' }] } },
    },
  };
  mutate(d);
  return d;
}

function errorOf(o: Obj, old?: Obj): string {
  try {
    const d = defaultObject(o);
    assertValid(d as KubeObject, old ? (defaultObject(old) as KubeObject) : undefined);
    return '';
  } catch (e) {
    if (e instanceof InvalidError) return e.message;
    throw e;
  }
}

describe('[daemonset] defaults', () => {
  it('fills RollingUpdate maxUnavailable 1 maxSurge 0, revisionHistoryLimit 10 and the template defaults', () => {
    const d = defaultObject(ds()) as Obj;
    expect(d.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    expect(d.spec.revisionHistoryLimit).toBe(10);
    expect(d.spec.template.spec).toMatchObject({ restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', terminationGracePeriodSeconds: 30, schedulerName: 'default-scheduler' });
    expect(d.spec.template.spec.containers[0]).toMatchObject({ imagePullPolicy: 'Always', terminationMessagePolicy: 'File' });
  });

  it('leaves OnDelete without a rollingUpdate', () => {
    const d = defaultObject(ds((x) => (x.spec.updateStrategy = { type: 'OnDelete' }))) as Obj;
    expect(d.spec.updateStrategy).toEqual({ type: 'OnDelete' });
  });
});

describe('[daemonset] validation as kube-apiserver words it', () => {
  it.each([
    ['a valid DaemonSet', ds(), ''],
    ['no selector', ds((d) => delete d.spec.selector), 'DaemonSet.apps "fluentd" is invalid: spec.selector: Required value'],
    [
      'a selector that does not match the template labels',
      ds((d) => (d.spec.selector.matchLabels = { name: 'other' })),
      'DaemonSet.apps "fluentd" is invalid: spec.template.metadata.labels: Invalid value: {"name":"fluentd"}: `selector` does not match template `labels`',
    ],
    [
      'an empty selector',
      ds((d) => (d.spec.selector = {})),
      'DaemonSet.apps "fluentd" is invalid: spec.selector: Invalid value: {}: empty selector is invalid for daemonset',
    ],
    [
      'restartPolicy Never',
      ds((d) => (d.spec.template.spec.restartPolicy = 'Never')),
      'DaemonSet.apps "fluentd" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ],
    [
      'maxSurge and maxUnavailable both 0',
      ds((d) => (d.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } })),
      'DaemonSet.apps "fluentd" is invalid: spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0',
    ],
    [
      'maxSurge and maxUnavailable both non-zero',
      ds((d) => (d.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: '10%' } })),
      'DaemonSet.apps "fluentd" is invalid: spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: "10%": may not be set when maxUnavailable is non-zero',
    ],
    [
      'a percentage above 100%',
      ds((d) => (d.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '120%' } })),
      'DaemonSet.apps "fluentd" is invalid: spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "120%": must not be greater than 100%',
    ],
    [
      'a negative maxUnavailable',
      ds((d) => (d.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: -1 } })),
      'DaemonSet.apps "fluentd" is invalid: spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0',
    ],
    [
      'an unknown strategy',
      ds((d) => (d.spec.updateStrategy = { type: 'Recreate' })),
      'DaemonSet.apps "fluentd" is invalid: spec.updateStrategy: Unsupported value: "Recreate": supported values: "OnDelete", "RollingUpdate"',
    ],
    [
      'a template container without an image',
      ds((d) => delete d.spec.template.spec.containers[0].image),
      'DaemonSet.apps "fluentd" is invalid: spec.template.spec.containers[0].image: Required value',
    ],
    ['a negative revisionHistoryLimit', ds((d) => (d.spec.revisionHistoryLimit = -1)), 'DaemonSet.apps "fluentd" is invalid: spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0'],
  ])('%s', (_n, o, want) => {
    expect(errorOf(o)).toBe(want);
  });

  it('the selector is immutable', () => {
    const old = defaultObject(ds()) as Obj;
    old.metadata.resourceVersion = '5';
    const next = ds((d) => {
      d.spec.selector.matchLabels = { name: 'fluentd', tier: 'x' };
      d.spec.template.metadata.labels.tier = 'x';
    });
    expect(errorOf(next, old)).toBe('DaemonSet.apps "fluentd" is invalid: spec.selector: Invalid value: {"matchLabels":{"name":"fluentd","tier":"x"}}: field is immutable');
  });
});

describe('[daemonset] kubectl get columns', () => {
  it('NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE, wide CONTAINERS IMAGES SELECTOR', () => {
    const d = defaultObject(
      ds((x) => {
        x.metadata.creationTimestamp = new Date(Date.now() - 120_000).toISOString();
        x.spec.template.spec.nodeSelector = { 'kubernetes.io/os': 'linux' };
        x.status = { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 3, numberAvailable: 2, numberMisscheduled: 0 };
      }),
    ) as KubeObject;
    const t = printObjects('DaemonSet', [d], Date.now());
    expect(t.columns.map((c) => c.name)).toEqual(['Name', 'Desired', 'Current', 'Ready', 'Up-to-date', 'Available', 'Node Selector', 'Age', 'Containers', 'Images', 'Selector']);
    expect(t.columns.filter((c) => c.priority === 1).map((c) => c.name)).toEqual(['Containers', 'Images', 'Selector']);
    expect(t.rows[0]!).toEqual(['fluentd', 3, 3, 2, 3, 2, 'kubernetes.io/os=linux', '2m', 'fluentd', 'busybox', 'name=fluentd']);
  });

  it('ControllerRevision: NAME CONTROLLER REVISION AGE', () => {
    const r = {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: { name: 'fluentd-abc', namespace: 'kube-system', creationTimestamp: new Date().toISOString(), ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', uid: 'u', controller: true }] },
      revision: 2,
      data: {},
    } as unknown as KubeObject;
    const t = printObjects('ControllerRevision', [r], Date.now());
    expect(t.rows[0]!.slice(0, 3)).toEqual(['fluentd-abc', 'daemonset.apps/fluentd', 2]);
  });

  it('ControllerRevision data is immutable, revision must not be negative', () => {
    const r: Obj = { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'r', namespace: 'default', resourceVersion: '3' }, revision: -1, data: { a: 1 } };
    expect(errorOf(r)).toBe('ControllerRevision.apps "r" is invalid: revision: Invalid value: -1: must be greater than or equal to 0');
    const old = { ...r, revision: 1 };
    expect(errorOf({ ...r, revision: 2, data: { a: 2 } }, old)).toBe('ControllerRevision.apps "r" is invalid: data: Invalid value: "<value omitted>": field is immutable');
  });
});

describe('[pod] spec.affinity validation', () => {
  const pod = (affinity: unknown): Obj => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }], affinity } });
  const na = 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms';
  it.each([
    ['node affinity with every operator', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }, { key: 'b', operator: 'NotIn', values: ['y'] }, { key: 'c', operator: 'Exists' }, { key: 'd', operator: 'DoesNotExist' }, { key: 'e', operator: 'Gt', values: ['3'] }, { key: 'f', operator: 'Lt', values: ['9'] }], matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }] } } }, ''],
    ['no terms', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }, `Pod "p" is invalid: ${na}: Required value: must have at least one node selector term`],
    ['In without values', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] } } }, `Pod "p" is invalid: ${na}[0].matchExpressions[0].values: Required value: must be specified when \`operator\` is 'In' or 'NotIn'`],
    ['Gt with two values', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1', '2'] }] }] } } }, `Pod "p" is invalid: ${na}[0].matchExpressions[0].values: Required value: must be specified single value when \`operator\` is 'Lt' or 'Gt'`],
    ['a bad operator', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Near' }] }] } } }, `Pod "p" is invalid: ${na}[0].matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator`],
    ['a field other than metadata.name', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'spec.x', operator: 'In', values: ['a'] }] }] } } }, `Pod "p" is invalid: ${na}[0].matchFields[0].key: Invalid value: "spec.x": not a valid field selector key`],
    ['a weight out of range', { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, preference: { matchExpressions: [{ key: 'a', operator: 'Exists' }] } }] } }, 'Pod "p" is invalid: spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100'],
    ['pod anti-affinity by hostname', { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { a: 'b' } } }] } }, ''],
    ['pod affinity without a topologyKey', { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { a: 'b' } } }] } }, 'Pod "p" is invalid: spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty'],
    ['a preferred pod affinity weight out of range', { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 101, podAffinityTerm: { topologyKey: 'zone', labelSelector: {} } }] } }, 'Pod "p" is invalid: spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100'],
    ['a non-empty namespaceSelector (the scheduler does not see namespace labels)', { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', labelSelector: {}, namespaceSelector: { matchLabels: { team: 'a' } } }] } }, 'Pod "p" is invalid: spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector: Forbidden: not supported by Flotilla (only the empty selector, meaning every namespace)'],
  ])('%s', (_n, aff, want) => {
    expect(errorOf(pod(aff))).toBe(want);
  });

  it('validation causes of a DaemonSet template carry the template path', () => {
    const causes = validateObject(defaultObject(ds((d) => (d.spec.template.spec.affinity = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {} }] } }))) as KubeObject);
    expect(causes.map((c) => c.field)).toContain('spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey');
  });
});
