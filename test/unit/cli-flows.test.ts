// The command flows against a fake Transport (an in-memory API), so the logic of
// apply/get/delete is checked without a server; the real server is in
// test/integration/cli-*.test.ts.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyJsonMergePatch, applyJsonPatch, applyStrategicMergePatch, compileSelectors, type KubeObject, type WatchEvent } from '../../api/index.js';
import type { Query, RequestOptions, Transport } from '../../cli/client.js';
import { ApiStatusError } from '../../cli/errors.js';
import { runCli } from '../../cli/program.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');

/** The resources the fake serves, by group version: plural → kind. */
const DISCOVERY: Record<string, [plural: string, kind: string, shortNames: string[]][]> = {
  v1: [['pods', 'Pod', ['po']], ['nodes', 'Node', ['no']], ['events', 'Event', ['ev']]],
  'apps/v1': [['deployments', 'Deployment', ['deploy']], ['replicasets', 'ReplicaSet', ['rs']], ['daemonsets', 'DaemonSet', ['ds']], ['controllerrevisions', 'ControllerRevision', []]],
  'batch/v1': [['jobs', 'Job', []], ['cronjobs', 'CronJob', ['cj']]],
};
const KIND_OF = new Map(Object.values(DISCOVERY).flat().map(([plural, kind]) => [plural, kind]));

class FakeApi implements Transport {
  readonly server = 'https://fake:6443';
  readonly objects = new Map<string, KubeObject>();
  readonly calls: string[] = [];
  rv = 1;
  /** When set, DELETE only marks the object and the watch reports its removal later. */
  graceful = false;
  watched: string[] = [];
  readonly patches: { path: string; contentType: string; body: unknown }[] = [];

  /** Stores objects as the server holds them, keyed by their REST path. */
  put(collection: string, ...objects: KubeObject[]): void {
    for (const o of objects) this.objects.set(`${collection}/${o.metadata.name}`, structuredClone(o));
  }

  private notFound(path: string): never {
    const name = path.split('/').pop();
    const kind = path.split('/').slice(-2)[0];
    throw new ApiStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: `${kind} "${name}" not found` }, 404);
  }

  async requestJson<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    this.calls.push(`${method} ${path}`);
    const gv = path === '/api/v1' ? 'v1' : path.replace(/^\/apis\//, '');
    if (DISCOVERY[gv]) {
      const resources = DISCOVERY[gv]!.map(([name, kind, shortNames]) => ({ name, singularName: kind.toLowerCase(), namespaced: kind !== 'Node', kind, shortNames }));
      return { groupVersion: gv, resources } as T;
    }
    if (path === '/apis') return { groups: ['apps/v1', 'batch/v1'].map((v) => ({ name: v.split('/')[0], preferredVersion: { groupVersion: v } })) } as T;
    const plural = path.split('/').pop()!;
    if (method === 'GET' && KIND_OF.has(plural)) {
      // the server's own selector matching, as a list with ?labelSelector= &fieldSelector= does it
      const match = compileSelectors(KIND_OF.get(plural)!, { labelSelector: opts.query?.labelSelector as string | undefined, fieldSelector: opts.query?.fieldSelector as string | undefined });
      const items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(path + '/') || (!path.includes('/namespaces/') && k.includes(`/${plural}/`)))
        .map(([, v]) => v)
        .filter((o) => !match || match(o));
      return { kind: 'List', metadata: { resourceVersion: String(this.rv) }, items } as T;
    }
    if (method === 'POST') {
      const obj = JSON.parse(JSON.stringify(opts.body)) as KubeObject;
      obj.metadata.creationTimestamp = new Date(NOW - 5000).toISOString();
      obj.metadata.resourceVersion = String(++this.rv);
      this.objects.set(`${path}/${obj.metadata.name}`, obj);
      return obj as T;
    }
    const current = this.objects.get(path);
    if (!current) this.notFound(path);
    if (method === 'GET') return JSON.parse(JSON.stringify(current)) as T;
    if (method === 'PATCH') {
      this.patches.push({ path, contentType: opts.contentType ?? '', body: opts.body });
      const apply = { 'application/json-patch+json': applyJsonPatch, 'application/merge-patch+json': applyJsonMergePatch }[opts.contentType ?? ''] ?? applyStrategicMergePatch;
      const next = apply<KubeObject>(current, opts.body);
      next.metadata.resourceVersion = String(++this.rv);
      this.objects.set(path, next);
      return next as T;
    }
    if (method === 'DELETE') {
      if (this.graceful) {
        current.metadata.deletionTimestamp = new Date(NOW).toISOString();
        return current as T;
      }
      this.objects.delete(path);
      return { kind: 'Status', status: 'Success' } as T;
    }
    throw new Error(`fake: ${method} ${path}`);
  }
  async requestText(): Promise<string> {
    throw new Error('unused');
  }
  async stream(): Promise<AsyncIterable<Uint8Array>> {
    throw new Error('unused');
  }
  async *watch<T extends KubeObject>(path: string, q?: Query): AsyncGenerator<WatchEvent<T>> {
    this.watched.push(`${path}?${String(q?.fieldSelector)}&rv=${String(q?.resourceVersion)}`);
    if (!this.graceful) return;
    // the node confirms: first a MODIFIED, then the object goes
    const name = String(q?.fieldSelector).replace('metadata.name=', '');
    const key = `${path}/${name}`;
    const obj = this.objects.get(key)!;
    yield { type: 'MODIFIED', object: obj as T };
    this.objects.delete(key);
    yield { type: 'DELETED', object: obj as T };
  }
  async close(): Promise<void> {}
}

const dir = mkdtempSync(join(tmpdir(), 'flotctl-flow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeTmp(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function run(api: FakeApi, ...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    io: { out: (t) => void (out += t), err: (t) => void (err += t), readStdin: async () => '' },
    env: {},
    now: () => NOW,
    transport: api,
  });
  return { code, out, err };
}

const POD = (image: string, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web${extra}}
spec:
  containers:
  - name: web
    image: ${image}
`;

describe('apply flow', () => {
  it('creates, then reports unchanged, then configured after an edit', async () => {
    const api = new FakeApi();
    const file = join(dir, 'pod.yaml');
    writeFileSync(file, POD('nginx:1.25', ', tier: front'));
    expect(await run(api, 'apply', '-f', file)).toEqual({ code: 0, out: 'pod/web created\n', err: '' });
    expect(await run(api, 'apply', '-f', file)).toEqual({ code: 0, out: 'pod/web unchanged\n', err: '' });
    writeFileSync(file, POD('nginx:1.27'));
    expect(await run(api, 'apply', '-f', file)).toEqual({ code: 0, out: 'pod/web configured\n', err: '' });
    const live = api.objects.get('/api/v1/namespaces/default/pods/web') as any;
    expect(live.spec.containers[0].image).toBe('nginx:1.27');
    expect(live.metadata.labels).toEqual({ app: 'web' });
    expect(await run(api, 'apply', '-f', file)).toMatchObject({ out: 'pod/web unchanged\n' });
  });

  it('applies every manifest of a directory tree, in order', async () => {
    const api = new FakeApi();
    const d = join(dir, 'tree');
    mkdirSync(join(d, 'sub'), { recursive: true });
    writeFileSync(join(d, 'a.yaml'), POD('nginx').replace('name: web', 'name: a') + '---\n' + POD('nginx').replace('name: web', 'name: b'));
    writeFileSync(join(d, 'sub', 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'c' }, spec: { containers: [{ name: 'c', image: 'x' }] } }));
    writeFileSync(join(d, 'notes.txt'), 'not a manifest');
    expect((await run(api, 'apply', '-f', d)).out).toBe('pod/a created\npod/b created\npod/c created\n');
  });

  it('a YAML error prints file:line:col and exits 1 without touching the server', async () => {
    const api = new FakeApi();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [web\n');
    const r = await run(api, 'apply', '-f', file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: .+\n$`));
    expect(api.calls).toEqual([]);
  });

  it('an unknown kind names the kind and the version', async () => {
    const api = new FakeApi();
    const file = join(dir, 'foo.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Foo\nmetadata: {name: x}\n');
    const r = await run(api, 'apply', '-f', file);
    expect(r.code).toBe(1);
    expect(r.err).toContain('no matches for kind "Foo" in version "v1"');
  });
});

describe('get and delete flow', () => {
  it('lists pods in a table, says when there are none, and rejects unknown types', async () => {
    const api = new FakeApi();
    expect(await run(api, 'get', 'pods')).toEqual({ code: 0, out: '', err: 'No resources found in default namespace.\n' });
    expect(JSON.parse((await run(api, 'get', 'pods', '-o', 'json')).out)).toEqual({ apiVersion: 'v1', items: [], kind: 'List', metadata: { resourceVersion: '' } });
    const file = join(dir, 'pod2.yaml');
    writeFileSync(file, POD('nginx'));
    await run(api, 'apply', '-f', file);
    expect((await run(api, 'get', 'po')).out).toBe('NAME   READY   STATUS    RESTARTS   AGE\nweb    0/1     Pending   0          5s\n');
    expect((await run(api, 'get', 'pod/web', '-o', 'name')).out).toBe('pod/web\n');
    expect(JSON.parse((await run(api, 'get', 'pods', 'web', '-o', 'json')).out).metadata.name).toBe('web');
    expect(await run(api, 'get', 'foo')).toEqual({ code: 1, out: '', err: 'error: the server doesn\'t have a resource type "foo"\n' });
    expect(await run(api, 'get', 'pods', 'nope')).toEqual({ code: 1, out: '', err: 'Error from server (NotFound): pods "nope" not found\n' });
    expect((await run(api, 'get', 'pods', '-o', 'xml')).code).toBe(1);
  });

  it('deletes by name and waits until the object is gone', async () => {
    const api = new FakeApi();
    const file = join(dir, 'pod3.yaml');
    writeFileSync(file, POD('nginx'));
    await run(api, 'apply', '-f', file);
    expect(await run(api, 'delete', 'pod', 'web')).toEqual({ code: 0, out: 'pod "web" deleted\n', err: '' });
    expect(api.calls.slice(-2)).toEqual(['DELETE /api/v1/namespaces/default/pods/web', 'GET /api/v1/namespaces/default/pods']);
    expect(await run(api, 'delete', 'pod', 'web')).toEqual({ code: 1, out: '', err: 'Error from server (NotFound): pods "web" not found\n' });
    expect((await run(api, 'delete', 'pod', 'web', '--ignore-not-found')).code).toBe(0);
  });

  it('delete waits through a graceful deletion until the watch reports DELETED', async () => {
    const api = new FakeApi();
    await run(api, 'apply', '-f', writeTmp('pod4.yaml', POD('nginx')));
    api.graceful = true;
    expect(await run(api, 'delete', 'pod', 'web')).toEqual({ code: 0, out: 'pod "web" deleted\n', err: '' });
    expect(api.watched).toEqual([`/api/v1/namespaces/default/pods?metadata.name=web&rv=${api.rv}`]);
    expect(api.objects.size).toBe(0);
  });

  it('delete --wait=false returns without watching', async () => {
    const api = new FakeApi();
    await run(api, 'apply', '-f', writeTmp('pod5.yaml', POD('nginx')));
    api.graceful = true;
    expect((await run(api, 'delete', 'pod', 'web', '--wait=false')).code).toBe(0);
    expect(api.watched).toEqual([]);
  });

  it('apply refuses an object whose namespace differs from -n', async () => {
    const api = new FakeApi();
    const r = await run(api, 'apply', '-n', 'b', '-f', writeTmp('ns.yaml', POD('nginx').replace('name: web', 'name: web\n  namespace: a')));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: the namespace from the provided object "a" does not match the namespace "b". You must pass '--namespace=a' to perform this operation.\n`);
  });

  it('a bad flag says so and points at the help', async () => {
    const r = await run(new FakeApi(), 'get', 'pods', '--bogus');
    expect(r.code).toBe(1);
    expect(r.err).toBe("error: unknown option '--bogus'\nSee 'flotctl get --help' for usage.\n");
  });
});

// --- workloads: describe and rollout -----------------------------------------

const APPS = '/apis/apps/v1/namespaces/default';
const CORE = '/api/v1/namespaces/default';
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();
const template = (app: string, image: string) => ({ metadata: { labels: { app } }, spec: { containers: [{ name: 'main', image }] } });
const owner = (kind: string, name: string, uid: string) => [{ apiVersion: 'apps/v1', kind, name, uid, controller: true }];

function daemonSetWorld(): FakeApi {
  const api = new FakeApi();
  api.put(`${APPS}/daemonsets`, {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'default', uid: 'ds-1', generation: 2, creationTimestamp: ago(600) },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: template('agent', 'busybox:1.36'), updateStrategy: { type: 'RollingUpdate' } },
    status: { desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 1, numberMisscheduled: 0, updatedNumberScheduled: 1, numberAvailable: 1, observedGeneration: 2 },
  } as KubeObject);
  // the revisions as the daemonset controller writes them: the template as a replacing patch
  const revision = (name: string, n: number, image: string, cause?: string) =>
    ({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: { name, namespace: 'default', labels: { app: 'agent' }, ownerReferences: owner('DaemonSet', 'agent', 'ds-1'), ...(cause ? { annotations: { 'kubernetes.io/change-cause': cause } } : {}) },
      data: { spec: { template: { ...template('agent', image), $patch: 'replace' } } },
      revision: n,
    }) as KubeObject;
  api.put(`${APPS}/controllerrevisions`, revision('agent-2v4b', 2, 'busybox:1.36', 'image bump'), revision('agent-9xz7', 1, 'busybox:1.35'));
  // someone else's revision with the same labels is not part of the history
  api.put(`${APPS}/controllerrevisions`, { ...revision('other-1', 5, 'nginx'), metadata: { name: 'other-1', namespace: 'default', labels: { app: 'agent' } } } as KubeObject);
  const pod = (name: string, phase: string, own = true) =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: { app: 'agent' }, ...(own ? { ownerReferences: owner('DaemonSet', 'agent', 'ds-1') } : {}) }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] }, status: { phase } }) as KubeObject;
  api.put(`${CORE}/pods`, pod('agent-a', 'Running'), pod('agent-b', 'Pending'), pod('stray', 'Running', false));
  api.put(`${CORE}/events`, {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'agent.1', namespace: 'default' },
    involvedObject: { kind: 'DaemonSet', name: 'agent', namespace: 'default', uid: 'ds-1' },
    type: 'Normal',
    reason: 'SuccessfulCreate',
    message: 'Created pod: agent-a',
    source: { component: 'daemonset-controller' },
    lastTimestamp: ago(30),
  } as KubeObject);
  return api;
}

const dsOf = (api: FakeApi) => api.objects.get(`${APPS}/daemonsets/agent`) as any;

describe('rollout of a daemon set', () => {
  it('history lists its own ControllerRevisions by revision, with their change causes', async () => {
    const api = daemonSetWorld();
    expect(await run(api, 'rollout', 'history', 'ds/agent')).toEqual({ code: 0, out: 'daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         <none>\n2         image bump\n\n', err: '' });
    const one = await run(api, 'rollout', 'history', 'daemonset/agent', '--revision', '1');
    expect(one.out).toMatch(/^daemonset\.apps\/agent with revision #1\nPod Template:\n {2}metadata:\n/);
    expect(one.out).toContain('image: busybox:1.35');
    expect(one.out).not.toContain('$patch');
    expect(one.out.endsWith('    - name: main\n        image: busybox:1.35\n')).toBe(true);
    expect(await run(api, 'rollout', 'history', 'ds/agent', '--revision', '4')).toEqual({ code: 1, out: '', err: 'error: unable to find the specified revision\n' });
  });

  it('undo applies the previous revision\'s data as a strategic merge patch, then skips when already there', async () => {
    const api = daemonSetWorld();
    expect(await run(api, 'rollout', 'undo', 'ds/agent')).toEqual({ code: 0, out: 'daemonset.apps/agent rolled back\n', err: '' });
    expect(api.patches).toEqual([
      { path: `${APPS}/daemonsets/agent`, contentType: 'application/strategic-merge-patch+json', body: { spec: { template: { ...template('agent', 'busybox:1.35'), $patch: 'replace' } } } },
    ]);
    expect(dsOf(api).spec.template).toEqual(template('agent', 'busybox:1.35'));
    expect(await run(api, 'rollout', 'undo', 'ds/agent', '--to-revision', '1')).toEqual({ code: 0, out: 'daemonset.apps/agent skipped rollback (current template already matches revision 1)\n', err: '' });
    expect(await run(api, 'rollout', 'undo', 'ds/agent', '--to-revision=2')).toMatchObject({ code: 0, out: 'daemonset.apps/agent rolled back\n' });
    expect(dsOf(api).spec.template.spec.containers[0].image).toBe('busybox:1.36');
    expect(await run(api, 'rollout', 'undo', 'ds/agent', '--to-revision', '7')).toEqual({ code: 1, out: '', err: 'error: unable to find specified revision 7 in history\n' });
  });

  it('undo without an earlier revision says there is none', async () => {
    const api = daemonSetWorld();
    api.objects.delete(`${APPS}/controllerrevisions/agent-9xz7`);
    expect(await run(api, 'rollout', 'undo', 'ds/agent')).toEqual({ code: 1, out: '', err: 'error: no last revision to roll back to\n' });
  });

  it('restart stamps kubectl.kubernetes.io/restartedAt on the pod template', async () => {
    const api = daemonSetWorld();
    expect(await run(api, 'rollout', 'restart', 'ds/agent')).toEqual({ code: 0, out: 'daemonset.apps/agent restarted\n', err: '' });
    expect(dsOf(api).spec.template.metadata).toEqual({ labels: { app: 'agent' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-23T12:00:00Z' } });
  });

  it('status follows updatedNumberScheduled and numberAvailable up to desiredNumberScheduled', async () => {
    const api = daemonSetWorld();
    expect(await run(api, 'rollout', 'status', 'ds/agent', '--watch=false')).toEqual({
      code: 0,
      out: 'Waiting for daemon set "agent" rollout to finish: 1 out of 2 new pods have been updated...\n',
      err: '',
    });
    // the controller catches up while status watches
    let gets = 0;
    const get = api.requestJson.bind(api);
    api.requestJson = async <T>(method: string, path: string, opts?: RequestOptions): Promise<T> => {
      if (method === 'GET' && path === `${APPS}/daemonsets/agent` && ++gets === 2) Object.assign(dsOf(api).status, { updatedNumberScheduled: 2, numberAvailable: 2 });
      return get<T>(method, path, opts);
    };
    expect(await run(api, 'rollout', 'status', 'ds/agent')).toEqual({
      code: 0,
      out: 'Waiting for daemon set "agent" rollout to finish: 1 out of 2 new pods have been updated...\ndaemon set "agent" successfully rolled out\n',
      err: '',
    });
  });

  it('status of an OnDelete daemon set is refused, as kubectl refuses it', async () => {
    const api = daemonSetWorld();
    dsOf(api).spec.updateStrategy = { type: 'OnDelete' };
    expect(await run(api, 'rollout', 'status', 'ds/agent')).toEqual({ code: 1, out: '', err: 'error: rollout status is only available for RollingUpdate strategy type\n' });
  });

  it.each<[string[], string]>([
    [['status', 'rs/web'], 'error: no status viewer has been implemented for ReplicaSet.apps\n'],
    [['history', 'pod/web'], 'error: no history viewer has been implemented for "Pod"\n'],
    [['undo', 'job/pi'], 'error: no rollbacker has been implemented for "Job.batch"\n'],
    [['restart', 'cronjob/tick'], 'error: cronjobs.batch "tick" restarting is not supported\n'],
    [['pause', 'ds/agent'], 'error: daemonsets.apps "agent" pausing is not supported\n'],
    [['resume', 'ds/agent'], 'error: daemonsets.apps "agent" resuming is not supported\n'],
  ])('rollout %j names the kind it does not support', async (argv, err) => {
    const api = daemonSetWorld();
    expect(await run(api, 'rollout', ...argv)).toEqual({ code: 1, out: '', err });
    expect(api.patches).toEqual([]);
  });
});

function deploymentWorld(): FakeApi {
  const api = new FakeApi();
  api.put(`${APPS}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'd-1', generation: 2, creationTimestamp: '2026-11-23T11:00:00Z', annotations: { 'deployment.kubernetes.io/revision': '2' } },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: template('web', 'nginx:1.27'), strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } } },
    status: { replicas: 4, updatedReplicas: 3, availableReplicas: 3, unavailableReplicas: 1, observedGeneration: 2, conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }, { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }] },
  } as KubeObject);
  const rs = (name: string, rev: string, image: string, replicas: number, created: number) =>
    ({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name, namespace: 'default', uid: `rs-${name}`, creationTimestamp: ago(created), labels: { app: 'web', 'pod-template-hash': name.slice(4) }, annotations: { 'deployment.kubernetes.io/revision': rev }, ownerReferences: owner('Deployment', 'web', 'd-1') },
      spec: { replicas, selector: { matchLabels: { app: 'web', 'pod-template-hash': name.slice(4) } }, template: { metadata: { labels: { app: 'web', 'pod-template-hash': name.slice(4) } }, spec: template('web', image).spec } },
      status: { replicas },
    }) as KubeObject;
  api.put(`${APPS}/replicasets`, rs('web-5d8c', '1', 'nginx:1.25', 1, 3000), rs('web-7f9b', '2', 'nginx:1.27', 3, 60), rs('web-4a1a', '0', 'nginx:1.20', 0, 9000));
  return api;
}

describe('describe workloads', () => {
  it('describe deployment names its new ReplicaSet and its old ones', async () => {
    const r = await run(deploymentWorld(), 'describe', 'deployment', 'web');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Replicas:               3 desired | 3 updated | 4 total | 3 available | 1 unavailable\n');
    expect(r.out).toContain('RollingUpdateStrategy:  25% max unavailable, 25% max surge\n');
    expect(r.out).toContain('    Image:         nginx:1.27\n');
    expect(r.out).toMatch(/\nOldReplicaSets: +web-4a1a \(0\/0 replicas created\), web-5d8c \(1\/1 replicas created\)\nNewReplicaSet: +web-7f9b \(3\/3 replicas created\)\nEvents: +<none>\n$/);
  });

  it('describe daemonset counts the phases of its own pods only, and shows its events', async () => {
    const r = await run(daemonSetWorld(), 'describe', 'ds', 'agent');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Desired Number of Nodes Scheduled: 2\n');
    expect(r.out).toContain('Number of Nodes Scheduled with Up-to-date Pods: 1\n');
    expect(r.out).toContain('Pods Status:  1 Running / 1 Waiting / 0 Succeeded / 0 Failed\n');
    expect(r.out).toMatch(/\n {2}Normal +SuccessfulCreate +30s +daemonset-controller +Created pod: agent-a\n$/);
  });
});

describe('rollout of a deployment', () => {
  it('undo puts the previous ReplicaSet\'s template back without its pod-template-hash', async () => {
    const api = deploymentWorld();
    expect(await run(api, 'rollout', 'history', 'deploy/web')).toMatchObject({ out: 'deployment.apps/web \nREVISION  CHANGE-CAUSE\n0         <none>\n1         <none>\n2         <none>\n\n' });
    expect(await run(api, 'rollout', 'undo', 'deploy/web')).toEqual({ code: 0, out: 'deployment.apps/web rolled back\n', err: '' });
    const d = api.objects.get(`${APPS}/deployments/web`) as any;
    expect(d.spec.template).toEqual(template('web', 'nginx:1.25'));
    expect(d.metadata.annotations).toEqual({ 'deployment.kubernetes.io/revision': '2' });
    expect(api.patches[0]!.contentType).toBe('application/json-patch+json');
  });
});
