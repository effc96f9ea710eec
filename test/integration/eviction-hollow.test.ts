// [eviction] against the real controller (managed etcd, scheduler, node
// lifecycle, disruption, replicaset and deployment controllers) with hollow
// nodes joined through the real join path: DefaultTolerationSeconds admission
// (with the controller's flag), a node whose agent stops is tainted, its pods
// turn Ready=False at once and are evicted after their tolerationSeconds, gone
// from the API and replaced on the other nodes; pods/eviction with and without
// a PodDisruptionBudget (429 with kube-apiserver's wording); real kubectl 1.20
// and 1.33 cordon, uncordon and drain, and flotctl drain.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Node, Pod, PodDisruptionBudget } from '../../api/index.js';
import { eventually } from '../helpers/flotctl.js';
import { HollowCluster } from '../helpers/hollow-cluster.js';
import { REPO_ROOT } from '../helpers/lab.js';

const PREFIX = `evh${process.pid % 1000}`;
const N1 = `${PREFIX}-n1`;
const N2 = `${PREFIX}-n2`;
const N3 = `${PREFIX}-n3`;
const cluster = new HollowCluster({ prefix: PREFIX, nodes: 3, runArgs: ['--node-monitor-grace-period', '2', '--default-unreachable-toleration-seconds', '4'] });
const { api, kubectl, ok, apply } = cluster;
beforeAll(cluster.start, 120_000);
afterAll(cluster.stop, 60_000);

const getNode = async (name: string) => (await api<Node>('GET', `/api/v1/nodes/${name}`)).body;
const podsOf = async (label: string): Promise<Pod[]> => (await api<{ items: Pod[] }>('GET', `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(label)}`)).body.items;
const isReady = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
const readyOn = (pods: Pod[], nodes: string[]) => pods.filter((p) => isReady(p) && nodes.includes(p.spec.nodeName ?? ''));

function deploymentYaml(name: string, replicas: number, tolerationSeconds?: number): string {
  const tol =
    tolerationSeconds === undefined
      ? ''
      : `      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: ${tolerationSeconds}}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: ${tolerationSeconds}}
`;
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      terminationGracePeriodSeconds: 1
${tol}      containers:
      - name: main
        image: busybox
        command: [sleep, "3600"]
`;
}

describe('[eviction] default tolerations and taint-based eviction', () => {
  it('admission gives every pod the not-ready and unreachable NoExecute tolerations (the unreachable one from the controller flag)', async () => {
    await ok(['run', `${PREFIX}-plain`, '--image=busybox', '--restart=Never', '--', 'sleep', '3600']);
    const p = (await api<Pod>('GET', `/api/v1/namespaces/default/pods/${PREFIX}-plain`)).body;
    expect(p.spec.tolerations).toEqual([
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 4 },
    ]);
    await ok(['delete', 'pod', `${PREFIX}-plain`, '--wait=false']);
  });

  it('real kubectl 1.33 and 1.20 cordon and uncordon: spec.unschedulable and the unschedulable taint', async () => {
    expect((await ok(['cordon', N1])).trim()).toBe(`node/${N1} cordoned`);
    expect((await ok(['cordon', N2], '1.20')).trim()).toBe(`node/${N2} cordoned`);
    expect((await ok(['cordon', N2], '1.20')).trim()).toBe(`node/${N2} already cordoned`);
    await eventually('the unschedulable taints', async () => {
      const ns = await Promise.all([getNode(N1), getNode(N2)]);
      return ns.every((n) => n.spec?.unschedulable === true && n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unschedulable' && t.effect === 'NoSchedule'));
    });
    const out = await ok(['get', 'nodes', N1]);
    expect(out).toContain('Ready,SchedulingDisabled');
  });

  it('a node whose agent stops: tainted, its pods Ready=False at once, evicted after tolerationSeconds, gone, replaced on the other nodes', async () => {
    // every pod lands on n3 (n1, n2 cordoned), then n1 and n2 take new pods again
    await apply(deploymentYaml(`${PREFIX}-web`, 3, 3));
    const first = await eventually('3 pods Ready on n3', async () => {
      const ps = readyOn(await podsOf(`app=${PREFIX}-web`), [N3]);
      return ps.length === 3 ? ps : undefined;
    }, 60_000);
    expect((await ok(['uncordon', N1])).trim()).toBe(`node/${N1} uncordoned`);
    expect((await ok(['uncordon', N2], '1.20')).trim()).toBe(`node/${N2} uncordoned`);
    await eventually('taints gone', async () => !(await getNode(N1)).spec?.taints?.length && !(await getNode(N2)).spec?.taints?.length);
    const stoppedAt = Date.now();
    await cluster.stopNode(N3);
    const taint = await eventually('n3 tainted NoExecute', async () =>
      (await getNode(N3)).spec?.taints?.find((t) => (t.key === 'node.kubernetes.io/unreachable' || t.key === 'node.kubernetes.io/not-ready') && t.effect === 'NoExecute'),
    15_000, 100);
    expect(taint.timeAdded).toMatch(/^\d{4}-\d\d-\d\dT/);
    const taintedAt = Date.now();
    // Ready=False at once (before the 3 s toleration runs out)
    await eventually('the pods Ready=False', async () => {
      const ps = (await podsOf(`app=${PREFIX}-web`)).filter((p) => first.some((f) => f.metadata.uid === p.metadata.uid));
      return ps.length === 3 && ps.every((p) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False') && ps.every((p) => !p.metadata.deletionTimestamp);
    }, 2_500, 100);
    const events = await eventually('TaintManagerEviction events', async () => {
      const evs = (await api<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>('GET', '/api/v1/namespaces/default/events')).body.items;
      const mine = evs.filter((e) => e.reason === 'TaintManagerEviction' && first.some((f) => f.metadata.name === e.involvedObject.name));
      return mine.length === 3 ? mine : undefined;
    }, 20_000);
    expect(events.map((e) => e.message).sort()).toEqual(first.map((f) => `Marking for deletion Pod default/${f.metadata.name}`).sort());
    await eventually('the old pods gone from the API', async () => {
      const ps = await podsOf(`app=${PREFIX}-web`);
      return !ps.some((p) => first.some((f) => f.metadata.uid === p.metadata.uid));
    }, 20_000);
    const elapsedAfterTaint = (Date.now() - taintedAt) / 1000;
    expect(elapsedAfterTaint).toBeGreaterThanOrEqual(2); // not before the toleration (3 s, from the taint's timeAdded)
    await eventually('3 replacement pods Ready on n1/n2', async () => readyOn(await podsOf(`app=${PREFIX}-web`), [N1, N2]).length === 3, 30_000);
    expect((Date.now() - stoppedAt) / 1000).toBeLessThan(2 + 3 + 15 + 5);
  }, 90_000);
});

describe('[eviction] pods/eviction and PodDisruptionBudgets', () => {
  it('429 with kube-apiserver\'s wording while the budget allows no disruption; eviction once it does', async () => {
    await apply(`apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: ${PREFIX}-pdb
spec:
  minAvailable: 3
  selector:
    matchLabels: {app: ${PREFIX}-web}
`);
    await eventually('the budget computed', async () => {
      const b = (await api<PodDisruptionBudget>('GET', `/apis/policy/v1/namespaces/default/poddisruptionbudgets/${PREFIX}-pdb`)).body;
      return b.status?.observedGeneration === 1 && b.status.currentHealthy === 3 && b.status.desiredHealthy === 3 && b.status.disruptionsAllowed === 0 && b.status.expectedPods === 3;
    });
    const [head, row] = (await ok(['get', 'pdb', `${PREFIX}-pdb`])).trim().split('\n');
    expect(head!.split(/\s{2,}/)).toEqual(['NAME', 'MIN AVAILABLE', 'MAX UNAVAILABLE', 'ALLOWED DISRUPTIONS', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 4)).toEqual([`${PREFIX}-pdb`, '3', 'N/A', '0']);
    const [victim] = await podsOf(`app=${PREFIX}-web`);
    const name = victim!.metadata.name!;
    const r = await api<{ code: number; reason: string; message: string; details: { causes: { reason: string; message: string }[] } }>('POST', `/api/v1/namespaces/default/pods/${name}/eviction`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name, namespace: 'default' },
    });
    expect(r.status).toBe(429);
    expect(r.body).toMatchObject({ code: 429, reason: 'TooManyRequests', message: "Cannot evict pod as it would violate the pod's disruption budget." });
    expect(r.body.details.causes).toEqual([{ reason: 'DisruptionBudget', message: `The disruption budget ${PREFIX}-pdb needs 3 healthy pods and has 3 currently` }]);
    expect((await api('GET', `/api/v1/namespaces/default/pods/${name}`)).status).toBe(200);
    await ok(['patch', 'pdb', `${PREFIX}-pdb`, '--type=merge', '-p', '{"spec":{"minAvailable":2}}']);
    await eventually('one disruption allowed', async () => (await api<PodDisruptionBudget>('GET', `/apis/policy/v1/namespaces/default/poddisruptionbudgets/${PREFIX}-pdb`)).body.status?.disruptionsAllowed === 1);
    const r2 = await api<{ status: string }>('POST', `/api/v1/namespaces/default/pods/${name}/eviction`, { apiVersion: 'policy/v1beta1', kind: 'Eviction', metadata: { name, namespace: 'default' } });
    expect(r2.status).toBe(201);
    expect(r2.body.status).toBe('Success');
    await eventually('the evicted pod gone', async () => (await api('GET', `/api/v1/namespaces/default/pods/${name}`)).status === 404);
    await ok(['delete', 'pdb', `${PREFIX}-pdb`]);
  }, 60_000);

  it('the documentation example manifests/pdb.yaml applies with kubectl 1.33 and its status counts no pods', async () => {
    await ok(['apply', '-f', join(REPO_ROOT, 'manifests', 'pdb.yaml')]);
    const b = await eventually('zk-pdb computed', async () => {
      const x = (await api<PodDisruptionBudget>('GET', '/apis/policy/v1/namespaces/default/poddisruptionbudgets/zk-pdb')).body;
      return x.status?.observedGeneration === 1 ? x : undefined;
    });
    expect(b.spec).toEqual({ minAvailable: 2, selector: { matchLabels: { app: 'zookeeper' } } });
    expect(b.status).toMatchObject({ expectedPods: 0, currentHealthy: 0, desiredHealthy: 2, disruptionsAllowed: 0 });
    await ok(['delete', '-f', join(REPO_ROOT, 'manifests', 'pdb.yaml')]);
  });

  it('a pod no budget selects is evicted at once', async () => {
    await ok(['run', `${PREFIX}-lone`, '--image=busybox', '--restart=Never', '--', 'sleep', '3600']);
    await eventually('lone running', async () => (await api<Pod>('GET', `/api/v1/namespaces/default/pods/${PREFIX}-lone`)).body.status?.phase === 'Running');
    const r = await api('POST', `/api/v1/namespaces/default/pods/${PREFIX}-lone/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: `${PREFIX}-lone` } });
    expect(r.status).toBe(201);
    await eventually('lone gone', async () => (await api('GET', `/api/v1/namespaces/default/pods/${PREFIX}-lone`)).status === 404);
  });
});

describe('[eviction] drain', () => {
  it('kubectl 1.33 drain refuses a pod without a controller unless --force, and drains with --ignore-daemonsets --force', async () => {
    await ok(['cordon', N1]);
    await apply(`apiVersion: v1
kind: Pod
metadata:
  name: ${PREFIX}-bare
spec:
  nodeName: ${N2}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox, command: [sleep, "3600"]}
`);
    await eventually('bare running', async () => (await api<Pod>('GET', `/api/v1/namespaces/default/pods/${PREFIX}-bare`)).body.status?.phase === 'Running');
    await ok(['uncordon', N1]);
    const refused = await kubectl(['drain', N2, '--ignore-daemonsets', '--timeout=60s']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`cannot delete Pods that declare no controller (use --force to override): default/${PREFIX}-bare`);
    const onN2 = (await podsOf(`app=${PREFIX}-web`)).filter((p) => p.spec.nodeName === N2);
    const r = await kubectl(['drain', N2, '--ignore-daemonsets', '--force', '--timeout=60s']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`node/${N2} already cordoned`);
    expect(r.stdout).toContain(`evicting pod default/${PREFIX}-bare`);
    expect(r.stdout).toContain(`pod/${PREFIX}-bare evicted`);
    for (const p of onN2) expect(r.stdout).toContain(`pod/${p.metadata.name} evicted`);
    expect(r.stdout).toContain(`node/${N2} drained`);
    expect(r.stderr).toContain(`Warning: deleting Pods that declare no controller: default/${PREFIX}-bare`);
    expect((await getNode(N2)).spec?.unschedulable).toBe(true);
    await eventually('web pods all Ready on n1', async () => readyOn(await podsOf(`app=${PREFIX}-web`), [N1]).length === 3, 30_000);
    await ok(['uncordon', N2]);
  }, 120_000);

  it('kubectl 1.20 drain --ignore-daemonsets --force (policy eviction from discovery)', async () => {
    const r = await kubectl(['drain', N1, '--ignore-daemonsets', '--force', '--timeout=60s'], '1.20');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`node/${N1} cordoned`);
    expect(r.stdout).toMatch(/evicting pod "?default\/?/);
    // kubectl 1.20 ends with `node/x evicted` (later versions say drained)
    expect(r.stdout.trim().split('\n').at(-1)).toBe(`node/${N1} evicted`);
    await eventually('web pods all Ready on n2', async () => readyOn(await podsOf(`app=${PREFIX}-web`), [N2]).length === 3, 30_000);
    await ok(['uncordon', N1], '1.20');
  }, 120_000);

  it('flotctl drain and uncordon', async () => {
    const r = await cluster.flotctl(['drain', N2, '--ignore-daemonsets', '--timeout', '60s']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`node/${N2} cordoned`);
    expect(lines.filter((l) => l.startsWith('evicting pod default/'))).toHaveLength(3);
    expect(lines.filter((l) => /^pod\/\S+ evicted$/.test(l))).toHaveLength(3);
    expect(lines.at(-1)).toBe(`node/${N2} drained`);
    await eventually('web pods all Ready on n1', async () => readyOn(await podsOf(`app=${PREFIX}-web`), [N1]).length === 3, 30_000);
    const u = await cluster.flotctl(['uncordon', N2]);
    expect(u.stdout.trim()).toBe(`node/${N2} uncordoned`);
  }, 120_000);
});
