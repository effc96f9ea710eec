// The command flows against a fake Transport (an in-memory API), so the logic of
// apply/get/delete is checked without a server; the real server is in
// test/integration/cli-*.test.ts.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyStrategicMergePatch, type KubeObject, type WatchEvent } from '../../api/index.js';
import type { Query, RequestOptions, Transport } from '../../cli/client.js';
import { ApiStatusError } from '../../cli/errors.js';
import { runCli } from '../../cli/program.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');

class FakeApi implements Transport {
  readonly server = 'https://fake:6443';
  readonly objects = new Map<string, KubeObject>();
  readonly calls: string[] = [];
  rv = 1;
  /** When set, DELETE only marks the object and the watch reports its removal later. */
  graceful = false;
  watched: string[] = [];

  private notFound(path: string): never {
    const name = path.split('/').pop();
    const kind = path.split('/').slice(-2)[0];
    throw new ApiStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: `${kind} "${name}" not found` }, 404);
  }

  async requestJson<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    this.calls.push(`${method} ${path}`);
    if (path === '/api/v1') {
      return {
        resources: [
          { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'] },
          { name: 'nodes', singularName: 'node', namespaced: false, kind: 'Node', shortNames: ['no'] },
        ],
      } as T;
    }
    if (path === '/apis') return { groups: [] } as T;
    const isCollection = path.endsWith('/pods') || path.endsWith('/nodes');
    if (method === 'GET' && isCollection) {
      const field = String(opts.query?.fieldSelector ?? '');
      const items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(path + '/') || (path === '/api/v1/pods' && k.includes('/pods/')))
        .map(([, v]) => v)
        .filter((o) => !field.startsWith('metadata.name=') || o.metadata.name === field.slice('metadata.name='.length));
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
      const next = applyStrategicMergePatch<KubeObject>(current, opts.body);
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
