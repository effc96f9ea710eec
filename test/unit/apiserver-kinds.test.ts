// The API machinery for many kinds, through the HTTP layer over a MemoryStore:
// ConfigMaps and Secrets as registered kinds, bodies that take their kind from
// the URL, API group routing, finalizers and deletion propagation.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../api/index.js';
import { buildApiServer, type ApiServer } from '../../controller/apiserver/app.js';
import { TokenAuthenticator } from '../../controller/pki/tokens.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

const TOKEN = 'test-token-kinds';

let store: MemoryStore;
let server: ApiServer;
let clock: FakeClock;

async function req(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await server.app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  let json: any;
  try {
    json = r.json();
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, json, body: r.body };
}

beforeEach(async () => {
  clock = new FakeClock(Date.UTC(2026, 0, 1));
  store = new MemoryStore(() => clock.now());
  server = buildApiServer({ store, auth: new TokenAuthenticator([{ token: TOKEN, user: 'admin' }]), clock });
  await server.api.bootstrap();
});

afterEach(async () => {
  await server.app.close();
});

const cm = (name: string, data: Record<string, string> = { mode: 'fast' }, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data,
  ...extra,
});

describe('[api] a body without apiVersion and kind takes them from the URL', () => {
  it('creates a namespace from metadata alone, as the official client libraries send it', async () => {
    const r = await req('POST', '/api/v1/namespaces', { metadata: { name: 'team-a' } });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a' } }, status: { phase: 'Active' } });
  });

  it('creates a configmap from metadata and data alone', async () => {
    const r = await req('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'bare' }, data: { a: '1' } });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
  });

  it('refuses a body of another kind with a 400 naming both kinds', async () => {
    const r = await req('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } });
    expect(r.status).toBe(400);
    expect(r.json.message).toBe('the object\'s kind v1, Kind=Secret does not match the kind v1, Kind=ConfigMap of the resource "configmaps" on the URL');
  });
});

describe('[api] ConfigMaps', () => {
  it('are created, read, listed, patched and deleted like any namespaced kind', async () => {
    expect((await req('POST', '/api/v1/namespaces/default/configmaps', cm('app'))).status).toBe(201);
    const g = await req('GET', '/api/v1/namespaces/default/configmaps/app');
    expect(g.json).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: { mode: 'fast' } });
    const l = await req('GET', '/api/v1/configmaps');
    expect(l.json.kind).toBe('ConfigMapList');
    const p = await req('PATCH', '/api/v1/namespaces/default/configmaps/app', { data: { mode: 'slow' } }, { 'content-type': 'application/merge-patch+json' });
    expect(p.json.data).toEqual({ mode: 'slow' });
    const d = await req('DELETE', '/api/v1/namespaces/default/configmaps/app');
    expect(d.json).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'app', kind: 'configmaps' } });
    expect((await req('GET', '/api/v1/namespaces/default/configmaps/app')).status).toBe(404);
  });

  it('print NAME DATA AGE in the Table kubectl asks for', async () => {
    await req('POST', '/api/v1/namespaces/default/configmaps', cm('app', { a: '1', b: '2' }));
    const t = await req('GET', '/api/v1/namespaces/default/configmaps', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(t.json.columnDefinitions.map((c: { name: string }) => c.name)).toEqual(['Name', 'Data', 'Age']);
    expect(t.json.rows[0].cells).toEqual(['app', 2, '0s']);
  });

  it.each<[string, unknown, RegExp]>([
    ['a bad key name', cm('bad', { 'no spaces': 'x' }), /^ConfigMap "bad" is invalid: data\[no spaces\]: Invalid value: "no spaces": a valid config key must consist of alphanumeric characters/],
    ['a key in both data and binaryData', cm('dup', { k: 'x' }, { binaryData: { k: 'eA==' } }), /data\[k\]: Invalid value: "k": duplicate of key present in binaryData/],
    ['binaryData that is not base64', cm('bin', {}, { binaryData: { k: '***' } }), /binaryData\[k\]: Invalid value: "<value omitted>": must be base64-encoded/],
    ['more than 1 MiB of data', cm('big', { a: 'x'.repeat(600 * 1024), b: 'y'.repeat(600 * 1024) }), /ConfigMap "big" is invalid: \[\]: Too long: must have at most 1048576 bytes|Too long: must have at most 1048576 bytes/],
    ['a non-string value', cm('num', { a: 5 as unknown as string }), /data\[a\]: Invalid value: "number": must be a string/],
  ])('refuse %s with a 422 naming the field, and store nothing', async (_what, body, msg) => {
    const before = store.writes;
    const r = await req('POST', '/api/v1/namespaces/default/configmaps', body);
    expect(r.status).toBe(422);
    expect(r.json.message).toMatch(msg);
    expect(store.writes).toBe(before);
  });

  it('an immutable ConfigMap refuses a data change but may be deleted', async () => {
    await req('POST', '/api/v1/namespaces/default/configmaps', cm('frozen', { a: '1' }, { immutable: true }));
    const p = await req('PATCH', '/api/v1/namespaces/default/configmaps/frozen', { data: { a: '2' } }, { 'content-type': 'application/merge-patch+json' });
    expect(p.status).toBe(422);
    expect(p.json.message).toBe('ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set');
    const u = await req('PATCH', '/api/v1/namespaces/default/configmaps/frozen', { immutable: false }, { 'content-type': 'application/merge-patch+json' });
    expect(u.status).toBe(422);
    expect((await req('DELETE', '/api/v1/namespaces/default/configmaps/frozen')).status).toBe(200);
  });
});

describe('[api] Secrets', () => {
  const secret = (name: string, extra: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, ...extra });

  it('fold stringData into base64 data, default the type to Opaque and never store stringData', async () => {
    const r = await req('POST', '/api/v1/namespaces/default/secrets', secret('db', { data: { user: Buffer.from('app').toString('base64') }, stringData: { password: 's3cret' } }));
    expect(r.status).toBe(201);
    expect(r.json.type).toBe('Opaque');
    expect(r.json.stringData).toBeUndefined();
    expect(Buffer.from(r.json.data.password, 'base64').toString()).toBe('s3cret');
    expect(Buffer.from(r.json.data.user, 'base64').toString()).toBe('app');
    const t = await req('GET', '/api/v1/namespaces/default/secrets', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(t.json.rows[0].cells).toEqual(['db', 'Opaque', 2, '0s']);
  });

  it.each<[string, unknown, RegExp]>([
    ['data that is not base64', secret('b', { data: { password: 'not base64!' } }), /^Secret "b" is invalid: data\[password\]: Invalid value: "<value omitted>": must be base64-encoded/],
    ['a TLS secret without its key', secret('tls', { type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==' } }), /data\[tls.key\]: Required value/],
    ['a bad key', secret('k', { stringData: { '../x': 'v' } }), /data\[..\/x\]: Invalid value/],
    ['stringData that is not strings', secret('s', { stringData: { a: 1 } }), /stringData\[a\]: Invalid value: "number": must be a string/],
  ])('refuse %s with a 422 naming the field', async (_what, body, msg) => {
    const r = await req('POST', '/api/v1/namespaces/default/secrets', body);
    expect(r.status).toBe(422);
    expect(r.json.message).toMatch(msg);
  });

  it('refuse a type change', async () => {
    await req('POST', '/api/v1/namespaces/default/secrets', secret('t', { stringData: { a: 'b' } }));
    const p = await req('PATCH', '/api/v1/namespaces/default/secrets/t', { type: 'kubernetes.io/basic-auth' }, { 'content-type': 'application/merge-patch+json' });
    expect(p.status).toBe(422);
    expect(p.json.message).toMatch(/type: Invalid value: "kubernetes.io\/basic-auth": field is immutable/);
  });
});

describe('[api] API groups', () => {
  it('routes /apis/<group>/<version>/… to the registry: an unknown resource in a served group is a 404', async () => {
    const r = await req('GET', '/apis/apps/v1/namespaces/default/statefulsets');
    expect(r.status).toBe(404);
    expect(r.json.kind).toBe('Status');
    expect((await req('GET', '/apis/nope/v1/things')).status).toBe(404);
  });
});

describe('[api] finalizers and propagation policies', () => {
  it('an object with a finalizer is only marked by a DELETE, and goes when the last finalizer is removed', async () => {
    await req('POST', '/api/v1/namespaces/default/configmaps', cm('held', { a: '1' }, { metadata: { name: 'held', finalizers: ['example.com/hold'] } }));
    const d = await req('DELETE', '/api/v1/namespaces/default/configmaps/held');
    expect(d.status).toBe(200);
    expect(d.json.metadata.deletionTimestamp).toBe('2026-01-01T00:00:00Z');
    expect((await req('GET', '/api/v1/namespaces/default/configmaps/held')).status).toBe(200);
    const add = await req('PATCH', '/api/v1/namespaces/default/configmaps/held', { metadata: { finalizers: ['example.com/hold', 'example.com/more'] } }, { 'content-type': 'application/merge-patch+json' });
    expect(add.status).toBe(403);
    expect(add.json.message).toMatch(/no new finalizers can be added if the object is being deleted/);
    const done = await req('PATCH', '/api/v1/namespaces/default/configmaps/held', { metadata: { finalizers: null } }, { 'content-type': 'application/merge-patch+json' });
    expect(done.status).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/configmaps/held')).status).toBe(404);
  });

  it.each([
    ['Foreground', 'foregroundDeletion'],
    ['Orphan', 'orphan'],
  ])('propagationPolicy=%s marks the owner with the %s finalizer for the garbage collector', async (policy, finalizer) => {
    await req('POST', '/api/v1/namespaces/default/configmaps', cm('owner'));
    const d = await req('DELETE', `/api/v1/namespaces/default/configmaps/owner?propagationPolicy=${policy}`);
    expect(d.status).toBe(200);
    expect(d.json.metadata.finalizers).toEqual([finalizer]);
    expect(d.json.metadata.deletionTimestamp).toBeTruthy();
    // the body's DeleteOptions say the same
    await req('POST', '/api/v1/namespaces/default/configmaps', cm('owner2'));
    const b = await req('DELETE', '/api/v1/namespaces/default/configmaps/owner2', { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: policy });
    expect(b.json.metadata.finalizers).toEqual([finalizer]);
  });

  it('Background (the default) removes the owner at once', async () => {
    await req('POST', '/api/v1/namespaces/default/configmaps', cm('gone'));
    expect((await req('DELETE', '/api/v1/namespaces/default/configmaps/gone?propagationPolicy=Background')).status).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/configmaps/gone')).status).toBe(404);
  });

  it('refuses an unknown propagationPolicy with a 400', async () => {
    await req('POST', '/api/v1/namespaces/default/configmaps', cm('x'));
    const r = await req('DELETE', '/api/v1/namespaces/default/configmaps/x?propagationPolicy=Sideways');
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/propagationPolicy "Sideways"/);
  });

  it.each<[string, unknown, RegExp]>([
    ['an ownerReference without a uid', { apiVersion: 'v1', kind: 'ConfigMap', name: 'o' }, /metadata.ownerReferences\[0\].uid: Required value/],
    ['an ownerReference with a uid that is not a UID', { apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'not a uid!' }, /metadata.ownerReferences\[0\].uid: Invalid value: "not a uid!"/],
    ['two controller references', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'a', uid: '8d3c5b4e-0000-4000-8000-000000000001', controller: true }, { apiVersion: 'v1', kind: 'ConfigMap', name: 'b', uid: '8d3c5b4e-0000-4000-8000-000000000002', controller: true }], /Only one reference can have Controller set to true/],
  ])('refuses %s with a 422 naming the field', async (_w, ref, msg) => {
    const refs = Array.isArray(ref) ? ref : [ref];
    const r = await req('POST', '/api/v1/namespaces/default/configmaps', cm('dep', { a: '1' }, { metadata: { name: 'dep', ownerReferences: refs } }));
    expect(r.status).toBe(422);
    expect(r.json.message).toMatch(msg);
  });
});
