// [deployment] against the real controller (managed etcd, scheduler, the
// leader's replicaset, deployment and garbage-collection controllers) with
// hollow nodes joined through the real join path, driven by real kubectl 1.33
// and 1.20: pods kept at replicas (replaced, scaled, adopted, released), the
// scale subresource, rolling updates within maxSurge/maxUnavailable sampled
// through a watch, Recreate, rollout status/history/undo/restart/pause/resume,
// deletion of ReplicaSets and pods through the garbage collector.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment, Pod, ReplicaSet } from '../../api/index.js';
import { eventually } from '../helpers/flotctl.js';
import { HollowCluster, KUBECTL_VERSIONS } from '../helpers/hollow-cluster.js';
import { REPO_ROOT } from '../helpers/lab.js';

const cluster = new HollowCluster({ prefix: `dph${process.pid % 1000}`, nodes: 3 });
const { api, ok, apply } = cluster;
beforeAll(cluster.start, 120_000);
afterAll(cluster.stop, 60_000);

const podsOf = async (label: string, ns = 'default'): Promise<Pod[]> =>
  (await api<{ items: Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(label)}`)).body.items;
const isReady = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
const live = (pods: Pod[]) => pods.filter((p) => !p.metadata.deletionTimestamp);
const getDeploy = async (name: string) => (await api<Deployment>('GET', `/apis/apps/v1/namespaces/default/deployments/${name}`)).body;
const rsOf = async (label: string) => (await api<{ items: ReplicaSet[] }>('GET', `/apis/apps/v1/namespaces/default/replicasets?labelSelector=${encodeURIComponent(label)}`)).body.items;

function deploymentYaml(name: string, replicas: number, image: string, strategy = ''): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
${strategy}  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: main
        image: ${image}
        command: [sleep, "3600"]
`;
}

async function rolledOut(name: string, replicas: number): Promise<Deployment> {
  return eventually(
    `deployment ${name} rolled out`,
    async () => {
      const d = await getDeploy(name);
      const s = d.status;
      return s?.observedGeneration === d.metadata.generation && s?.updatedReplicas === replicas && s?.availableReplicas === replicas && s?.replicas === replicas ? d : undefined;
    },
    90_000,
  );
}

/** Follows the pods of `label` through a watch; `sample` sees the live set after every event. */
async function watchPods(label: string, sample: (pods: Map<string, Pod>) => void): Promise<{ stop: () => void }> {
  const pods = new Map<string, Pod>();
  let synced = false;
  return cluster.watch<Pod>(`/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(label)}`, (type, p) => {
    if (type === 'DELETED') pods.delete(p!.metadata.name!);
    else if (type === 'ADDED' || type === 'MODIFIED') pods.set(p!.metadata.name!, p!);
    if (type === 'SYNCED') synced = true;
    else if (synced) sample(pods);
  });
}

describe('[deployment] keeps its pods', () => {
  it('the documentation example (kubectl 1.33 apply) → a ReplicaSet <deploy>-<hash> and 3 Running pods <rs>-<5 chars>', async () => {
    await ok(['apply', '-f', join(REPO_ROOT, 'manifests', 'nginx-deployment.yaml')]);
    const d = await rolledOut('nginx-deployment', 3);
    const [rs, ...more] = await rsOf('app=nginx');
    expect(more).toHaveLength(0);
    const hash = rs!.metadata.labels!['pod-template-hash']!;
    expect(rs!.metadata.name).toBe(`nginx-deployment-${hash}`);
    expect(rs!.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Deployment', name: 'nginx-deployment', uid: d.metadata.uid, controller: true, blockOwnerDeletion: true })]);
    expect(rs!.metadata.annotations).toMatchObject({ 'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' });
    expect(rs!.spec.selector.matchLabels).toEqual({ app: 'nginx', 'pod-template-hash': hash });
    const pods = live(await podsOf('app=nginx'));
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.metadata.name).toMatch(new RegExp(`^nginx-deployment-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      expect(p.metadata.labels).toEqual({ app: 'nginx', 'pod-template-hash': hash });
      expect(p.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ReplicaSet', name: rs!.metadata.name, controller: true })]);
      expect(p.status?.phase).toBe('Running');
      expect(p.spec.containers[0]!.ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
    }
    expect(d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    expect(d.status?.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual(
      expect.arrayContaining([
        ['Available', 'True', 'MinimumReplicasAvailable'],
        ['Progressing', 'True', 'NewReplicaSetAvailable'],
      ]),
    );
    for (const v of KUBECTL_VERSIONS) {
      const [head, row] = (await ok(['get', 'deploy', 'nginx-deployment'], v)).trim().split('\n');
      expect(head!.split(/\s+/)).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
      expect(row!.split(/\s+/).slice(0, 4)).toEqual(['nginx-deployment', '3/3', '3', '3']);
      const rsOut = (await ok(['get', 'rs', '-o', 'wide'], v)).trim().split('\n');
      expect(rsOut[0]!.split(/\s+/)).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
      expect(rsOut.find((l) => l.startsWith(rs!.metadata.name!))!.split(/\s+/)).toEqual([rs!.metadata.name, '3', '3', '3', expect.any(String), 'nginx', 'busybox:1.35', `app=nginx,pod-template-hash=${hash}`]);
    }
  });

  it('kubectl describe deployment (1.33, 1.20) shows the replicas, the strategy, the conditions and the new ReplicaSet', async () => {
    const [rs] = await rsOf('app=nginx');
    for (const v of KUBECTL_VERSIONS) {
      const out = await ok(['describe', 'deployment', 'nginx-deployment'], v);
      expect(out).toMatch(/Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable/);
      expect(out).toMatch(/StrategyType:\s+RollingUpdate/);
      expect(out).toMatch(/RollingUpdateStrategy:\s+25% max unavailable, 25% max surge/);
      expect(out).toMatch(/Available\s+True\s+MinimumReplicasAvailable/);
      expect(out).toMatch(/Progressing\s+True\s+NewReplicaSetAvailable/);
      expect(out).toContain(`NewReplicaSet:   ${rs!.metadata.name} (3/3 replicas created)`);
      expect(out).toContain(`Scaled up replica set ${rs!.metadata.name} to 3`);
    }
  });

  it('a deleted pod is replaced', async () => {
    const [victim] = live(await podsOf('app=nginx'));
    await ok(['delete', 'pod', victim!.metadata.name!]);
    await eventually('3 Running pods again, without the victim', async () => {
      const pods = live(await podsOf('app=nginx'));
      return pods.length === 3 && pods.every((p) => p.status?.phase === 'Running' && p.metadata.name !== victim!.metadata.name);
    }, 60_000);
  });

  it('kubectl scale (1.33, then 1.20) through the scale subresource; discovery lists deployments/scale as autoscaling/v1 Scale', async () => {
    const disc = (await api<{ resources: { name: string; kind: string; group?: string; version?: string }[] }>('GET', '/apis/apps/v1')).body;
    expect(disc.resources.find((r) => r.name === 'deployments/scale')).toMatchObject({ kind: 'Scale', group: 'autoscaling', version: 'v1' });
    expect(disc.resources.find((r) => r.name === 'replicasets/scale')).toMatchObject({ kind: 'Scale', group: 'autoscaling', version: 'v1' });
    expect((await ok(['scale', 'deployment/nginx-deployment', '--replicas=5'])).trim()).toBe('deployment.apps/nginx-deployment scaled');
    await rolledOut('nginx-deployment', 5);
    expect(live(await podsOf('app=nginx'))).toHaveLength(5);
    const scale = (await api<Record<string, any>>('GET', '/apis/apps/v1/namespaces/default/deployments/nginx-deployment/scale')).body;
    expect(scale).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 5 }, status: { replicas: 5, selector: 'app=nginx' } });
    expect((await ok(['scale', 'deploy', 'nginx-deployment', '--replicas', '2'], '1.20')).trim()).toBe('deployment.apps/nginx-deployment scaled');
    await rolledOut('nginx-deployment', 2);
    await eventually('2 pods left', async () => live(await podsOf('app=nginx')).length === 2, 60_000);
    const bad = await api<{ message: string }>('PUT', '/apis/apps/v1/namespaces/default/deployments/nginx-deployment/scale', { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'nginx-deployment' }, spec: { replicas: -1 } });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe('Scale.autoscaling "nginx-deployment" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0');
  });

  it('kubectl delete deployment removes its ReplicaSets and pods (garbage collector)', async () => {
    await ok(['delete', 'deployment', 'nginx-deployment']);
    await eventually('no ReplicaSet and no pod left', async () => (await rsOf('app=nginx')).length === 0 && (await podsOf('app=nginx')).length === 0, 60_000);
  });
});

describe('[replicaset] adoption and release by selector', () => {
  it('adopts a matching orphan, creates only what is missing, releases a pod whose labels stop matching', async () => {
    await ok(['run', 'orphan', '--image=busybox:1.35', '--labels=app=adopt', '--', 'sleep', '3600']);
    await apply(`apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: adopt}
spec:
  replicas: 2
  selector: {matchLabels: {app: adopt}}
  template:
    metadata: {labels: {app: adopt}}
    spec:
      containers: [{name: main, image: busybox:1.35, command: [sleep, "3600"]}]
`);
    const rs = await eventually('2 ready', async () => {
      const r = (await api<ReplicaSet>('GET', '/apis/apps/v1/namespaces/default/replicasets/adopt')).body;
      return r.status?.readyReplicas === 2 && r.status.replicas === 2 ? r : undefined;
    }, 60_000);
    const pods = live(await podsOf('app=adopt'));
    expect(pods.map((p) => p.metadata.name)).toContain('orphan');
    expect(pods).toHaveLength(2);
    const orphan = pods.find((p) => p.metadata.name === 'orphan')!;
    expect(orphan.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ReplicaSet', name: 'adopt', uid: rs.metadata.uid, controller: true })]);
    // released: the label changes, the owner reference goes and a replacement comes
    await ok(['label', 'pod', 'orphan', 'app=gone', '--overwrite']);
    await eventually('orphan released and replaced', async () => {
      const o = (await api<Pod>('GET', '/api/v1/namespaces/default/pods/orphan')).body;
      return (o.metadata.ownerReferences ?? []).length === 0 && live(await podsOf('app=adopt')).length === 2;
    }, 60_000);
    await ok(['delete', 'rs', 'adopt']);
    await ok(['delete', 'pod', 'orphan']);
  });
});

describe('[deployment] rolling updates and rollouts', () => {
  it('10 replicas: available never below replicas − maxUnavailable, live pods never above replicas + maxSurge (sampled through a watch)', async () => {
    await apply(deploymentYaml('roll', 10, 'busybox:1.35'));
    await rolledOut('roll', 10);
    let minReady = Infinity;
    let maxLive = 0;
    let samples = 0;
    const w = await watchPods('app=roll', (pods) => {
      const all = [...pods.values()];
      samples++;
      minReady = Math.min(minReady, all.filter(isReady).length);
      maxLive = Math.max(maxLive, live(all).length);
    });
    await ok(['set', 'image', 'deployment/roll', 'main=busybox:1.36']);
    await rolledOut('roll', 10);
    await eventually('old pods gone', async () => (await podsOf('app=roll')).length === 10, 60_000);
    w.stop();
    expect(samples).toBeGreaterThan(20);
    // 25% of 10: maxUnavailable 2 (rounded down), maxSurge 3 (rounded up)
    expect(minReady).toBeGreaterThanOrEqual(8);
    expect(maxLive).toBeLessThanOrEqual(13);
    const pods = live(await podsOf('app=roll'));
    expect(pods.every((p) => p.spec.containers[0]!.image === 'busybox:1.36')).toBe(true);
    const d = await getDeploy('roll');
    expect(d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
  }, 180_000);

  it('rollout status, history and undo with kubectl 1.33 and 1.20', async () => {
    for (const v of KUBECTL_VERSIONS) {
      expect(await ok(['rollout', 'status', 'deployment/roll', '--timeout=60s'], v)).toContain('deployment "roll" successfully rolled out');
      const hist = await ok(['rollout', 'history', 'deployment/roll'], v);
      expect(hist).toContain('deployment.apps/roll');
      expect(hist.split('\n').filter((l) => /^\d+\s/.test(l)).map((l) => l.split(/\s+/)[0])).toEqual(v === '1.33' ? ['1', '2'] : ['2', '3']);
      if (v === '1.33') {
        expect((await ok(['rollout', 'undo', 'deployment/roll'], v)).trim()).toBe('deployment.apps/roll rolled back');
        await eventually('back on busybox:1.35', async () => {
          const d = await getDeploy('roll');
          return d.spec.template.spec.containers[0]!.image === 'busybox:1.35' && d.metadata.annotations?.['deployment.kubernetes.io/revision'] === '3';
        }, 60_000);
        await rolledOut('roll', 10);
      }
    }
    const revs = (await rsOf('app=roll')).map((r) => r.metadata.annotations?.['deployment.kubernetes.io/revision']).sort();
    expect(revs).toEqual(['2', '3']); // revision 1's set became revision 3
    expect((await ok(['rollout', 'undo', 'deployment/roll', '--to-revision=2'], '1.20')).trim()).toBe('deployment.apps/roll rolled back');
    await eventually('on busybox:1.36 again', async () => (await getDeploy('roll')).spec.template.spec.containers[0]!.image === 'busybox:1.36', 60_000);
    await rolledOut('roll', 10);
  }, 240_000);

  it('rollout pause, resume and restart (1.20 and 1.33)', async () => {
    expect((await ok(['rollout', 'pause', 'deployment/roll'], '1.20')).trim()).toBe('deployment.apps/roll paused');
    await ok(['set', 'image', 'deployment/roll', 'main=busybox:1.37']);
    await eventually('paused observed', async () => {
      const d = await getDeploy('roll');
      return d.status?.observedGeneration === d.metadata.generation && d.status?.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'DeploymentPaused');
    });
    expect((await rsOf('app=roll')).length).toBe(2); // no new set while paused
    expect((await ok(['rollout', 'resume', 'deployment/roll'])).trim()).toBe('deployment.apps/roll resumed');
    await rolledOut('roll', 10);
    expect(live(await podsOf('app=roll')).every((p) => p.spec.containers[0]!.image === 'busybox:1.37')).toBe(true);
    const before = new Set(live(await podsOf('app=roll')).map((p) => p.metadata.name));
    expect((await ok(['rollout', 'restart', 'deployment/roll'])).trim()).toBe('deployment.apps/roll restarted');
    await eventually('every pod replaced', async () => {
      const pods = await podsOf('app=roll');
      return pods.length === 10 && pods.every((p) => !before.has(p.metadata.name) && isReady(p));
    }, 90_000);
    expect((await getDeploy('roll')).spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']).toBeTruthy();
    await ok(['delete', 'deployment', 'roll']);
  }, 180_000);

  it('Recreate: every old pod is gone before the first new one is created', async () => {
    await apply(deploymentYaml('recreate', 4, 'busybox:1.35', '  strategy: {type: Recreate}\n'));
    await rolledOut('recreate', 4);
    let overlap = false;
    const w = await watchPods('app=recreate', (pods) => {
      const images = new Set([...pods.values()].map((p) => p.spec.containers[0]!.image));
      if (images.size > 1) overlap = true;
    });
    await ok(['set', 'image', 'deployment/recreate', 'main=busybox:1.36']);
    await rolledOut('recreate', 4);
    await eventually('4 new pods', async () => (await podsOf('app=recreate')).filter((p) => p.spec.containers[0]!.image === 'busybox:1.36').length === 4);
    w.stop();
    expect(overlap).toBe(false);
    await ok(['delete', 'deployment', 'recreate']);
  }, 120_000);
});

describe('[deployment] flotctl has the same verbs', () => {
  const fl = async (args: string[], stdin?: string): Promise<string> => {
    const r = await cluster.flotctl(args, { ...(stdin !== undefined ? { stdin } : {}), timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`flotctl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  it('get deploy,rs, scale, rollout status|history|undo|pause|resume|restart, describe', async () => {
    await fl(['apply', '-f', '-'], deploymentYaml('fl', 3, 'busybox:1.35'));
    expect(await fl(['rollout', 'status', 'deploy/fl', '--timeout', '60s'])).toMatch(/deployment "fl" successfully rolled out\n$/);
    const got = await fl(['get', 'deploy,rs']);
    expect(got).toMatch(/NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\n(deployment\.apps\/)?fl\s+3\/3\s+3\s+3\s/);
    expect(got).toMatch(/NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\n(replicaset\.apps\/)?fl-[a-z0-9]+\s+3\s+3\s+3\s/);
    expect(await fl(['scale', 'deploy/fl', '--replicas', '4'])).toBe('deployment.apps/fl scaled\n');
    await rolledOut('fl', 4);
    await fl(['apply', '-f', '-'], deploymentYaml('fl', 4, 'busybox:1.36'));
    const status = await fl(['rollout', 'status', 'deploy/fl', '--timeout', '60s']);
    expect(status).toMatch(/deployment "fl" successfully rolled out\n$/);
    expect(await fl(['rollout', 'history', 'deploy/fl'])).toBe('deployment.apps/fl \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n');
    expect(await fl(['rollout', 'history', 'deploy/fl', '--revision', '1'])).toContain('image: busybox:1.35');
    expect(await fl(['rollout', 'undo', 'deploy/fl'])).toBe('deployment.apps/fl rolled back\n');
    await eventually('back on 1.35, revision 3', async () => {
      const d = await getDeploy('fl');
      return d.spec.template.spec.containers[0]!.image === 'busybox:1.35' && d.metadata.annotations?.['deployment.kubernetes.io/revision'] === '3';
    }, 60_000);
    expect(await fl(['rollout', 'undo', 'deploy/fl', '--to-revision', '2'])).toBe('deployment.apps/fl rolled back\n');
    await eventually('on 1.36 again', async () => (await getDeploy('fl')).spec.template.spec.containers[0]!.image === 'busybox:1.36', 60_000);
    await rolledOut('fl', 4);
    expect(await fl(['rollout', 'pause', 'deploy/fl'])).toBe('deployment.apps/fl paused\n');
    const again = await cluster.flotctl(['rollout', 'pause', 'deploy/fl']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('deployments.apps "fl" is already paused');
    expect(await fl(['rollout', 'resume', 'deploy/fl'])).toBe('deployment.apps/fl resumed\n');
    expect(await fl(['rollout', 'restart', 'deploy/fl'])).toBe('deployment.apps/fl restarted\n');
    await eventually('restart rolled out', async () => rolloutDone(await getDeploy('fl')), 60_000);
    const desc = await fl(['describe', 'deployment', 'fl']);
    expect(desc).toContain('fl');
    await fl(['delete', 'deployment', 'fl']);
    await eventually('fl gone with its sets and pods', async () => (await rsOf('app=fl')).length === 0 && (await podsOf('app=fl')).length === 0, 60_000);
  }, 240_000);
});

function rolloutDone(d: Deployment): boolean {
  const s = d.status;
  return s?.observedGeneration === d.metadata.generation && s?.updatedReplicas === d.spec.replicas && s?.availableReplicas === d.spec.replicas && s?.replicas === d.spec.replicas;
}
