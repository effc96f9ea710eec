import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../api/index.js';
import { buildApiServer, type ApiServer } from '../../controller/apiserver/app.js';
import { TokenAuthenticator } from '../../controller/pki/tokens.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

const TOKEN = 'test-token-abc';
const auth = { authorization: `Bearer ${TOKEN}` };

function pod(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'web' } },
    spec: { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
    ...extra,
  };
}

let store: MemoryStore;
let server: ApiServer;
let clock: FakeClock;

async function req(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await server.app.inject({
    method: method as 'GET',
    url,
    headers: { ...auth, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  let json: any;
  try {
    json = r.json();
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, json, body: r.body, headers: r.headers, raw: r.rawPayload };
}

const nodeObj = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

beforeEach(async () => {
  clock = new FakeClock(Date.UTC(2026, 0, 1));
  store = new MemoryStore(() => clock.now());
  server = buildApiServer({ store, auth: new TokenAuthenticator([{ token: TOKEN, user: 'admin' }]), clock });
  await server.api.bootstrap();
});

afterEach(async () => {
  await server.app.close();
});

describe('API server authentication and discovery', () => {
  it('answers 401 Unauthorized Status without a token or with a wrong one', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${TOKEN}` }]) {
      const r = await server.app.inject({ method: 'GET', url: '/api/v1/pods', headers });
      expect(r.statusCode).toBe(401);
      expect(r.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
  });

  it('serves /healthz without a token and discovery with one', async () => {
    expect((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await req('GET', '/api')).json).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await req('GET', '/apis')).json;
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.map((g: { preferredVersion: { groupVersion: string } }) => g.preferredVersion.groupVersion)).toEqual(['apps/v1', 'batch/v1', 'discovery.k8s.io/v1', 'policy/v1', 'flotilla.io/v1']);
    expect((await req('GET', '/apis/apps')).json).toMatchObject({ kind: 'APIGroup', name: 'apps', preferredVersion: { groupVersion: 'apps/v1' } });
    expect((await req('GET', '/apis/apps/v1')).json).toMatchObject({ kind: 'APIResourceList', groupVersion: 'apps/v1' });
    expect((await req('GET', '/apis/nope')).status).toBe(404);
    expect((await req('GET', '/apis/apps/v2')).status).toBe(404);
    expect((await req('GET', '/version')).json.major).toBe('1');
    const list = (await req('GET', '/api/v1')).json;
    expect(list.kind).toBe('APIResourceList');
    const names = list.resources.map((r: { name: string }) => r.name);
    for (const n of ['pods', 'pods/status', 'pods/binding', 'pods/log', 'nodes', 'nodes/status', 'namespaces', 'events', 'configmaps', 'secrets']) expect(names).toContain(n);
    expect(list.resources.find((r: { name: string }) => r.name === 'pods')).toMatchObject({ namespaced: true, kind: 'Pod', shortNames: ['po'] });
  });

  it('answers /openapi/v2 with the empty OpenAPI protobuf document', async () => {
    const r = await req('GET', '/openapi/v2', undefined, { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('application/octet-stream');
    expect([...r.raw]).toEqual([0x0a, 0x03, 0x32, 0x2e, 0x30]);
  });

  it('answers an unknown path with a 404 Status', async () => {
    const r = await req('GET', '/api/v1/widgets');
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ kind: 'Status', reason: 'NotFound' });
  });
});

describe('API server pods', () => {
  it('creates, gets and lists a pod with a PodList resourceVersion', async () => {
    const c = await req('POST', '/api/v1/namespaces/default/pods', pod('web'));
    expect(c.status).toBe(201);
    expect(c.json.metadata).toMatchObject({ name: 'web', namespace: 'default' });
    expect(c.json.metadata.uid).toBeTruthy();
    expect(c.json.status.phase).toBe('Pending');
    const g = await req('GET', '/api/v1/namespaces/default/pods/web');
    expect(g.json.metadata.resourceVersion).toBe(c.json.metadata.resourceVersion);
    const l = await req('GET', '/api/v1/pods');
    expect(l.json.kind).toBe('PodList');
    expect(l.json.metadata.resourceVersion).toBeTruthy();
    expect(l.json.items.map((p: any) => p.metadata.name)).toEqual(['web']);
  });

  it('accepts a YAML body', async () => {
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: yml\nspec:\n  containers:\n  - name: c\n    image: busybox\n';
    const r = await req('POST', '/api/v1/namespaces/default/pods', yaml, { 'content-type': 'application/yaml' });
    expect(r.status).toBe(201);
    expect(r.json.metadata.name).toBe('yml');
  });

  it('rejects bad input with a 4xx Status and writes nothing', async () => {
    const before = store.writes;
    const cases: [unknown, Record<string, string>, number, RegExp][] = [
      ['{"apiVersion": "v1", "kind":', { 'content-type': 'application/json' }, 400, /not valid JSON/],
      ['apiVersion: v1\nkind: Pod\n  metadata: : x', { 'content-type': 'application/yaml' }, 400, /not valid YAML/],
      [{ apiVersion: 'v1', kind: 'Widget', metadata: { name: 'x' } }, {}, 400, /no kind "Widget"/],
      [{ apiVersion: 'v9', kind: 'Pod', metadata: { name: 'x' } }, {}, 400, /v9/],
      [pod('Bad_Name'), {}, 422, /metadata.name/],
      [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'c' }] } }, {}, 422, /spec.containers\[0\].image: Required value/],
      [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: 'nope' } }, {}, 422, /spec.containers/],
      [{ ...pod('x'), metadata: { name: 'x', namespace: 'other' } }, {}, 400, /does not match the namespace/],
      [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'x' } }, {}, 400, /the object's kind v1, Kind=Node does not match the kind v1, Kind=Pod of the resource "pods"/],
      ['<xml/>', { 'content-type': 'application/xml' }, 415, /unknown format/],
    ];
    for (const [body, headers, code, msg] of cases) {
      const r = await req('POST', '/api/v1/namespaces/default/pods', body, headers);
      expect({ code: r.status, kind: r.json?.kind }).toEqual({ code, kind: 'Status' });
      expect(r.json.message).toMatch(msg);
    }
    expect(store.writes).toBe(before);
    expect(store.keys().filter((k) => k.startsWith('/flotilla/pods/'))).toEqual([]);
  });

  it('answers 413 for a body over 3 MiB', async () => {
    const big = pod('big', { metadata: { name: 'big', annotations: { x: 'a'.repeat(3 * 1024 * 1024) } } });
    const r = await req('POST', '/api/v1/namespaces/default/pods', big);
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ kind: 'Status', reason: 'RequestEntityTooLarge', code: 413 });
  });

  it('answers 409 AlreadyExists for a duplicate create and 404 for a missing namespace', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('dup'));
    const r = await req('POST', '/api/v1/namespaces/default/pods', pod('dup'));
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ reason: 'AlreadyExists', message: 'pods "dup" already exists', details: { name: 'dup', kind: 'pods' } });
    const m = await req('POST', '/api/v1/namespaces/nope/pods', pod('x'));
    expect(m.status).toBe(404);
    expect(m.json.message).toBe('namespaces "nope" not found');
  });

  it('updates with compare-and-swap on resourceVersion (409 when stale)', async () => {
    const c = (await req('POST', '/api/v1/namespaces/default/pods', pod('cas'))).json;
    const upd = { ...c, metadata: { ...c.metadata, labels: { app: 'v2' } } };
    const ok = await req('PUT', '/api/v1/namespaces/default/pods/cas', upd);
    expect(ok.status).toBe(200);
    expect(ok.json.metadata.labels).toEqual({ app: 'v2' });
    const stale = await req('PUT', '/api/v1/namespaces/default/pods/cas', { ...upd, metadata: { ...upd.metadata, labels: { app: 'v3' } } });
    expect(stale.status).toBe(409);
    expect(stale.json).toMatchObject({ reason: 'Conflict' });
    expect(stale.json.message).toMatch(/the object has been modified/);
  });

  it('keeps status on a main-resource update and changes only status through /status', async () => {
    const c = (await req('POST', '/api/v1/namespaces/default/pods', pod('st'))).json;
    const s = await req('PUT', '/api/v1/namespaces/default/pods/st/status', {
      ...c,
      spec: { ...c.spec, nodeName: 'sneaky' },
      status: { phase: 'Running', podIP: '10.244.1.5' },
    });
    expect(s.status).toBe(200);
    expect(s.json.status).toMatchObject({ phase: 'Running', podIP: '10.244.1.5' });
    expect(s.json.spec.nodeName).toBeUndefined();
    const u = await req('PUT', '/api/v1/namespaces/default/pods/st', { ...s.json, status: { phase: 'Failed' } });
    expect(u.json.status.phase).toBe('Running');
    const p = await req('PATCH', '/api/v1/namespaces/default/pods/st/status', { status: { phase: 'Succeeded' } }, { 'content-type': 'application/merge-patch+json' });
    expect(p.json.status.phase).toBe('Succeeded');
  });

  it('patches with merge, strategic merge and JSON patch; apply-patch is 415', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('pt'));
    const m = await req('PATCH', '/api/v1/namespaces/default/pods/pt', { metadata: { labels: { tier: 'a' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(m.json.metadata.labels).toEqual({ app: 'web', tier: 'a' });
    const s = await req(
      'PATCH',
      '/api/v1/namespaces/default/pods/pt',
      { spec: { containers: [{ name: 'c', image: 'busybox:1.37' }] } },
      { 'content-type': 'application/strategic-merge-patch+json' },
    );
    expect(s.status).toBe(200);
    expect(s.json.spec.containers[0]).toMatchObject({ name: 'c', image: 'busybox:1.37', command: ['sleep', '3600'] });
    const j = await req('PATCH', '/api/v1/namespaces/default/pods/pt', [{ op: 'remove', path: '/metadata/labels/tier' }], {
      'content-type': 'application/json-patch+json',
    });
    expect(j.json.metadata.labels).toEqual({ app: 'web' });
    const a = await req('PATCH', '/api/v1/namespaces/default/pods/pt', 'metadata: {}', { 'content-type': 'application/apply-patch+yaml' });
    expect(a.status).toBe(415);
    expect(a.json.message).toMatch(/server-side apply/);
    const bad = await req('PATCH', '/api/v1/namespaces/default/pods/pt', { spec: { containers: [{ name: 'c', image: '' }] } }, {
      'content-type': 'application/strategic-merge-patch+json',
    });
    expect(bad.status).toBe(422);
    const missing = await req('PATCH', '/api/v1/namespaces/default/pods/none', {}, { 'content-type': 'application/merge-patch+json' });
    expect(missing.status).toBe(404);
    expect(missing.json.message).toBe('pods "none" not found');
  });

  it('binds a pod once; a second binding is 409', async () => {
    for (const n of ['n1', 'n2']) await req('POST', '/api/v1/nodes', nodeObj(n));
    await req('POST', '/api/v1/namespaces/default/pods', pod('b'));
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'b' }, target: { kind: 'Node', name: 'n1' } };
    const r = await req('POST', '/api/v1/namespaces/default/pods/b/binding', binding);
    expect(r.status).toBe(201);
    expect((await req('GET', '/api/v1/namespaces/default/pods/b')).json.spec.nodeName).toBe('n1');
    const again = await req('POST', '/api/v1/namespaces/default/pods/b/binding', { ...binding, target: { name: 'n2' } });
    expect(again.status).toBe(409);
    expect(again.json.message).toMatch(/already assigned to node "n1"/);
  });

  it.each([
    ['watch=maybe', 'invalid watch "maybe": must be true or false'],
    ['allowWatchBookmarks=yes&watch=1', 'invalid allowWatchBookmarks "yes": must be true or false'],
    ['dryRun=Some', 'dryRun: Unsupported value: "Some": supported values: "All"'],
    ['includeObject=Everything', 'includeObject: Unsupported value: "Everything": supported values: "None", "Metadata", "Object"'],
    ['limit=99999999999999999999', 'invalid limit "99999999999999999999": must be an integer'],
    ['timeoutSeconds=soon&watch=true', 'invalid timeoutSeconds "soon": must be an integer'],
    [`labelSelector=${'x'.repeat(100)}%3D&watch=true`, undefined],
  ])('a bad list/watch query parameter (%s) is a 400 naming it', async (query, message) => {
    const r = await req('GET', `/api/v1/namespaces/default/pods?${query}`);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
    if (message) expect(r.json.message).toBe(message);
    expect(r.json.message.length).toBeLessThan(400);
  });

  it('watch=True and watch=t are watches, as Go reads booleans', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('wt'));
    for (const v of ['True', 't']) {
      const p = req('GET', `/api/v1/namespaces/default/pods?watch=${v}&timeoutSeconds=1`);
      await new Promise((r) => setTimeout(r, 20));
      clock.advance(1000);
      const r = await p;
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.trim().split('\n')[0]!)).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'wt' } } });
    }
  });

  it('a store that is unavailable (etcd breaker open) gives a 503 Status with Retry-After, not a 500', async () => {
    const { EtcdHostSkippedError, fromEtcdError } = await import('../../controller/index.js');
    vi.spyOn(store, 'list').mockRejectedValueOnce(fromEtcdError(new EtcdHostSkippedError(1)));
    const r = await req('GET', '/api/v1/namespaces/default/pods');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.json).toMatchObject({ kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'etcd is unavailable: etcd host skipped after repeated failures', details: { retryAfterSeconds: 1 } });
  });

  it('refuses a binding to an invalid node name or a node that does not exist, and the pod stays unbound and patchable', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('nb'));
    const bad = await req('POST', '/api/v1/namespaces/default/pods/nb/binding', { kind: 'Binding', apiVersion: 'v1', target: { name: 'Bad Node!' } });
    expect(bad.status).toBe(422);
    expect(bad.json.message).toMatch(/^Binding "nb" is invalid: target\.name: Invalid value: "Bad Node!": a lowercase RFC 1123 subdomain/);
    const none = await req('POST', '/api/v1/namespaces/default/pods/nb/binding', { kind: 'Binding', apiVersion: 'v1', target: { name: 'ghost' } });
    expect(none.status).toBe(422);
    expect(none.json.message).toBe('Binding "nb" is invalid: target.name: Not found: "ghost"');
    expect(none.json.details.causes).toEqual([{ field: 'target.name', reason: 'FieldValueNotFound', message: 'Not found: "ghost"' }]);
    const p = await req('GET', '/api/v1/namespaces/default/pods/nb');
    expect(p.json.spec.nodeName).toBeUndefined();
    const patched = await req('PATCH', '/api/v1/namespaces/default/pods/nb', { metadata: { labels: { a: 'b' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(patched.status).toBe(200);
  });

  it('deletes a pod bound to a node that no longer exists at once (no agent is left to confirm it)', async () => {
    await req('POST', '/api/v1/nodes', nodeObj('gone'));
    await req('POST', '/api/v1/namespaces/default/pods', pod('orphan', { spec: { ...pod('x').spec, nodeName: 'gone' } }));
    expect((await req('DELETE', '/api/v1/nodes/gone')).status).toBe(200);
    const d = await req('DELETE', '/api/v1/namespaces/default/pods/orphan', { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 30 });
    expect(d.status).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/pods/orphan')).status).toBe(404);
  });

  it('deletes an unscheduled pod at once and a bound one gracefully until the node confirms', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('free'));
    const d = await req('DELETE', '/api/v1/namespaces/default/pods/free');
    expect(d.status).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/pods/free')).status).toBe(404);

    await req('POST', '/api/v1/nodes', nodeObj('n1'));
    await req('POST', '/api/v1/namespaces/default/pods', pod('bound', { spec: { ...pod('x').spec, nodeName: 'n1' } }));
    const g = await req('DELETE', '/api/v1/namespaces/default/pods/bound', { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 10 });
    expect(g.status).toBe(200);
    expect(g.json.metadata.deletionGracePeriodSeconds).toBe(10);
    expect(g.json.metadata.deletionTimestamp).toBe('2026-01-01T00:00:10Z');
    const table = await req('GET', '/api/v1/namespaces/default/pods', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(table.json.rows[0].cells[2]).toBe('Terminating');
    expect((await req('GET', '/api/v1/namespaces/default/pods/bound')).status).toBe(200);
    const confirm = await req('DELETE', '/api/v1/namespaces/default/pods/bound?gracePeriodSeconds=0');
    expect(confirm.status).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/pods/bound')).status).toBe(404);
    expect(store.keys().filter((k) => k.startsWith('/flotilla/pods/'))).toEqual([]);
  });

  it('removes a terminal pod at once even when it is bound', async () => {
    const c = (await req('POST', '/api/v1/namespaces/default/pods', pod('done', { spec: { ...pod('x').spec, nodeName: 'n1' } }))).json;
    await req('PUT', '/api/v1/namespaces/default/pods/done/status', { ...c, status: { phase: 'Succeeded' } });
    const d = await req('DELETE', '/api/v1/namespaces/default/pods/done');
    expect(d.status).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/pods/done')).status).toBe(404);
  });

  it('honours delete preconditions on uid', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('pre'));
    const r = await req('DELETE', '/api/v1/namespaces/default/pods/pre', { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'other' } });
    expect(r.status).toBe(409);
    expect(r.json.message).toMatch(/Precondition failed: UID in precondition: other/);
    expect((await req('GET', '/api/v1/namespaces/default/pods/pre')).status).toBe(200);
  });

  it('refuses a pod spec change that Kubernetes forbids, with 422', async () => {
    const c = (await req('POST', '/api/v1/namespaces/default/pods', pod('imm'))).json;
    const r = await req('PUT', '/api/v1/namespaces/default/pods/imm', { ...c, spec: { ...c.spec, restartPolicy: 'Never' } });
    expect(r.status).toBe(422);
    expect(r.json.message).toMatch(/pod updates may not change fields/);
  });

  it('updates node status only through nodes/status', async () => {
    const n = (await req('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'ns1' } })).json;
    const ready = { conditions: [{ type: 'Ready', status: 'True' }] };
    const main = await req('PUT', '/api/v1/nodes/ns1', { ...n, status: ready });
    expect(main.json.status?.conditions).toBeUndefined();
    const st = await req('PATCH', '/api/v1/nodes/ns1/status', { status: ready }, { 'content-type': 'application/merge-patch+json' });
    expect(st.json.status.conditions[0].type).toBe('Ready');
    const t = await req('GET', '/api/v1/nodes', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(t.json.rows[0].cells.slice(0, 3)).toEqual(['ns1', 'Ready', '<none>']);
  });

  it('filters lists by label and field selectors', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('a'));
    await req('POST', '/api/v1/namespaces/default/pods', { ...pod('b'), metadata: { name: 'b', labels: { app: 'db' } }, spec: { ...pod('b').spec, nodeName: 'n2' } });
    const names = async (q: string) => (await req('GET', `/api/v1/pods?${q}`)).json.items.map((p: any) => p.metadata.name);
    expect(await names('labelSelector=app%3Dweb')).toEqual(['a']);
    expect(await names('labelSelector=app+in+(web,db)')).toEqual(['a', 'b']);
    expect(await names('fieldSelector=metadata.name%3Db')).toEqual(['b']);
    expect(await names('fieldSelector=spec.nodeName%3Dn2')).toEqual(['b']);
    expect(await names('fieldSelector=spec.nodeName%3D')).toEqual(['a']);
    const bad = await req('GET', '/api/v1/pods?fieldSelector=spec.bogus%3Dx');
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/field label not supported: spec.bogus/);
  });

  it('answers kubectl Table requests with its pod columns', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('t1'));
    clock.advance(90_000);
    const r = await req('GET', '/api/v1/namespaces/default/pods', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    expect(r.json.kind).toBe('Table');
    expect(r.json.columnDefinitions.map((c: any) => c.name).slice(0, 7)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node']);
    expect(r.json.rows[0].cells.slice(0, 5)).toEqual(['t1', '0/1', 'Pending', '0', '90s']);
    expect(r.json.rows[0].object.metadata.name).toBe('t1');
  });

  it('answers Accept: application/yaml in YAML', async () => {
    const r = await req('GET', '/api/v1/namespaces/default', undefined, { accept: 'application/yaml' });
    expect(r.headers['content-type']).toContain('application/yaml');
    expect(r.body).toMatch(/^kind: Namespace\n/m);
    const e = await req('GET', '/api/v1/namespaces/nope', undefined, { accept: 'application/yaml' });
    expect(e.status).toBe(404);
    expect(e.body).toContain('kind: Status');
  });

  it('answers protobuf Accept with JSON', async () => {
    const r = await req('GET', '/api/v1/namespaces', undefined, { accept: 'application/vnd.kubernetes.protobuf, */*' });
    expect(r.status).toBe(200);
    expect(r.json.kind).toBe('NamespaceList');
  });

  it('creates the default and kube-system namespaces and refuses to delete them', async () => {
    const l = await req('GET', '/api/v1/namespaces');
    expect(l.json.items.map((n: any) => n.metadata.name)).toEqual(['default', 'kube-system']);
    const d = await req('DELETE', '/api/v1/namespaces/default');
    expect(d.status).toBe(403);
  });

  it('marks a deleted namespace Terminating (the namespace controller on the leader empties it) and refuses new content', async () => {
    await req('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tmp' } });
    await req('POST', '/api/v1/namespaces/tmp/pods', pod('p1'));
    const d = await req('DELETE', '/api/v1/namespaces/tmp');
    expect(d.status).toBe(200);
    expect(d.json.status.phase).toBe('Terminating');
    expect(d.json.metadata.deletionTimestamp).toBeTruthy();
    const c = await req('POST', '/api/v1/namespaces/tmp/pods', pod('p2'));
    expect([403, 404]).toContain(c.status);
    expect(c.json.message).toMatch(/because it is being terminated|not found/);
    expect(store.keys().filter((k) => k.includes('tmp')).sort()).toEqual(['/flotilla/namespaces/tmp', '/flotilla/pods/tmp/p1']);
  });
});

describe('API server extras', () => {
  it('generates a name from generateName', async () => {
    const r = await req('POST', '/api/v1/namespaces/default/pods', { ...pod(''), metadata: { generateName: 'gen-' } });
    expect(r.status).toBe(201);
    expect(r.json.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it('validates but writes nothing with dryRun=All', async () => {
    const before = store.writes;
    const r = await req('POST', '/api/v1/namespaces/default/pods?dryRun=All&fieldValidation=Strict', pod('dry'));
    expect(r.status).toBe(201);
    expect(r.json.metadata.name).toBe('dry');
    expect(store.writes).toBe(before);
  });

  it('answers pods/log with a clear Status until the node agents serve logs', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('lg'));
    const unbound = await req('GET', '/api/v1/namespaces/default/pods/lg/log');
    expect(unbound.status).toBe(400);
    expect(unbound.json.message).toBe('pod lg does not have a host assigned');
    await req('POST', '/api/v1/nodes', nodeObj('n1'));
    await req('POST', '/api/v1/namespaces/default/pods/lg/binding', { kind: 'Binding', apiVersion: 'v1', target: { name: 'n1' } });
    const bound = await req('GET', '/api/v1/namespaces/default/pods/lg/log');
    expect(bound.status).toBe(503);
    expect(bound.json.message).toMatch(/logs of pod lg on node n1 are not available/);
    expect((await req('GET', '/api/v1/namespaces/default/pods/none/log')).status).toBe(404);
  });

  it('deletes a collection by label selector', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('c1'));
    await req('POST', '/api/v1/namespaces/default/pods', { ...pod('c2'), metadata: { name: 'c2', labels: { app: 'keep' } } });
    const r = await req('DELETE', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb');
    expect(r.status).toBe(200);
    expect(r.json.items.map((p: any) => p.metadata.name)).toEqual(['c1']);
    expect(store.keys().filter((k) => k.startsWith('/flotilla/pods/'))).toEqual(['/flotilla/pods/default/c2']);
  });

  it('refuses methods a path does not serve with 405', async () => {
    expect((await req('POST', '/api/v1/pods', pod('x'))).status).toBe(405);
    expect((await req('PUT', '/api/v1/namespaces/default/pods', pod('x'))).status).toBe(405);
    expect((await req('POST', '/api/v1/namespaces/default/pods/x/status', pod('x'))).status).toBe(405);
  });

  it('creates cluster-scoped nodes and events in a namespace, served by their field selectors', async () => {
    const n = await req('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    expect(n.status).toBe(201);
    expect(n.json.metadata.namespace).toBeUndefined();
    const ev = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'e1' },
      involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' },
      reason: 'Scheduled',
      message: 'hi',
      type: 'Normal',
    };
    expect((await req('POST', '/api/v1/namespaces/default/events', ev)).status).toBe(201);
    const l = await req('GET', '/api/v1/events?fieldSelector=involvedObject.name%3Dweb,involvedObject.kind%3DPod');
    expect(l.json.items.map((e: any) => e.metadata.name)).toEqual(['e1']);
    const t = await req('GET', '/api/v1/namespaces/default/events', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(t.json.columnDefinitions.filter((c: any) => c.priority === 0).map((c: any) => c.name)).toEqual(['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
    expect(t.json.rows[0].cells[3]).toBe('pod/web');
  });
});

describe('API server watches', () => {
  it('streams watch events as JSON lines from a resourceVersion and ends at timeoutSeconds', async () => {
    const c = (await req('POST', '/api/v1/namespaces/default/pods', pod('w1'))).json;
    const p = req('GET', `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${c.metadata.resourceVersion}&timeoutSeconds=5`);
    await new Promise((r) => setTimeout(r, 20));
    await req('POST', '/api/v1/namespaces/default/pods', pod('w2'));
    await req('DELETE', '/api/v1/namespaces/default/pods/w1');
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(5000);
    const r = await p;
    expect(r.status).toBe(200);
    const events = r.body.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED w2', 'DELETED w1']);
  });

  it('sends the current objects first when no resourceVersion is given, filtered by field selector', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('x1'));
    await req('POST', '/api/v1/namespaces/default/pods', pod('x2'));
    const p = req('GET', '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dx2&timeoutSeconds=3');
    await new Promise((r) => setTimeout(r, 20));
    await req('DELETE', '/api/v1/namespaces/default/pods/x2');
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(3000);
    const events = (await p).body.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED x2', 'DELETED x2']);
  });

  it('reports a compacted resourceVersion as an ERROR event with a 410 Status', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('old'));
    store.compact();
    const r = await req('GET', '/api/v1/namespaces/default/pods?watch=true&resourceVersion=1');
    const ev = JSON.parse(r.body.trim().split('\n')[0]!);
    expect(ev.type).toBe('ERROR');
    expect(ev.object).toMatchObject({ kind: 'Status', code: 410 });
  });

  it('answers a watch with a bad selector with a plain 400 Status', async () => {
    const r = await req('GET', '/api/v1/pods?watch=true&fieldSelector=spec.nope%3Dx');
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ kind: 'Status', message: 'field label not supported: spec.nope' });
  });

  it('sends Table rows in watch events when kubectl asks for a Table', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', pod('tw'));
    const p = req('GET', '/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(1000);
    const ev = JSON.parse((await p).body.trim().split('\n')[0]!);
    expect(ev.type).toBe('ADDED');
    expect(ev.object.kind).toBe('Table');
    expect(ev.object.rows[0].cells[0]).toBe('tw');
  });

  it('ends open watches when the server closes', async () => {
    const p = req('GET', '/api/v1/pods?watch=true');
    await new Promise((r) => setTimeout(r, 20));
    server.endWatches();
    const r = await p;
    expect(r.status).toBe(200);
  });
});

describe('API server metrics', () => {
  it('counts requests by verb, resource and code', async () => {
    await req('GET', '/api/v1/namespaces/default/pods');
    await req('GET', '/api/v1/namespaces/default/pods/none');
    const m = (await req('GET', '/metrics')).body;
    expect(m).toContain('apiserver_request_total{code="200",resource="pods",verb="list"} 1');
    expect(m).toContain('apiserver_request_total{code="404",resource="pods",verb="get"} 1');
    expect(m).toContain('apiserver_request_duration_seconds_bucket');
    expect(m).toContain('flotilla_etcd_up 1');
  });
});
