// The Deployment and ReplicaSet kinds: kube-apiserver's defaults and
// validation wording (field paths and messages verbatim), and kubectl's columns.
import { describe, expect, it } from 'vitest';
import { InvalidError, assertValid, defaultObject, deploymentKind, replicaSetKind, type KubeObject } from '../../api/index.js';

type Obj = Record<string, any>;

function deploy(mutate: (d: Obj) => void = () => {}, kind = 'Deployment'): Obj {
  const d: Obj = {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.25' }] } },
    },
  };
  mutate(d);
  return d;
}

function errorOf(o: Obj, old?: Obj): string {
  try {
    assertValid(defaultObject(o) as KubeObject, old ? (defaultObject(old) as KubeObject) : undefined);
    return '';
  } catch (e) {
    if (e instanceof InvalidError) return e.message;
    throw e;
  }
}

describe('Deployment defaults (as kube-apiserver)', () => {
  it('replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600, template defaults', () => {
    const d = defaultObject(deploy((x) => delete x.spec.replicas)) as Obj;
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
    expect(d.spec.revisionHistoryLimit).toBe(10);
    expect(d.spec.progressDeadlineSeconds).toBe(600);
    expect(d.spec.template.spec.restartPolicy).toBe('Always');
    expect(d.spec.template.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
  });
  it('Recreate gets no rollingUpdate', () => {
    const d = defaultObject(deploy((x) => (x.spec.strategy = { type: 'Recreate' }))) as Obj;
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
  });
  it('a ReplicaSet defaults replicas to 1', () => {
    expect((defaultObject(deploy((x) => delete x.spec.replicas, 'ReplicaSet')) as Obj).spec.replicas).toBe(1);
  });
});

describe('Deployment and ReplicaSet validation (kube-apiserver wording)', () => {
  const cases: [string, (d: Obj) => void, string][] = [
    ['a valid deployment', () => {}, ''],
    ['replicas < 0', (d) => (d.spec.replicas = -1), 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'],
    [
      'a selector not matching the template labels',
      (d) => (d.spec.template.metadata.labels = { app: 'other' }),
      'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match template `labels`',
    ],
    ['no selector', (d) => delete d.spec.selector, 'Deployment.apps "web" is invalid: spec.selector: Required value'],
    [
      'maxSurge and maxUnavailable both 0',
      (d) => (d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } }),
      'Deployment.apps "web" is invalid: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0',
    ],
    [
      'both 0 as percentages',
      (d) => (d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '0%', maxUnavailable: '0%' } }),
      'Deployment.apps "web" is invalid: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0',
    ],
    ['maxUnavailable over 100%', (d) => (d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '150%' } }), 'Deployment.apps "web" is invalid: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "150%": must not be greater than 100%'],
    [
      'a bad percent',
      (d) => (d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 'x' } }),
      `Deployment.apps "web" is invalid: spec.strategy.rollingUpdate.maxSurge: Invalid value: "x": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')`,
    ],
    ['a restartPolicy other than Always', (d) => (d.spec.template.spec.restartPolicy = 'Never'), 'Deployment.apps "web" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
    ['an unknown strategy', (d) => (d.spec.strategy = { type: 'BlueGreen' }), 'Deployment.apps "web" is invalid: spec.strategy.type: Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"'],
    [
      'rollingUpdate with Recreate',
      (d) => (d.spec.strategy = { type: 'Recreate', rollingUpdate: { maxSurge: 1 } }),
      "Deployment.apps \"web\" is invalid: spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    ],
    ['progressDeadlineSeconds not above minReadySeconds', (d) => Object.assign(d.spec, { minReadySeconds: 10, progressDeadlineSeconds: 10 }), 'Deployment.apps "web" is invalid: spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds'],
    ['an empty selector', (d) => (d.spec.selector = {}), 'Deployment.apps "web" is invalid: spec.selector: Invalid value: map[string]interface {}{}: empty selector is invalid for deployment'],
  ];
  it.each(cases)('%s', (_, mutate, want) => {
    const got = errorOf(deploy(mutate));
    if (want.includes('empty selector')) expect(got).toContain('spec.selector: Invalid value:');
    if (want.includes('empty selector')) expect(got).toContain('empty selector is invalid for deployment');
    else expect(got).toBe(want);
  });
  it('a ReplicaSet with replicas < 0', () => {
    expect(errorOf(deploy((d) => (d.spec.replicas = -2), 'ReplicaSet'))).toBe('ReplicaSet.apps "web" is invalid: spec.replicas: Invalid value: -2: must be greater than or equal to 0');
  });
  it('the selector is immutable', () => {
    const old = deploy((d) => (d.metadata.resourceVersion = '5'));
    const next = deploy((d) => {
      d.metadata.resourceVersion = '5';
      d.spec.selector = { matchLabels: { app: 'web', tier: 'x' } };
      d.spec.template.metadata.labels.tier = 'x';
    });
    expect(errorOf(next, old)).toContain('spec.selector: Invalid value:');
    expect(errorOf(next, old)).toContain('field is immutable');
  });
});

describe('printer columns as kubectl shows them', () => {
  const head = (k: typeof deploymentKind, wide: boolean) => k.printer.columns.filter((c) => wide || c.priority === 0).map((c) => c.name.toUpperCase());
  it('deployments: NAME READY UP-TO-DATE AVAILABLE AGE; wide: CONTAINERS IMAGES SELECTOR', () => {
    const now = Date.now();
    const d = defaultObject(deploy()) as Obj;
    d.metadata.creationTimestamp = new Date(now - 5000).toISOString();
    d.status = { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 };
    expect(head(deploymentKind, true)).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
    expect(deploymentKind.printer.cells(d, now)).toEqual(['web', '2/3', 3, 2, '5s', 'nginx', 'nginx:1.25', 'app=web']);
  });
  it('replicasets: NAME DESIRED CURRENT READY AGE', () => {
    const r = defaultObject(deploy(() => {}, 'ReplicaSet')) as Obj;
    r.status = { replicas: 3, readyReplicas: 1 };
    expect(head(replicaSetKind, false)).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
    expect(replicaSetKind.printer.cells(r, Date.now()).slice(0, 4)).toEqual(['web', 3, 3, 1]);
  });
});
