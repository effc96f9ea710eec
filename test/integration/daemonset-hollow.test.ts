// [daemonset] against the real controller (managed etcd, scheduler, the
// leader's daemonset controller and garbage collector) with hollow nodes
// joined through the real join path, driven by real kubectl 1.33 and 1.20:
// one pod per matching node as nodes join, are labelled out or tainted; the
// upstream documentation example; rolling updates paced by maxUnavailable,
// rollout status/history/undo; OnDelete; deletion through the GC.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonSet, Pod } from '../../api/index.js';
import { eventually } from '../helpers/flotctl.js';
import { HollowCluster, KUBECTL_VERSIONS } from '../helpers/hollow-cluster.js';
import { REPO_ROOT } from '../helpers/lab.js';

const PREFIX = `dsh${process.pid % 1000}`;
const cluster = new HollowCluster({ prefix: PREFIX, nodes: 3, labels: { [`${PREFIX}-ds`]: 'yes' } });
const { api, kubectl, ok, apply, joinNode } = cluster;
beforeAll(cluster.start, 120_000);
afterAll(cluster.stop, 60_000);

const dsPods = async (ns: string, label: string): Promise<Pod[]> =>
  (await api<{ items: Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(label)}`)).body.items;
const running = (pods: Pod[]) => pods.filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);
const nodesOf = (pods: Pod[]) => pods.map((p) => p.spec.nodeName ?? '').sort();
const getDs = async (ns: string, name: string) => (await api<DaemonSet>('GET', `/apis/apps/v1/namespaces/${ns}/daemonsets/${name}`)).body;

function daemonSetYaml(name: string, image: string, extra = ''): string {
  return `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: ${name}
spec:
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      nodeSelector: {${PREFIX}-ds: "yes"}
      containers:
      - name: main
        image: ${image}
        command: [sleep, "3600"]
${extra}`;
}

describe('[daemonset] one pod per matching node', () => {
  it('3 nodes → 3 pods, each bound by the scheduler to its own node, owned, hashed, with the daemon tolerations', async () => {
    await apply(daemonSetYaml('agent', 'busybox:1.35'));
    const pods = await eventually('3 Running daemon pods', async () => {
      const p = running(await dsPods('default', 'app=agent'));
      return p.length === 3 ? p : undefined;
    });
    expect(nodesOf(pods)).toEqual([`${PREFIX}-n1`, `${PREFIX}-n2`, `${PREFIX}-n3`]);
    const ds = await getDs('default', 'agent');
    for (const p of pods) {
      expect(p.metadata.name).toMatch(/^agent-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect(p.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'DaemonSet', name: 'agent', uid: ds.metadata.uid, controller: true })]);
      expect(p.metadata.labels?.['controller-revision-hash']).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
      expect(p.spec.tolerations?.map((t) => t.key)).toContain('node.kubernetes.io/unschedulable');
      const fields = p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchFields;
      expect(fields).toEqual([{ key: 'metadata.name', operator: 'In', values: [p.spec.nodeName] }]);
    }
    // the scheduler bound them (a Scheduled event from default-scheduler)
    const events = (await api<{ items: { reason: string; source?: { component?: string }; involvedObject: { name: string } }[] }>('GET', '/api/v1/namespaces/default/events')).body.items;
    expect(events.filter((e) => e.reason === 'Scheduled' && e.involvedObject.name.startsWith('agent-') && e.source?.component === 'default-scheduler')).toHaveLength(3);
    await eventually('status 3/3 available', async () => {
      const s = (await getDs('default', 'agent')).status;
      return s?.numberAvailable === 3 && s.desiredNumberScheduled === 3 && s.observedGeneration === 1;
    });
  });

  it('settles: with nothing changing, the controller does not reconcile in a loop', async () => {
    const reconciles = async () => {
      const text = await cluster.text('/metrics');
      return text
        .split('\n')
        .filter((l) => l.startsWith('controller_reconcile_total{') && l.includes('controller="daemonset"'))
        .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    };
    await new Promise((r) => setTimeout(r, 1500));
    const a = await reconciles();
    expect(a).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3000));
    // heartbeats and pod status reports may enqueue it now and then; a hot loop would be hundreds
    expect((await reconciles()) - a).toBeLessThan(10);
  });

  it('kubectl 1.33 and 1.20 print the DaemonSet as against Kubernetes', async () => {
    for (const v of KUBECTL_VERSIONS) {
      const out = await ok(['get', 'ds', 'agent'], v);
      const [head, row] = out.trim().split('\n');
      expect(head!.split(/\s{2,}/)).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'NODE SELECTOR', 'AGE']);
      expect(row!.split(/\s{2,}/).slice(0, 7)).toEqual(['agent', '3', '3', '3', '3', '3', `${PREFIX}-ds=yes`]);
      const wide = (await ok(['get', 'daemonset', '-o', 'wide'], v)).trim().split('\n');
      expect(wide[0]!.split(/\s{2,}/).slice(-3)).toEqual(['CONTAINERS', 'IMAGES', 'SELECTOR']);
      expect(wide[1]!.split(/\s{2,}/).slice(-3)).toEqual(['main', 'busybox:1.35', 'app=agent']);
    }
    // kubectl's own describer reads the status, the pods by selector and the events
    const described = await ok(['describe', 'ds', 'agent']);
    expect(described).toMatch(/Desired Number of Nodes Scheduled: 3/);
    expect(described).toMatch(/Number of Nodes Scheduled with Available Pods: 3/);
    expect(described).toMatch(/Pods Status:\s+3 Running \/ 0 Waiting \/ 0 Succeeded \/ 0 Failed/);
    expect(described).toMatch(/SuccessfulCreate\s+.*daemonset-controller\s+Created pod: agent-/);
  });

  it('a 4th node joins → 4 pods; a node labelled out loses its pod; a NoSchedule-tainted node gets none', async () => {
    await joinNode(`${PREFIX}-n4`, { labels: { [`${PREFIX}-ds`]: 'yes' } });
    await eventually('4 daemon pods', async () => nodesOf(running(await dsPods('default', 'app=agent'))).length === 4);
    await ok(['label', 'node', `${PREFIX}-n2`, `${PREFIX}-ds-`]);
    await eventually('n2 loses its pod', async () => {
      const all = await dsPods('default', 'app=agent');
      return all.length === 3 && nodesOf(all).join() === [`${PREFIX}-n1`, `${PREFIX}-n3`, `${PREFIX}-n4`].join();
    });
    // a fifth node, tainted before it is labelled in: no pod
    await joinNode(`${PREFIX}-n5`);
    await ok(['taint', 'node', `${PREFIX}-n5`, 'dedicated=infra:NoSchedule']);
    await ok(['label', 'node', `${PREFIX}-n5`, `${PREFIX}-ds=yes`]);
    await new Promise((r) => setTimeout(r, 3000));
    expect(nodesOf(await dsPods('default', 'app=agent'))).toEqual([`${PREFIX}-n1`, `${PREFIX}-n3`, `${PREFIX}-n4`]);
    const s = (await getDs('default', 'agent')).status!;
    expect(s.desiredNumberScheduled).toBe(3);
    // a cordoned node keeps (and would get) its daemon pod
    await ok(['cordon', `${PREFIX}-n2`]);
    await ok(['label', 'node', `${PREFIX}-n2`, `${PREFIX}-ds=yes`]);
    await eventually('the cordoned n2 gets a pod again', async () => nodesOf(running(await dsPods('default', 'app=agent'))).length === 4);
  });
});

describe('[daemonset] updates', () => {
  it('a RollingUpdate of the image keeps at most maxUnavailable nodes without an available pod; rollout status, history and undo work', async () => {
    const nodes = [`${PREFIX}-n1`, `${PREFIX}-n2`, `${PREFIX}-n3`, `${PREFIX}-n4`];
    const before = await dsPods('default', 'app=agent');
    const oldHash = before[0]!.metadata.labels!['controller-revision-hash'];
    let worst = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pods = await dsPods('default', 'app=agent');
        const covered = new Set(pods.filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((p) => p.spec.nodeName));
        worst = Math.max(worst, nodes.filter((n) => !covered.has(n)).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await ok(['set', 'image', 'ds/agent', 'main=busybox:1.36']);
    const status = await ok(['rollout', 'status', 'ds/agent', '--timeout=90s']);
    sampling = false;
    await sampler;
    expect(status.trim().split('\n').pop()).toBe('daemon set "agent" successfully rolled out');
    // never more than maxUnavailable (1) of the 4 nodes without a Ready daemon pod, sampled every 50 ms
    expect(worst).toBeLessThanOrEqual(1);
    const after = running(await dsPods('default', 'app=agent'));
    expect(nodesOf(after)).toEqual(nodes);
    expect(after.every((p) => p.spec.containers[0]!.image === 'busybox:1.36' && p.metadata.labels!['controller-revision-hash'] !== oldHash)).toBe(true);
    expect(after.every((p) => p.metadata.labels!['pod-template-generation'] === '2')).toBe(true);
    expect((await getDs('default', 'agent')).metadata.annotations?.['deprecated.daemonset.template.generation']).toBe('2');
    expect((await ok(['rollout', 'status', 'ds/agent'], '1.20')).trim()).toBe('daemon set "agent" successfully rolled out');

    const history = await ok(['rollout', 'history', 'ds/agent']);
    expect(history).toMatch(/REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    const revs = (await api<{ items: { metadata: { name: string }; revision: number }[] }>('GET', '/apis/apps/v1/namespaces/default/controllerrevisions')).body.items;
    expect(revs.map((r) => r.revision).sort()).toEqual([1, 2]);
    expect(revs.map((r) => r.metadata.name)).toContain(`agent-${oldHash}`);

    expect(await ok(['rollout', 'undo', 'ds/agent'])).toContain('rolled back');
    await ok(['rollout', 'status', 'ds/agent', '--timeout=90s']);
    await eventually('every pod back on busybox:1.35 with the old hash', async () => {
      const p = running(await dsPods('default', 'app=agent'));
      return p.length === 4 && p.every((x) => x.spec.containers[0]!.image === 'busybox:1.35' && x.metadata.labels!['controller-revision-hash'] === oldHash);
    });
    const revs2 = (await api<{ items: { metadata: { name: string }; revision: number }[] }>('GET', '/apis/apps/v1/namespaces/default/controllerrevisions')).body.items;
    expect(revs2.find((r) => r.metadata.name === `agent-${oldHash}`)?.revision).toBe(3);
  });

  it('OnDelete: a new template changes no pod until one is deleted, whose replacement is new', async () => {
    await ok(['patch', 'ds', 'agent', '--type=merge', '-p', JSON.stringify({ spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: null } } })]);
    await ok(['set', 'image', 'ds/agent', 'main=busybox:1.36']);
    await eventually('observed', async () => (await getDs('default', 'agent')).status?.observedGeneration === (await getDs('default', 'agent')).metadata.generation);
    await new Promise((r) => setTimeout(r, 2000));
    const pods = running(await dsPods('default', 'app=agent'));
    expect(pods.map((p) => p.spec.containers[0]!.image)).toEqual(['busybox:1.35', 'busybox:1.35', 'busybox:1.35', 'busybox:1.35']);
    expect((await getDs('default', 'agent')).status?.updatedNumberScheduled).toBe(0);
    const victim = pods[0]!;
    await ok(['delete', 'pod', victim.metadata.name!, '--wait=false']);
    await eventually('a new pod on the victim node with the new image', async () => {
      const p = running(await dsPods('default', 'app=agent')).filter((x) => x.spec.nodeName === victim.spec.nodeName);
      return p.length === 1 && p[0]!.metadata.name !== victim.metadata.name && p[0]!.spec.containers[0]!.image === 'busybox:1.36';
    });
    expect(running(await dsPods('default', 'app=agent')).filter((p) => p.spec.containers[0]!.image === 'busybox:1.35')).toHaveLength(3);
    expect((await kubectl(['rollout', 'status', 'ds/agent'])).stderr).toContain('rollout status is only available for RollingUpdate strategy type');
  });

  it('maxSurge 1 (maxUnavailable 0): every node keeps a Ready daemon pod throughout the rollout', async () => {
    const nodes = [`${PREFIX}-n1`, `${PREFIX}-n2`, `${PREFIX}-n3`, `${PREFIX}-n4`];
    await apply(daemonSetYaml('surge', 'busybox:1.35', '  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}\n'));
    await ok(['rollout', 'status', 'ds/surge', '--timeout=60s']);
    let worst = 0;
    let maxPods = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pods = await dsPods('default', 'app=surge');
        const covered = new Set(pods.filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((p) => p.spec.nodeName));
        worst = Math.max(worst, nodes.filter((n) => !covered.has(n)).length);
        maxPods = Math.max(maxPods, pods.filter((p) => !p.metadata.deletionTimestamp).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await ok(['set', 'image', 'ds/surge', 'main=busybox:1.36']);
    const out = await ok(['rollout', 'status', 'ds/surge', '--timeout=90s']);
    sampling = false;
    await sampler;
    expect(out.trim().split('\n').pop()).toBe('daemon set "surge" successfully rolled out');
    expect(worst).toBe(0);
    expect(maxPods).toBeLessThanOrEqual(5); // at most one surge pod at a time
    try {
      // complete means the old pods are gone too: one new pod on every node
      const after = running(await dsPods('default', 'app=surge'));
      expect(nodesOf(after)).toEqual(nodes);
      expect(after.every((p) => p.spec.containers[0]!.image === 'busybox:1.36')).toBe(true);
    } finally {
      await ok(['delete', 'ds', 'surge']); // the next test counts every revision in the namespace
    }
  });

  it('kubectl delete ds removes its pods and revisions through the garbage collector', async () => {
    await ok(['delete', 'ds', 'agent']);
    await eventually('no daemon pods and no revisions left', async () => {
      const revs = (await api<{ items: unknown[] }>('GET', '/apis/apps/v1/namespaces/default/controllerrevisions')).body.items;
      return (await dsPods('default', 'app=agent')).length === 0 && revs.length === 0;
    }, 60_000);
  });
});

describe('[daemonset] failed daemon pods', () => {
  it('a Failed daemon pod is deleted and replaced, with a FailedDaemonPod event', async () => {
    await apply(daemonSetYaml('crashy', 'busybox:1.35'));
    const pods = await eventually('4 crashy pods', async () => {
      const p = running(await dsPods('default', 'app=crashy'));
      return p.length === 4 ? p : undefined;
    });
    const victim = pods.find((p) => p.spec.nodeName === `${PREFIX}-n1`)!;
    const failed = { ...victim, status: { ...victim.status, phase: 'Failed', reason: 'Error' } };
    expect((await api('PUT', `/api/v1/namespaces/default/pods/${victim.metadata.name}/status`, failed)).status).toBe(200);
    await eventually('a replacement on n1', async () => {
      const p = running(await dsPods('default', 'app=crashy')).filter((x) => x.spec.nodeName === `${PREFIX}-n1`);
      return p.length === 1 && p[0]!.metadata.name !== victim.metadata.name;
    });
    const events = (await api<{ items: { reason: string; type: string; message: string; involvedObject: { kind: string; name: string } }[] }>('GET', '/api/v1/namespaces/default/events')).body.items;
    expect(events.find((e) => e.reason === 'FailedDaemonPod' && e.involvedObject.kind === 'DaemonSet' && e.involvedObject.name === 'crashy')).toMatchObject({
      type: 'Warning',
      message: `Found failed daemon pod default/${victim.metadata.name} on node ${PREFIX}-n1, will try to kill it`,
    });
    await ok(['delete', 'ds', 'crashy']);
  });
});

describe('[scheduler] node affinity on plain pods', () => {
  it('a required node affinity places the pod; an impossible one is reported as Kubernetes words it', async () => {
    const podYaml = (name: string, expr: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - ${expr}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 10
        preference:
          matchExpressions:
          - {key: kubernetes.io/os, operator: In, values: [linux]}
  containers:
  - {name: main, image: busybox:1.35, command: [sleep, "3600"]}
`;
    await apply(podYaml('pinned', `{key: kubernetes.io/hostname, operator: In, values: [${PREFIX}-n3]}`));
    await apply(podYaml('nowhere', '{key: kubernetes.io/hostname, operator: In, values: [no-such-node]}'));
    await eventually('pinned runs on n3', async () => {
      const p = (await api<Pod>('GET', '/api/v1/namespaces/default/pods/pinned')).body;
      return p.spec.nodeName === `${PREFIX}-n3` && p.status?.phase === 'Running';
    });
    const cond = await eventually('nowhere unschedulable', async () => {
      const p = (await api<Pod>('GET', '/api/v1/namespaces/default/pods/nowhere')).body;
      return p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable');
    });
    expect(cond.message).toContain("node(s) didn't match Pod's node affinity/selector");
    await ok(['delete', 'pod', 'pinned', 'nowhere', '--grace-period=0', '--force']);
  });
});

describe('[scheduler] inter-pod anti-affinity', () => {
  it('pods with required anti-affinity on kubernetes.io/hostname land one per node; the one too many waits with the reason', async () => {
    // schedulable for plain pods now: n1, n3, n4 (n2 is cordoned, n5 tainted)
    const anti = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: spread}}
spec:
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector: {matchLabels: {app: spread}}
  containers:
  - {name: main, image: busybox:1.35, command: [sleep, "3600"]}
`;
    for (const i of [1, 2, 3, 4]) await apply(anti(`spread-${i}`));
    const placed = await eventually('three spread pods Running', async () => {
      const p = running(await dsPods('default', 'app=spread'));
      return p.length === 3 ? p : undefined;
    });
    expect(nodesOf(placed)).toEqual([`${PREFIX}-n1`, `${PREFIX}-n3`, `${PREFIX}-n4`]);
    const waiting = (await dsPods('default', 'app=spread')).find((p) => !p.spec.nodeName)!;
    const cond = await eventually('the fourth unschedulable', async () => {
      const p = (await api<Pod>('GET', `/api/v1/namespaces/default/pods/${waiting.metadata.name}`)).body;
      return p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable');
    });
    expect(cond.message).toContain("3 node(s) didn't match pod anti-affinity rules");
    // one goes: the waiting one takes its node
    const gone = placed[0]!;
    await ok(['delete', 'pod', gone.metadata.name!, '--wait=false']);
    await eventually('the fourth pod takes the freed node', async () => {
      const p = (await api<Pod>('GET', `/api/v1/namespaces/default/pods/${waiting.metadata.name}`)).body;
      return p.spec.nodeName === gone.spec.nodeName;
    }, 60_000);
    await ok(['delete', 'pod', '-l', 'app=spread', '--grace-period=0', '--force']);
  });
});

describe('[daemonset] bad input is refused as kube-apiserver words it', () => {
  it('a selector that does not match the template, maxSurge and maxUnavailable both 0', async () => {
    // the API's own Status message qualifies the kind with its group
    const res = await api<{ code: number; message: string; details: { kind: string; group: string } }>('POST', '/apis/apps/v1/namespaces/default/daemonsets', {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'raw' },
      spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'c' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    expect(res.status).toBe(422);
    expect(res.body.message).toBe('DaemonSet.apps "raw" is invalid: spec.template.metadata.labels: Invalid value: {"a":"c"}: `selector` does not match template `labels`');
    expect(res.body.details).toMatchObject({ kind: 'DaemonSet', group: 'apps' });
    const bad = daemonSetYaml('bad', 'busybox:1.35').replace('matchLabels: {app: bad}', 'matchLabels: {app: other}');
    const r = await kubectl(['apply', '-f', '-'], { stdin: bad });
    expect(r.code).not.toBe(0);
    // kubectl words it from the Status details, as against Kubernetes
    expect(r.stderr).toContain('The DaemonSet "bad" is invalid: spec.template.metadata.labels: Invalid value:');
    expect(r.stderr).toContain('`selector` does not match template `labels`');
    const zero = daemonSetYaml('zero', 'busybox:1.35', '  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {maxUnavailable: 0, maxSurge: 0}\n');
    const z = await kubectl(['apply', '-f', '-'], { stdin: zero });
    expect(z.stderr).toContain('The DaemonSet "zero" is invalid: spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0');
  });
});

describe('[daemonset] the documentation example', () => {
  it('manifests/daemonset.yaml applies unchanged with kubectl 1.33 and runs one pod per node in kube-system', async () => {
    const text = readFileSync(join(REPO_ROOT, 'manifests', 'daemonset.yaml'), 'utf8');
    const file = join(cluster.work, 'daemonset.yaml');
    writeFileSync(file, text);
    expect(await ok(['apply', '-f', file])).toContain('daemonset.apps/fluentd-elasticsearch created');
    // every node without an untolerated taint: n1..n4 (n5 carries dedicated=infra:NoSchedule)
    const pods = await eventually('4 fluentd pods', async () => {
      const p = running(await dsPods('kube-system', 'name=fluentd-elasticsearch'));
      return p.length === 4 ? p : undefined;
    });
    expect(nodesOf(pods)).toEqual([1, 2, 3, 4].map((i) => `${PREFIX}-n${i}`));
    const p = pods[0]!;
    expect(p.metadata.name).toMatch(/^fluentd-elasticsearch-[a-z0-9]{5}$/);
    const ds = await getDs('kube-system', 'fluentd-elasticsearch');
    expect(ds.metadata.annotations?.['deprecated.daemonset.template.generation']).toBe('1');
    expect(p.metadata.labels).toEqual({ name: 'fluentd-elasticsearch', 'controller-revision-hash': expect.stringMatching(/^[bcdfghjklmnpqrstvwxz2456789]+$/), 'pod-template-generation': '1' });
    expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd-elasticsearch', uid: ds.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(p.spec.containers[0]).toMatchObject({ image: 'busybox:1.35', resources: { limits: { memory: '200Mi' }, requests: { cpu: '100m', memory: '200Mi' } }, volumeMounts: [expect.objectContaining({ name: 'varlog', mountPath: '/var/log' })] });
    expect(p.spec.terminationGracePeriodSeconds).toBe(30);
    expect(p.spec.tolerations!.map((t) => `${t.key}:${t.effect}`)).toEqual([
      'node-role.kubernetes.io/control-plane:NoSchedule',
      'node-role.kubernetes.io/master:NoSchedule',
      'node.kubernetes.io/not-ready:NoExecute',
      'node.kubernetes.io/unreachable:NoExecute',
      'node.kubernetes.io/disk-pressure:NoSchedule',
      'node.kubernetes.io/memory-pressure:NoSchedule',
      'node.kubernetes.io/pid-pressure:NoSchedule',
      'node.kubernetes.io/unschedulable:NoSchedule',
    ]);
    expect(p.spec.volumes).toEqual([{ name: 'varlog', hostPath: { path: '/var/log', type: '' } }]);
    expect(p.status?.qosClass).toBe('Burstable');
    const out = await ok(['-n', 'kube-system', 'get', 'ds']);
    expect(out.trim().split('\n')[1]!.split(/\s{2,}/).slice(0, 7)).toEqual(['fluentd-elasticsearch', '4', '4', '4', '4', '4', '<none>']);
    await ok(['-n', 'kube-system', 'delete', 'ds', 'fluentd-elasticsearch']);
  });
});
