// The DaemonSet controller's pure decisions: which nodes run a daemon pod
// (selector, node affinity, taints against the daemon tolerations), what a
// sync creates and deletes, rolling update pacing, status counts, history;
// and the scheduler's NodeAffinity plugin.
import { describe, expect, it } from 'vitest';
import { defaultObject, type DaemonSet, type Node, type Pod, type Taint } from '../../api/index.js';
import {
  computeStatus,
  newDaemonPod,
  nodeShouldRunDaemonPod,
  planManage,
  planRollingUpdate,
  revisionsToPrune,
  templateHash,
} from '../../controller/daemonset/index.js';
import { CycleState, NodeInfo, buildProfile, computePodInfo, newNodeAffinity, SchedulingAlgorithm } from '../../controller/scheduler/index.js';
import { makeNode } from './scheduler-fixtures.js';

function daemonSet(spec: Record<string, unknown> = {}, strategy?: Record<string, unknown>): DaemonSet {
  return defaultObject({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'default', uid: 'ds-uid', generation: 1 },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } },
      ...(strategy ? { updateStrategy: strategy } : {}),
    },
  }) as unknown as DaemonSet;
}

const node = (name: string, o: Parameters<typeof makeNode>[1] = {}): Node => makeNode(name, o);
let seq = 0;
/** A daemon pod for `nodeName`, bound, Ready (since long ago) unless told otherwise. */
function pod(ds: DaemonSet, nodeName: string, hash: string, o: { ready?: boolean; phase?: string; bound?: boolean; ageS?: number; deleting?: boolean } = {}): Pod {
  const p = newDaemonPod(ds, hash, nodeName);
  p.metadata.name = `agent-${++seq}`;
  p.metadata.uid = `pod-${seq}`;
  p.metadata.creationTimestamp = new Date(Date.now() - (o.ageS ?? 1000) * 1000).toISOString();
  if (o.deleting) p.metadata.deletionTimestamp = new Date().toISOString();
  if (o.bound !== false) p.spec.nodeName = nodeName;
  p.status = {
    phase: (o.phase ?? 'Running') as 'Running',
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: new Date(Date.now() - 500_000).toISOString() }],
  };
  return p;
}

describe('[daemonset] which nodes run a daemon pod', () => {
  const taint = (key: string, effect: Taint['effect']): Taint => ({ key, effect });
  it.each([
    ['a plain node', daemonSet(), node('n1'), true, true],
    ['nodeSelector matches', daemonSet({ nodeSelector: { disk: 'ssd' } }), node('n1', { labels: { disk: 'ssd' } }), true, true],
    ['nodeSelector does not match', daemonSet({ nodeSelector: { disk: 'ssd' } }), node('n1'), false, false],
    [
      'required node affinity NotIn excludes the node',
      daemonSet({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'role', operator: 'NotIn', values: ['edge'] }] }] } } } }),
      node('n1', { labels: { role: 'edge' } }),
      false,
      false,
    ],
    ['an untolerated NoSchedule taint: no new pod, an existing one stays', daemonSet(), node('n1', { taints: [taint('dedicated', 'NoSchedule')] }), false, true],
    ['an untolerated NoExecute taint: the pod must go', daemonSet(), node('n1', { taints: [taint('dedicated', 'NoExecute')] }), false, false],
    [
      'a tolerated taint',
      daemonSet({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] }),
      node('n1', { taints: [taint('dedicated', 'NoSchedule')] }),
      true,
      true,
    ],
    ['a cordoned node still runs daemon pods', daemonSet(), node('n1', { unschedulable: true, taints: [taint('node.kubernetes.io/unschedulable', 'NoSchedule')] }), true, true],
    ['a not-ready node (NoExecute) is tolerated', daemonSet(), node('n1', { taints: [taint('node.kubernetes.io/not-ready', 'NoExecute')] }), true, true],
    ['memory pressure is tolerated', daemonSet(), node('n1', { taints: [taint('node.kubernetes.io/memory-pressure', 'NoSchedule')] }), true, true],
    ['network-unavailable only for hostNetwork pods', daemonSet(), node('n1', { taints: [taint('node.kubernetes.io/network-unavailable', 'NoSchedule')] }), false, true],
    ['network-unavailable with hostNetwork', daemonSet({ hostNetwork: true }), node('n1', { taints: [taint('node.kubernetes.io/network-unavailable', 'NoSchedule')] }), true, true],
    ['a template nodeName naming another node', daemonSet({ nodeName: 'n2' }), node('n1'), false, false],
  ])('%s', (_n, ds, n, shouldRun, shouldContinueRunning) => {
    expect(nodeShouldRunDaemonPod(n, ds)).toEqual({ shouldRun, shouldContinueRunning });
  });

  it('a daemon pod carries the tolerations, the hash label, the owner and a matchFields affinity on its node', () => {
    const p = newDaemonPod(daemonSet(), 'h1', 'n7');
    expect(p.metadata.generateName).toBe('agent-');
    expect(p.metadata.labels).toEqual({ app: 'agent', 'controller-revision-hash': 'h1', 'pod-template-generation': '1' });
    expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'ds-uid', controller: true, blockOwnerDeletion: true }]);
    expect(p.spec.nodeName).toBeUndefined();
    expect(p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toEqual({
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n7'] }] }],
    });
    expect(p.spec.tolerations!.map((t) => `${t.key}:${t.effect}`)).toEqual([
      'node.kubernetes.io/not-ready:NoExecute',
      'node.kubernetes.io/unreachable:NoExecute',
      'node.kubernetes.io/disk-pressure:NoSchedule',
      'node.kubernetes.io/memory-pressure:NoSchedule',
      'node.kubernetes.io/pid-pressure:NoSchedule',
      'node.kubernetes.io/unschedulable:NoSchedule',
    ]);
    expect(p.spec.tolerations!.every((t) => t.tolerationSeconds === undefined && t.operator === 'Exists')).toBe(true);
  });
});

describe('[daemonset] manage', () => {
  const ds = daemonSet({ nodeSelector: { run: 'yes' } });
  const yes = (n: string) => node(n, { labels: { run: 'yes' } });
  it('creates on matching nodes without a pod, deletes from nodes that stopped matching and from nodes that are gone', () => {
    const pods = [pod(ds, 'n1', 'h'), pod(ds, 'n3', 'h'), pod(ds, 'gone', 'h')];
    const plan = planManage(ds, [yes('n1'), yes('n2'), node('n3')], pods, 'h');
    expect(plan.create).toEqual(['n2']);
    expect(plan.delete.map((d) => [d.pod.spec.nodeName, d.force ?? false])).toEqual([
      ['n3', false],
      ['gone', true],
    ]);
  });

  it('a pending pod (not bound yet) counts for the node its affinity names', () => {
    expect(planManage(ds, [yes('n1')], [pod(ds, 'n1', 'h', { bound: false })], 'h').create).toEqual([]);
  });

  it('keeps the oldest of two pods on a node; waits for a terminating one; reports failed ones', () => {
    const old = pod(ds, 'n1', 'h', { ageS: 100 });
    const young = pod(ds, 'n1', 'h', { ageS: 10 });
    const failed = pod(ds, 'n2', 'h', { phase: 'Failed' });
    const plan = planManage(ds, [yes('n1'), yes('n2'), yes('n3')], [young, old, failed, pod(ds, 'n3', 'h', { deleting: true })], 'h');
    expect(plan.delete.map((d) => d.pod.metadata.name)).toEqual([young.metadata.name]);
    expect(plan.failed.map((f) => f.node)).toEqual(['n2']);
    expect(plan.create).toEqual([]);
  });
});

describe('[daemonset] rolling update pacing', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => node(n));
  it('maxUnavailable 2: deletes two old available pods, never more than the budget', () => {
    const ds = daemonSet({}, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } });
    const pods = nodes.map((n) => pod(ds, n.metadata.name!, 'old'));
    expect(planRollingUpdate(ds, nodes, pods, 'new', Date.now()).delete).toHaveLength(2);
    // one node already updating (new pod not ready): one more
    pods[0] = pod(ds, 'n1', 'new', { ready: false });
    expect(planRollingUpdate(ds, nodes, pods, 'new', Date.now()).delete.map((p) => p.spec.nodeName)).toEqual(['n2']);
    // two nodes without an available pod: none
    pods[1] = pod(ds, 'n2', 'new', { ready: false });
    expect(planRollingUpdate(ds, nodes, pods, 'new', Date.now()).delete).toEqual([]);
  });

  it('an unavailable old pod is replaced at once, whatever the budget', () => {
    const ds = daemonSet({}, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    const pods = nodes.map((n, i) => pod(ds, n.metadata.name!, 'old', { ready: i >= 2 }));
    expect(planRollingUpdate(ds, nodes, pods, 'new', Date.now()).delete.map((p) => p.spec.nodeName).sort()).toEqual(['n1', 'n2']);
  });

  it('percentages are of the desired count, rounded up (20% of 5 = 1; 30% of 5 = 2)', () => {
    const pods = (ds: DaemonSet) => nodes.map((n) => pod(ds, n.metadata.name!, 'old'));
    const d20 = daemonSet({}, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '20%' } });
    const d30 = daemonSet({}, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '30%' } });
    expect(planRollingUpdate(d20, nodes, pods(d20), 'new', Date.now()).delete).toHaveLength(1);
    expect(planRollingUpdate(d30, nodes, pods(d30), 'new', Date.now()).delete).toHaveLength(2);
  });

  it('maxSurge 1: a new pod beside the old one, the old one goes once the new one is available', () => {
    const ds = daemonSet({}, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const pods = nodes.map((n) => pod(ds, n.metadata.name!, 'old'));
    expect(planRollingUpdate(ds, nodes, pods, 'new', Date.now())).toEqual({ create: ['n1'], delete: [] });
    const surgeNotReady = [...pods, pod(ds, 'n1', 'new', { ready: false })];
    expect(planRollingUpdate(ds, nodes, surgeNotReady, 'new', Date.now())).toEqual({ create: [], delete: [] });
    const surgeReady = [...pods, pod(ds, 'n1', 'new')];
    const r = planRollingUpdate(ds, nodes, surgeReady, 'new', Date.now());
    expect(r.create).toEqual([]);
    expect(r.delete.map((p) => [p.spec.nodeName, p.metadata.labels!['controller-revision-hash']])).toEqual([['n1', 'old']]);
  });
});

describe('[daemonset] status and history', () => {
  it('counts desired, current, ready, available, updated and misscheduled as Kubernetes', () => {
    const ds = daemonSet({ nodeSelector: { run: 'yes' } });
    const yes = (n: string) => node(n, { labels: { run: 'yes' } });
    const pods = [pod(ds, 'n1', 'new'), pod(ds, 'n2', 'old', { ready: false }), pod(ds, 'n4', 'new')];
    expect(computeStatus(ds, [yes('n1'), yes('n2'), yes('n3'), node('n4')], pods, 'new', Date.now())).toEqual({
      desiredNumberScheduled: 3,
      currentNumberScheduled: 2,
      numberMisscheduled: 1,
      numberReady: 1,
      updatedNumberScheduled: 1,
      numberAvailable: 1,
      numberUnavailable: 2,
    });
  });

  it('a node with a surge pod beside its old one is not updated until the old pod is gone', () => {
    const ds = daemonSet({}, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const nodes = [node('n1'), node('n2')];
    const old1 = pod(ds, 'n1', 'old', { ageS: 1000 });
    const new1 = pod(ds, 'n1', 'new', { ageS: 10 });
    const both = computeStatus(ds, nodes, [old1, new1, pod(ds, 'n2', 'new')], 'new', Date.now());
    expect(both.updatedNumberScheduled).toBe(1);
    expect(both.numberAvailable).toBe(2);
    expect(computeStatus(ds, nodes, [new1, pod(ds, 'n2', 'new')], 'new', Date.now()).updatedNumberScheduled).toBe(2);
  });

  it('hashes templates stably, in the safe alphabet, and differently for different templates', () => {
    const a = templateHash({ spec: { containers: [{ name: 'c', image: 'busybox' }] }, metadata: { labels: { a: 'b' } } });
    expect(a).toBe(templateHash({ metadata: { labels: { a: 'b' } }, spec: { containers: [{ image: 'busybox', name: 'c' }] } }));
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(templateHash({ spec: { containers: [{ name: 'c', image: 'busybox:2' }] } })).not.toBe(a);
    expect(templateHash({ x: 1 }, 1)).not.toBe(templateHash({ x: 1 }));
  });

  it('prunes the oldest revisions beyond revisionHistoryLimit, never one a live pod carries', () => {
    const rev = (n: number, hash: string) => ({ metadata: { name: `r${n}`, labels: { 'controller-revision-hash': hash } }, revision: n });
    const old = [rev(3, 'c'), rev(1, 'a'), rev(2, 'b')];
    expect(revisionsToPrune(old, 1, new Set(['a'])).map((r) => r.metadata.name)).toEqual(['r2', 'r3']);
    expect(revisionsToPrune(old, 3, new Set())).toEqual([]);
  });
});

describe('[scheduler] NodeAffinity', () => {
  const withAffinity = (affinity: unknown, nodeSelector?: Record<string, string>): Pod =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }], affinity, ...(nodeSelector ? { nodeSelector } : {}) } }) as Pod;
  const required = (...terms: unknown[]) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } });
  const filter = (p: Pod, n: Node) => {
    const s = newNodeAffinity().filter!(new CycleState(), p, new NodeInfo(n.metadata.name!, n));
    return s.code === 'Success' ? 'fits' : s.reasons.join();
  };
  const no = "node(s) didn't match Pod's node affinity/selector";
  it.each([
    ['In matches', required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }), { zone: 'b' }, 'fits'],
    ['In without the label', required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }), {}, no],
    ['NotIn without the label matches', required({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }), {}, 'fits'],
    ['Exists', required({ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }), { gpu: '' }, 'fits'],
    ['DoesNotExist', required({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }), { gpu: '1' }, no],
    ['Gt', required({ matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['4'] }] }), { cores: '8' }, 'fits'],
    ['Lt on a non-number', required({ matchExpressions: [{ key: 'cores', operator: 'Lt', values: ['4'] }] }), { cores: 'many' }, no],
    ['terms are ORed', required({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { matchExpressions: [{ key: 'b', operator: 'Exists' }] }), { b: 'x' }, 'fits'],
    ['requirements of a term are ANDed', required({ matchExpressions: [{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 'Exists' }] }), { b: 'x' }, no],
    ['matchFields metadata.name', required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }), {}, 'fits'],
    ['matchFields another name', required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }), {}, no],
    ['an empty term matches nothing', required({}), { a: 'b' }, no],
  ])('%s', (_n, aff, labels, want) => {
    expect(filter(withAffinity(aff), node('n1', { labels }))).toBe(want);
  });

  it('nodeSelector and affinity must both match, with the Kubernetes reason', () => {
    expect(filter(withAffinity(undefined, { disk: 'ssd' }), node('n1'))).toBe(no);
    expect(filter(withAffinity(required({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }), { disk: 'ssd' }), node('n1', { labels: { a: '1' } }))).toBe(no);
  });

  it('the default profile places a pod by affinity, prefers by weight, and counts failures', () => {
    const alg = new SchedulingAlgorithm(buildProfile(), { random: () => 0 });
    const infos = ['n1', 'n2', 'n3'].map((n, i) => new NodeInfo(n, node(n, { labels: { zone: `z${i}` } })));
    const pinned = withAffinity(required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n3'] }] }));
    expect(alg.schedule(pinned, infos)).toMatchObject({ ok: true, nodeName: 'n3' });
    const preferring = withAffinity({ nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] } }] } });
    expect(alg.schedule(preferring, infos)).toMatchObject({ ok: true, nodeName: 'n2' });
    const impossible = withAffinity(required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z9'] }] }));
    expect(alg.schedule(impossible, infos)).toMatchObject({ ok: false, message: `0/3 nodes are available: 3 ${no}.` });
  });
});

describe('[scheduler] InterPodAffinity', () => {
  const alg = () => new SchedulingAlgorithm(buildProfile(), { random: () => 0 });
  const mk = (name: string, labels: Record<string, string>, affinity?: unknown, ns = 'default'): Pod =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...(affinity ? { affinity } : {}) } }) as Pod;
  /** n1, n2 in zone a; n3 in zone b; `placed` maps node → pods on it. */
  function cluster(placed: Record<string, Pod[]> = {}): NodeInfo[] {
    return [
      ['n1', 'a'],
      ['n2', 'a'],
      ['n3', 'b'],
    ].map(([n, z]) => {
      const ni = new NodeInfo(n!, node(n!, { labels: { zone: z! } }));
      for (const p of placed[n!] ?? []) ni.addPod(computePodInfo(p));
      return ni;
    });
  }
  const antiHost = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'web' } } }] } };
  const withZoneOf = (app: string) => ({ podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', labelSelector: { matchLabels: { app } } }] } });

  it('required anti-affinity by hostname spreads pods one per node, then reports the rest', () => {
    const a = alg();
    const infos = cluster();
    const placed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = mk(`web-${i}`, { app: 'web' }, antiHost);
      const r = a.schedule(p, infos);
      expect(r.ok).toBe(true);
      if (r.ok) {
        placed.push(r.nodeName);
        infos.find((n) => n.name === r.nodeName)!.addPod(computePodInfo({ ...p, spec: { ...p.spec, nodeName: r.nodeName } }));
      }
    }
    expect(placed.sort()).toEqual(['n1', 'n2', 'n3']);
    expect(a.schedule(mk('web-3', { app: 'web' }, antiHost), infos)).toMatchObject({ ok: false, message: "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules." });
  });

  it('an existing pod\'s anti-affinity keeps a matching pod off its node (symmetry)', () => {
    const infos = cluster({ n1: [mk('guard', { app: 'guard' }, antiHost)], n2: [mk('x', {})] });
    const r = alg().schedule(mk('web', { app: 'web' }), infos.slice(0, 1));
    expect(r).toMatchObject({ ok: false, message: "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules." });
  });

  it('required affinity by zone: only nodes in the zone of a matching pod; the first pod of a group that selects itself goes anywhere', () => {
    const infos = cluster({ n3: [mk('db', { app: 'db' })] });
    expect(alg().schedule(mk('web', { app: 'web' }, withZoneOf('db')), infos)).toMatchObject({ ok: true, nodeName: 'n3' });
    expect(alg().schedule(mk('web', { app: 'web' }, withZoneOf('cache')), infos)).toMatchObject({ ok: false, message: "0/3 nodes are available: 3 node(s) didn't match pod affinity rules." });
    expect(alg().schedule(mk('first', { app: 'cache' }, withZoneOf('cache')), infos)).toMatchObject({ ok: true });
    // another namespace's pod does not count unless the term names it
    const other = cluster({ n3: [mk('db', { app: 'db' }, undefined, 'prod')] });
    expect(alg().schedule(mk('web', { app: 'web' }, withZoneOf('db')), other)).toMatchObject({ ok: false });
    const named = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', namespaces: ['prod'], labelSelector: { matchLabels: { app: 'db' } } }] } };
    expect(alg().schedule(mk('web', { app: 'web' }, named), other)).toMatchObject({ ok: true, nodeName: 'n3' });
  });

  it('preferred anti-affinity scores the nodes without a matching pod higher', () => {
    const pref = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'zone', labelSelector: { matchLabels: { app: 'web' } } } }] } };
    const infos = cluster({ n1: [mk('w1', { app: 'web' })] });
    expect(alg().schedule(mk('web', { app: 'web' }, pref), infos)).toMatchObject({ ok: true, nodeName: 'n3' });
  });
});
