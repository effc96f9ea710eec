import { describe, expect, it } from 'vitest';
import {
  CycleState,
  NodeInfo,
  computePodInfo,
  defaultRegistry,
  newBalancedAllocation,
  newLeastAllocated,
  newNodeName,
  newNodePorts,
  newNodeResourcesFit,
  newNodeSelector,
  newNodeUnschedulable,
  newSelectorSpread,
  newTaintToleration,
  type Plugin,
  type Status,
} from '../../controller/scheduler/index.js';
import type { Node, Pod } from '../../api/index.js';
import { makeNode, makePod } from './scheduler-fixtures.js';

function nodeWith(node: Node, pods: Pod[] = []): NodeInfo {
  const ni = new NodeInfo(node.metadata.name!, node);
  for (const p of pods) ni.addPod(computePodInfo(p));
  return ni;
}

function filter(plugin: Plugin, pod: Pod, ni: NodeInfo): Pick<Status, 'code' | 'reasons'> {
  const s = plugin.filter!(new CycleState(), pod, ni);
  return { code: s.code, reasons: [...s.reasons] };
}

const ok = { code: 'Success', reasons: [] };

describe('scheduler filters', () => {
  it.each([
    ['a pod without nodeName fits any node', makePod('p'), makeNode('n1'), ok],
    ['a pod naming this node fits it', makePod('p', { nodeName: 'n1' }), makeNode('n1'), ok],
    [
      'a pod naming another node does not fit',
      makePod('p', { nodeName: 'n2' }),
      makeNode('n1'),
      { code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match the requested node name"] },
    ],
  ])('NodeName: %s', (_name, pod, node, want) => {
    expect(filter(newNodeName(), pod, nodeWith(node))).toEqual(want);
  });

  it.each([
    ['no nodeSelector fits any node', makePod('p'), makeNode('n1'), ok],
    ['a matching selector fits', makePod('p', { nodeSelector: { disk: 'ssd' } }), makeNode('n1', { labels: { disk: 'ssd' } }), ok],
    [
      'a label with another value does not fit',
      makePod('p', { nodeSelector: { disk: 'ssd' } }),
      makeNode('n1', { labels: { disk: 'hdd' } }),
      { code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match Pod's node affinity/selector"] },
    ],
    [
      'every key must match',
      makePod('p', { nodeSelector: { disk: 'ssd', zone: 'a' } }),
      makeNode('n1', { labels: { disk: 'ssd' } }),
      { code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match Pod's node affinity/selector"] },
    ],
  ])('NodeSelector: %s', (_name, pod, node, want) => {
    expect(filter(newNodeSelector(), pod, nodeWith(node))).toEqual(want);
  });

  it.each([
    ['a schedulable node fits', makePod('p'), makeNode('n1'), ok],
    [
      'a cordoned node does not fit',
      makePod('p'),
      makeNode('n1', { unschedulable: true }),
      { code: 'UnschedulableAndUnresolvable', reasons: ['node(s) were unschedulable'] },
    ],
    [
      'a pod tolerating the unschedulable taint fits a cordoned node',
      makePod('p', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }),
      makeNode('n1', { unschedulable: true }),
      ok,
    ],
  ])('NodeUnschedulable: %s', (_name, pod, node, want) => {
    expect(filter(newNodeUnschedulable(), pod, nodeWith(node))).toEqual(want);
  });

  const untolerated = (key: string, value = '') => ({
    code: 'UnschedulableAndUnresolvable',
    reasons: [`node(s) had untolerated taint {${key}: ${value}}`],
  });
  it.each([
    ['an untainted Ready node fits', makePod('p'), makeNode('n1'), ok],
    ['a NoSchedule taint rejects', makePod('p'), makeNode('n1', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), untolerated('dedicated', 'gpu')],
    ['a NoExecute taint rejects', makePod('p'), makeNode('n1', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }] }), untolerated('node.kubernetes.io/not-ready')],
    ['a PreferNoSchedule taint does not reject', makePod('p'), makeNode('n1', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }), ok],
    [
      'an Equal toleration with the value tolerates',
      makePod('p', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] }),
      makeNode('n1', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
      ok,
    ],
    [
      'an Equal toleration with another value does not',
      makePod('p', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] }),
      makeNode('n1', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
      untolerated('dedicated', 'gpu'),
    ],
    [
      'a toleration for another effect does not',
      makePod('p', { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }] }),
      makeNode('n1', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
      untolerated('dedicated', 'gpu'),
    ],
    [
      'an empty key with Exists tolerates everything',
      makePod('p', { tolerations: [{ operator: 'Exists' }] }),
      makeNode('n1', { taints: [{ key: 'a', effect: 'NoSchedule' }, { key: 'b', effect: 'NoExecute' }] }),
      ok,
    ],
    ['a node whose Ready is False carries not-ready', makePod('p'), makeNode('n1', { ready: 'False' }), untolerated('node.kubernetes.io/not-ready')],
    ['a node without a Ready condition carries not-ready', makePod('p'), makeNode('n1', { ready: 'none' }), untolerated('node.kubernetes.io/not-ready')],
    ['a node whose Ready is Unknown carries unreachable', makePod('p'), makeNode('n1', { ready: 'Unknown' }), untolerated('node.kubernetes.io/unreachable')],
    [
      'a pod tolerating not-ready fits a NotReady node',
      makePod('p', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] }),
      makeNode('n1', { ready: 'False' }),
      ok,
    ],
  ])('TaintToleration: %s', (_name, pod, node, want) => {
    expect(filter(newTaintToleration(), pod, nodeWith(node))).toEqual(want);
  });

  const unsched = (...reasons: string[]) => ({ code: 'Unschedulable', reasons });
  it.each([
    ['requests that fit pass', makePod('p', { cpu: '1', memory: '1Gi' }), makeNode('n1', { cpu: '2', memory: '2Gi' }), [], ok],
    ['a pod without requests fits a full node', makePod('p'), makeNode('n1', { cpu: '1', memory: '1Gi' }), [makePod('q', { cpu: '1', memory: '1Gi' })], ok],
    ['too much memory', makePod('p', { memory: '3Gi' }), makeNode('n1', { memory: '2Gi' }), [], unsched('Insufficient memory')],
    ['too much cpu', makePod('p', { cpu: '2500m' }), makeNode('n1', { cpu: '2' }), [], unsched('Insufficient cpu')],
    ['pods already there count', makePod('p', { cpu: '1' }), makeNode('n1', { cpu: '2' }), [makePod('q', { cpu: '1500m' })], unsched('Insufficient cpu')],
    ['both short', makePod('p', { cpu: '3', memory: '3Gi' }), makeNode('n1', { cpu: '2', memory: '2Gi' }), [], unsched('Insufficient cpu', 'Insufficient memory')],
    ['max pods reached', makePod('p'), makeNode('n1', { pods: '1' }), [makePod('q')], unsched('Too many pods')],
    ['an exact fit passes', makePod('p', { cpu: '1', memory: '1Gi' }), makeNode('n1', { cpu: '2', memory: '2Gi' }), [makePod('q', { cpu: '1', memory: '1Gi' })], ok],
  ])('NodeResourcesFit: %s', (_name, pod, node, existing, want) => {
    expect(filter(newNodeResourcesFit(), pod, nodeWith(node, existing))).toEqual(want);
  });

  it('NodeResourcesFit: a node reporting no max pods takes 110', () => {
    const node = makeNode('n1');
    delete node.status!.allocatable!.pods;
    delete node.status!.capacity!.pods;
    const pods = Array.from({ length: 110 }, (_, i) => makePod(`q${i}`));
    expect(filter(newNodeResourcesFit(), makePod('p'), nodeWith(node, pods.slice(0, 109)))).toEqual(ok);
    expect(filter(newNodeResourcesFit(), makePod('p'), nodeWith(node, pods))).toEqual(unsched('Too many pods'));
  });

  const noPorts = unsched("node(s) didn't have free ports for the requested pod ports");
  it.each([
    ['no host ports fit anywhere', makePod('p', { ports: [{ containerPort: 80 }] }), [makePod('q', { ports: [{ containerPort: 80, hostPort: 80 }] })], ok],
    ['a free host port fits', makePod('p', { ports: [{ containerPort: 80, hostPort: 8080 }] }), [makePod('q', { ports: [{ containerPort: 80, hostPort: 80 }] })], ok],
    ['a taken host port does not', makePod('p', { ports: [{ containerPort: 80, hostPort: 80 }] }), [makePod('q', { ports: [{ containerPort: 81, hostPort: 80 }] })], noPorts],
    ['the same port on another protocol fits', makePod('p', { ports: [{ containerPort: 53, hostPort: 53, protocol: 'UDP' }] }), [makePod('q', { ports: [{ containerPort: 53, hostPort: 53 }] })], ok],
    [
      'the same port on two different host IPs fits',
      makePod('p', { ports: [{ containerPort: 80, hostPort: 80, hostIP: '10.0.0.2' }] }),
      [makePod('q', { ports: [{ containerPort: 80, hostPort: 80, hostIP: '10.0.0.1' }] })],
      ok,
    ],
    [
      '0.0.0.0 clashes with a specific IP',
      makePod('p', { ports: [{ containerPort: 80, hostPort: 80 }] }),
      [makePod('q', { ports: [{ containerPort: 80, hostPort: 80, hostIP: '10.0.0.1' }] })],
      noPorts,
    ],
    ['hostNetwork container ports are host ports', makePod('p', { hostNetwork: true, ports: [{ containerPort: 80 }] }), [makePod('q', { ports: [{ containerPort: 80, hostPort: 80 }] })], noPorts],
  ])('NodePorts: %s', (_name, pod, existing, want) => {
    expect(filter(newNodePorts(), pod, nodeWith(makeNode('n1'), existing))).toEqual(want);
  });

  it('a removed pod frees its resources and ports', () => {
    const ni = nodeWith(makeNode('n1', { cpu: '1' }), [makePod('q', { cpu: '1', ports: [{ containerPort: 80, hostPort: 80 }] })]);
    const pod = makePod('p', { cpu: '1', ports: [{ containerPort: 80, hostPort: 80 }] });
    expect(filter(newNodeResourcesFit(), pod, ni).code).toBe('Unschedulable');
    ni.removePod('default/q');
    expect(filter(newNodeResourcesFit(), pod, ni)).toEqual(ok);
    expect(filter(newNodePorts(), pod, ni)).toEqual(ok);
    expect(ni.requested).toEqual({ milliCPU: 0, memory: 0 });
  });
});

describe('scheduler scores', () => {
  const score = (plugin: Plugin, pod: Pod, ni: NodeInfo) => plugin.score!(new CycleState(), pod, ni);

  it.each([
    ['an empty node scores high', makeNode('n', { cpu: '4', memory: '8Gi' }), [], makePod('p', { cpu: '1', memory: '2Gi' }), 75],
    ['a half-used node scores lower', makeNode('n', { cpu: '4', memory: '8Gi' }), [makePod('q', { cpu: '1', memory: '2Gi' })], makePod('p', { cpu: '1', memory: '2Gi' }), 50],
    ['a pod beyond capacity scores 0', makeNode('n', { cpu: '1', memory: '1Gi' }), [], makePod('p', { cpu: '2', memory: '2Gi' }), 0],
  ])('NodeResourcesLeastAllocated: %s', (_name, node, existing, pod, want) => {
    expect(score(newLeastAllocated(), pod, nodeWith(node, existing))).toBe(want);
  });

  it('NodeResourcesLeastAllocated counts pods without requests at 100m / 200Mi', () => {
    const ni = nodeWith(makeNode('n', { cpu: '1', memory: '1000Mi' }));
    // (1000-100)/1000 = 90; (1000-200)/1000 = 80; mean 85.
    expect(score(newLeastAllocated(), makePod('p'), ni)).toBe(85);
  });

  it.each([
    ['equal fractions are perfectly balanced', makePod('p', { cpu: '1', memory: '2Gi' }), 100],
    ['cpu-heavy is unbalanced', makePod('p', { cpu: '4', memory: '1Gi' }), Math.trunc((1 - Math.abs(1 - 0.125) / 2) * 100)],
  ])('NodeResourcesBalancedAllocation: %s', (_name, pod, want) => {
    expect(score(newBalancedAllocation(), pod, nodeWith(makeNode('n', { cpu: '4', memory: '8Gi' })))).toBe(want);
  });

  it('SelectorSpread prefers the node with the fewest pods carrying the same labels', () => {
    const plugin = newSelectorSpread();
    const pod = makePod('web-3', { labels: { app: 'web' } });
    const nodes = [
      nodeWith(makeNode('n1'), [makePod('web-1', { labels: { app: 'web' } }), makePod('web-2', { labels: { app: 'web' } })]),
      nodeWith(makeNode('n2'), [makePod('web-0', { labels: { app: 'web' } }), makePod('db', { labels: { app: 'db' } })]),
      nodeWith(makeNode('n3'), [makePod('other', { labels: { app: 'web' }, namespace: 'prod' })]),
    ];
    const state = new CycleState();
    const scores = nodes.map((ni) => plugin.score!(state, pod, ni));
    expect(scores).toEqual([2, 1, 0]);
    plugin.normalizeScores!(state, pod, scores);
    expect(scores).toEqual([0, 50, 100]);
  });

  it('TaintToleration scores nodes with untolerated PreferNoSchedule taints lower', () => {
    const plugin = newTaintToleration();
    const pod = makePod('p');
    const nodes = [nodeWith(makeNode('n1', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] })), nodeWith(makeNode('n2'))];
    const state = new CycleState();
    const scores = nodes.map((ni) => plugin.score!(state, pod, ni));
    plugin.normalizeScores!(state, pod, scores);
    expect(scores).toEqual([0, 100]);
  });
});

describe('plugin registry', () => {
  it('names every plugin explicitly and builds fresh instances', () => {
    const reg = defaultRegistry();
    expect([...reg.keys()].sort()).toEqual([
      'InterPodAffinity',
      'NodeAffinity',
      'NodeName',
      'NodePorts',
      'NodeResourcesBalancedAllocation',
      'NodeResourcesFit',
      'NodeResourcesLeastAllocated',
      'NodeSelector',
      'NodeUnschedulable',
      'SelectorSpread',
      'TaintToleration',
    ]);
    for (const [name, factory] of reg) expect(factory({}).name).toBe(name);
  });
});
