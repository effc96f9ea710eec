import { describe, expect, it } from 'vitest';
import {
  SchedulerCache,
  SchedulingAlgorithm,
  buildProfile,
  computePodInfo,
  fitErrorMessage,
  numFeasibleNodesToFind,
  unresolvable,
  unschedulable,
  type ScheduleResult,
} from '../../controller/scheduler/index.js';
import type { Node, Pod } from '../../api/index.js';
import { makeNode, makePod, seededRandom } from './scheduler-fixtures.js';

function cacheOf(nodes: Node[], pods: Pod[] = []): SchedulerCache {
  const c = new SchedulerCache();
  for (const n of nodes) c.addOrUpdateNode(n);
  for (const p of pods) c.addOrUpdateBoundPod(p);
  return c;
}

/** Schedules pods one after another, assuming each like the scheduler loop does. */
function scheduleAll(alg: SchedulingAlgorithm, cache: SchedulerCache, pods: Pod[]): ScheduleResult[] {
  return pods.map((p) => {
    const r = alg.schedule(p, cache.nodeInfos());
    if (r.ok) cache.assumePod(p, r.nodeName);
    return r;
  });
}

describe('the FailedScheduling message', () => {
  it('counts reasons per node and sorts them by reason, as Kubernetes prints them', () => {
    const msg = fitErrorMessage(3, [
      unschedulable('Insufficient memory'),
      unresolvable("node(s) didn't match Pod's node affinity/selector"),
      unschedulable('Insufficient memory'),
    ]);
    expect(msg).toBe("0/3 nodes are available: 2 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector.");
  });

  it('counts each reason of a node that fails several ways', () => {
    expect(fitErrorMessage(2, [unschedulable('Insufficient cpu', 'Insufficient memory'), unschedulable('Insufficient memory')])).toBe(
      '0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory.',
    );
  });

  it('says so when the cluster has no nodes', () => {
    expect(fitErrorMessage(0, [])).toBe('no nodes available to schedule pods');
  });
});

describe('the scheduling algorithm', () => {
  const profile = () => buildProfile();

  it('explains why no node fits with one reason per node, first failing filter first', () => {
    const cache = cacheOf([
      makeNode('n1', { memory: '1Gi' }),
      makeNode('n2', { memory: '1Gi' }),
      makeNode('n3', { memory: '8Gi', labels: { disk: 'hdd' } }),
    ]);
    const alg = new SchedulingAlgorithm(profile(), { random: () => 0 });
    const pod = makePod('big', { memory: '2Gi', nodeSelector: { disk: 'hdd' } });
    pod.spec.nodeSelector = { 'kubernetes.io/hostname': 'n1' }; // matches n1 only, which lacks memory
    const r = alg.schedule(pod, cache.nodeInfos());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toBe("0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector.");
  });

  it('leaves out of a cycle the filters whose preFilter says Skip (nothing to check for this pod), and only those', () => {
    const cache = cacheOf([makeNode('n1'), makeNode('n2', { labels: { disk: 'ssd' } })]);
    const prof = profile();
    const ran = new Map<string, number>();
    for (const f of prof.filters) {
      const inner = f.filter!.bind(f);
      (f as { filter: typeof inner }).filter = (st, p, ni) => {
        ran.set(f.name, (ran.get(f.name) ?? 0) + 1);
        return inner(st, p, ni);
      };
    }
    const alg = new SchedulingAlgorithm(prof, { random: () => 0 });
    // No host ports, no node selector, no node name: those three filters never run.
    expect(alg.schedule(makePod('plain'), cache.nodeInfos())).toMatchObject({ ok: true });
    expect([...ran.keys()].sort()).toEqual(['NodeResourcesFit', 'NodeUnschedulable', 'TaintToleration']);
    // A pod that has all three: they run on every node, and still decide.
    ran.clear();
    const picky = makePod('picky', { nodeSelector: { disk: 'ssd' }, ports: [{ containerPort: 80, hostPort: 8080 }] });
    expect(alg.schedule(picky, cache.nodeInfos())).toMatchObject({ ok: true, nodeName: 'n2' });
    expect(ran.get('NodeAffinity')).toBe(2);
    expect(ran.get('NodePorts')).toBe(1);
    ran.clear();
    const named = makePod('named', { nodeName: 'n1' });
    const r = alg.schedule(named, cache.nodeInfos());
    expect(r).toMatchObject({ ok: true, nodeName: 'n1' });
    expect(ran.get('NodeName')).toBe(2);
  });

  it('reports untolerated taints with key and value, and unschedulable nodes', () => {
    const cache = cacheOf([makeNode('n1', { ready: 'False' }), makeNode('n2', { unschedulable: true }), makeNode('n3', { ready: 'Unknown' })]);
    const r = new SchedulingAlgorithm(profile(), { random: () => 0 }).schedule(makePod('p'), cache.nodeInfos());
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toBe(
        '0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 1 node(s) were unschedulable.',
      );
    }
  });

  it('spreads pods of one workload across nodes', () => {
    const cache = cacheOf([makeNode('n1'), makeNode('n2'), makeNode('n3')]);
    const alg = new SchedulingAlgorithm(profile(), { random: seededRandom(1) });
    const pods = Array.from({ length: 6 }, (_, i) => makePod(`web-${i}`, { labels: { app: 'web' }, cpu: '100m', memory: '64Mi' }));
    scheduleAll(alg, cache, pods);
    expect(cache.nodeInfos().map((ni) => ni.podCount)).toEqual([2, 2, 2]);
  });

  it('prefers the emptier node', () => {
    const cache = cacheOf([makeNode('n1'), makeNode('n2')], [makePod('old', { nodeName: 'n1', cpu: '3', memory: '6Gi' })]);
    const r = new SchedulingAlgorithm(profile(), { random: () => 0 }).schedule(makePod('p', { cpu: '500m', memory: '1Gi' }), cache.nodeInfos());
    expect(r).toMatchObject({ ok: true, nodeName: 'n2' });
  });

  it('breaks ties with the injected randomness, the same way each time', () => {
    const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3'), makeNode('n4')];
    const pick = (rand: number) =>
      new SchedulingAlgorithm(profile(), { random: () => rand }).schedule(makePod('p'), cacheOf(nodes).nodeInfos());
    expect(pick(0)).toMatchObject({ nodeName: 'n1' });
    expect(pick(0.99)).toMatchObject({ nodeName: 'n4' });
    expect(pick(0.5)).toMatchObject({ nodeName: 'n3' });
  });

  it('never oversubscribes a node when pods are assumed as they are placed', () => {
    const cache = cacheOf([makeNode('n1', { cpu: '2', memory: '4Gi', pods: '3' }), makeNode('n2', { cpu: '2', memory: '4Gi', pods: '3' })]);
    const alg = new SchedulingAlgorithm(profile(), { random: seededRandom(7) });
    const results = scheduleAll(alg, cache, Array.from({ length: 8 }, (_, i) => makePod(`p${i}`, { cpu: '500m', memory: '512Mi' })));
    expect(results.filter((r) => r.ok)).toHaveLength(6);
    const last = results[7]!;
    expect(last.ok).toBe(false);
    if (!last.ok) expect(last.message).toBe('0/2 nodes are available: 2 Too many pods.');
    for (const ni of cache.nodeInfos()) expect(ni.requested.milliCPU).toBeLessThanOrEqual(2000);
  });

  it('looks at a share of a large cluster per pod, starting where the last search stopped', () => {
    expect(numFeasibleNodesToFind(50)).toBe(50);
    expect(numFeasibleNodesToFind(1000)).toBe(420);
    expect(numFeasibleNodesToFind(5000)).toBe(500);
    expect(numFeasibleNodesToFind(150)).toBe(100);
    expect(numFeasibleNodesToFind(1000, 100)).toBe(1000);
    const cache = cacheOf(Array.from({ length: 200 }, (_, i) => makeNode(`n${i}`)));
    const alg = new SchedulingAlgorithm(profile(), { random: () => 0 });
    const a = alg.schedule(makePod('a'), cache.nodeInfos());
    expect(a).toMatchObject({ ok: true, evaluatedNodes: 100, feasibleNodes: 100 });
  });

  it('schedules 1000 pods onto 100 nodes within every node capacity (micro benchmark)', () => {
    const cache = cacheOf(Array.from({ length: 100 }, (_, i) => makeNode(`n${i}`, { cpu: '4', memory: '8Gi' })));
    const alg = new SchedulingAlgorithm(profile(), { random: seededRandom(3) });
    const pods = Array.from({ length: 1000 }, (_, i) => makePod(`p${i}`, { labels: { app: `a${i % 10}` }, cpu: '100m', memory: '128Mi' }));
    const t0 = performance.now();
    const results = scheduleAll(alg, cache, pods);
    const ms = performance.now() - t0;
    expect(results.every((r) => r.ok)).toBe(true);
    const counts = cache.nodeInfos().map((ni) => ni.podCount);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    // A figure to read, never an assertion: pods per second of pure decisions.
    console.info(`scheduler micro benchmark: 1000 pods / 100 nodes in ${ms.toFixed(0)} ms (${((1000 / ms) * 1000).toFixed(0)} pods/s)`);
  });
});

describe('the scheduler cache', () => {
  it('counts a bound pod once through assume, confirm and status updates; follows label changes and a new pod of the same name', () => {
    const cache = cacheOf([makeNode('n1')]);
    const pending = makePod('web', { cpu: '500m', memory: '256Mi', labels: { app: 'web' } });
    cache.assumePod(pending, 'n1');
    const bound: Pod = { ...pending, spec: { ...pending.spec, nodeName: 'n1' } };
    cache.addOrUpdateBoundPod(bound);
    const ni = cache.nodeInfo('n1')!;
    expect(cache.isAssumed('default/web')).toBe(false);
    expect(ni.requested).toEqual({ milliCPU: 500, memory: 256 * 2 ** 20 });
    cache.addOrUpdateBoundPod({ ...bound, status: { phase: 'Running' } });
    expect(ni.podCount).toBe(1);
    expect(ni.requested).toEqual({ milliCPU: 500, memory: 256 * 2 ** 20 });
    // Labels decide spreading: a relabelled pod moves to the new label set.
    const relabelled = { ...bound, metadata: { ...bound.metadata, labels: { app: 'api' } } };
    cache.addOrUpdateBoundPod(relabelled);
    expect(ni.spreadCountOf(computePodInfo(relabelled).spreadSignature!)).toBe(1);
    expect(ni.spreadCountOf(computePodInfo(bound).spreadSignature!)).toBe(0);
    // Deleted and created again under the same name, with other requests: counted anew.
    const again = makePod('web', { cpu: '1', memory: '1Gi', labels: { app: 'api' } });
    again.metadata.uid = 'uid-web-2';
    again.spec.nodeName = 'n1';
    cache.addOrUpdateBoundPod(again);
    expect(ni.podCount).toBe(1);
    expect(ni.requested).toEqual({ milliCPU: 1000, memory: 2 ** 30 });
  });

  it('forgets a label set used for spreading once no placed pod carries it, and keeps its own table apart from another cache', () => {
    const cache = cacheOf([makeNode('n1'), makeNode('n2')]);
    const other = cacheOf([makeNode('n1')]);
    const web = (name: string, node: string) => makePod(name, { nodeName: node, labels: { app: 'web' } });
    cache.addOrUpdateBoundPod(web('w1', 'n1'));
    cache.addOrUpdateBoundPod(web('w2', 'n2'));
    cache.addOrUpdateBoundPod(makePod('db', { nodeName: 'n2', labels: { app: 'db' } }));
    expect(cache.spreadKeys.size).toBe(2);
    expect(other.spreadKeys.size).toBe(0);
    cache.removePod('default/w1');
    expect(cache.spreadKeys.size).toBe(2); // w2 still carries app=web
    cache.removePod('default/w2');
    cache.removeNode('n2');
    cache.removePod('default/db');
    expect(cache.spreadKeys.size).toBe(0);
    expect(cache.nodeInfo('n2')).toBeUndefined();
  });
});
