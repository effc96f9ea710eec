// Secrets at rest against a real etcd: the store encrypts Secrets (AES-256-GCM,
// the etcd key as authenticated data) and every reader of the store — get, list,
// updates, delete, watches, the bootstrap token store — sees plaintext objects.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type KubeObject, type WatchEvent } from '../../api/index.js';
import { AESGCM_PREFIX, AesGcmTransformer, DecryptionError, EtcdStore, TokenAuthenticator, buildApiServer, statusFromError, type EncryptionKey } from '../../controller/index.js';
import { BootstrapTokenStore } from '../../controller/join/token-store.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';
import { take } from '../helpers/watch.js';

interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const PASSWORD = 'hunter2-correct-horse-battery';
const B64 = Buffer.from(PASSWORD).toString('base64');

const secret = (name: string, namespace: string, password = PASSWORD): Secret => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace, labels: { tier: 'database-tier-label' }, annotations: { owner: 'team-annotation-value' } },
  type: 'Opaque',
  data: { password: Buffer.from(password).toString('base64') },
  stringData: { user: 'admin-user-string' },
});

const key = (id: string): EncryptionKey => ({ id, secret: randomBytes(32) });
const K1 = key('k1');
const K2 = key('k2');

let etcd: TestEtcd;
let raw: Etcd3;
const stores: EtcdStore[] = [];
let store: EtcdStore;

function storeWith(keys: EncryptionKey[], extra: Partial<ConstructorParameters<typeof EtcdStore>[0]> = {}): EtcdStore {
  const s = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger(), encryption: new AesGcmTransformer(keys, { source: 'test-keys.json' }), ...extra });
  stores.push(s);
  return s;
}

const ns = () => `ns-${randomBytes(4).toString('hex')}`;
const rawValue = async (k: string): Promise<Buffer> => (await raw.get(k).buffer())!;

async function rejection(p: Promise<unknown>): Promise<DecryptionError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DecryptionError);
  return e as DecryptionError;
}

/** The first `n` events of a watch (within 5 s), then the watch ends. */
async function events<T extends KubeObject>(w: AsyncIterable<WatchEvent<T>>, n: number): Promise<WatchEvent<T>[]> {
  const it = w[Symbol.asyncIterator]();
  try {
    return await take(it, n, 5000);
  } finally {
    await it.return?.();
  }
}

/** Everything readable in a stored value that does not come from the object's name. */
function expectNoPlaintext(value: Buffer): void {
  for (const s of [PASSWORD, B64, 'database-tier-label', 'team-annotation-value', 'admin-user-string', 'Opaque', '"kind"', 'creationTimestamp']) {
    expect(value.includes(s), `stored value shows ${s}`).toBe(false);
  }
}

describe('secrets at rest', () => {
  beforeAll(async () => {
    requireRoot('store-secrets-encryption');
    requireBinaries('store-secrets-encryption', 'etcd', 'etcdctl');
    etcd = await startEtcd();
    raw = new Etcd3({ hosts: etcd.endpoints });
    store = storeWith([K1]);
  });

  afterAll(async () => {
    for (const s of stores) await s.close();
    raw?.close();
    await etcd?.stop();
  });

  it('etcdctl get of a Secret shows the key id prefix and none of its data, labels, annotations or type', async () => {
    const n = ns();
    const created = await store.create('secrets', secret('db', n));
    const out = execFileSync('etcdctl', ['--endpoints', etcd.endpoints.join(','), 'get', `/flotilla/secrets/${n}/db`, '--print-value-only'], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    expect(out.subarray(0, AESGCM_PREFIX.length + 3).toString()).toBe(`${AESGCM_PREFIX}k1:`);
    expectNoPlaintext(out);
    expect(created.data).toEqual({ password: B64 });
    expect(await store.get({ resource: 'secrets', namespace: n, name: 'db' })).toEqual(created);
  });

  it('get, list, update, guaranteedUpdate and delete hand out plaintext objects while etcd holds only ciphertext', async () => {
    const n = ns();
    const a = await store.create('secrets', secret('a', n));
    await store.create('secrets', secret('b', n, 'second-password-value'));
    const list = await store.list<Secret>('secrets', { namespace: n, filter: (s) => s.data?.password === B64 });
    expect(list.items.map((s) => s.metadata.name)).toEqual(['a']);

    const updated = await store.update<Secret>('secrets', { ...a, data: { password: Buffer.from('updated-password-1').toString('base64') } });
    expect(updated.metadata.uid).toBe(a.metadata.uid);
    expect((await rawValue(`/flotilla/secrets/${n}/a`)).includes('updated-password-1')).toBe(false);
    // an update that reads first (this store never saw revision "1"… it must read and compare)
    const other = storeWith([K1]);
    const viaRead = await other.update<Secret>('secrets', { ...updated, stringData: { user: 'second-user-string' } });
    expect(viaRead.metadata.creationTimestamp).toBe(a.metadata.creationTimestamp);

    const g = await store.guaranteedUpdate<Secret>({ resource: 'secrets', namespace: n, name: 'a' }, (s) => ({ ...s, stringData: { user: 'third-user-string' } }));
    expect(g.stringData).toEqual({ user: 'third-user-string' });
    const stored = await rawValue(`/flotilla/secrets/${n}/a`);
    expect(stored.includes('third-user-string')).toBe(false);
    expect(stored.subarray(0, AESGCM_PREFIX.length).toString()).toBe(AESGCM_PREFIX);

    const gone = await store.delete<Secret>({ resource: 'secrets', namespace: n, name: 'a' });
    expect(gone.stringData).toEqual({ user: 'third-user-string' });
    expect(gone.data?.password).toBe(Buffer.from('updated-password-1').toString('base64'));
  });

  it('a guaranteedUpdate that changes nothing writes nothing (the same object encrypts to the same bytes)', async () => {
    const n = ns();
    const s = await store.create('secrets', secret('same', n));
    const after = await store.guaranteedUpdate<Secret>({ resource: 'secrets', namespace: n, name: 'same' }, (cur) => cur);
    expect(after.metadata.resourceVersion).toBe(s.metadata.resourceVersion);
    const viaCache = await store.guaranteedUpdate<Secret>({ resource: 'secrets', namespace: n, name: 'same' }, (cur) => cur, { cached: s });
    expect(viaCache.metadata.resourceVersion).toBe(s.metadata.resourceVersion);
  });

  it('pods stay plain JSON: only the configured resources are encrypted', async () => {
    const n = ns();
    await store.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: n }, spec: { image: 'busybox' } });
    expect(JSON.parse((await rawValue(`/flotilla/pods/${n}/p`)).toString()).spec).toEqual({ image: 'busybox' });
    const cm = storeWith([K1], { encryptedResources: ['configmaps'] });
    await cm.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: n }, data: { k: 'configmap-value' } } as KubeObject);
    await cm.create('secrets', secret('plain', n));
    expect((await rawValue(`/flotilla/configmaps/${n}/c`)).includes('configmap-value')).toBe(false);
    expect((await rawValue(`/flotilla/secrets/${n}/plain`)).includes(B64)).toBe(true);
  });

  it('a Secret stored before encryption (plaintext JSON) reads back, and its next write encrypts it', async () => {
    const n = ns();
    const k = `/flotilla/secrets/${n}/old`;
    const old = secret('old', n);
    old.metadata.uid = 'uid-from-before';
    old.metadata.creationTimestamp = '2025-01-01T00:00:00Z';
    await raw.put(k).value(JSON.stringify(old));
    const got = await store.get<Secret>({ resource: 'secrets', namespace: n, name: 'old' });
    expect(got.data).toEqual({ password: B64 });
    expect((await store.list<Secret>('secrets', { namespace: n })).items).toHaveLength(1);
    // still plaintext: reading does not write
    expect((await rawValue(k)).includes(B64)).toBe(true);
    await store.update<Secret>('secrets', { ...got, metadata: { ...got.metadata, labels: { tier: 'database-tier-label', touched: 'yes' } } });
    const after = await rawValue(k);
    expect(after.subarray(0, AESGCM_PREFIX.length + 3).toString()).toBe(`${AESGCM_PREFIX}k1:`);
    expectNoPlaintext(after);
    expect((await store.get<Secret>({ resource: 'secrets', namespace: n, name: 'old' })).metadata.uid).toBe('uid-from-before');
  });

  it('a value copied to another key fails to read with an Internal error (500) naming that key; list fails too', async () => {
    const n = ns();
    await store.create('secrets', secret('src', n));
    await raw.put(`/flotilla/secrets/${n}/dst`).value(await rawValue(`/flotilla/secrets/${n}/src`));
    const e = await rejection(store.get({ resource: 'secrets', namespace: n, name: 'dst' }));
    expect(e.message).toContain(`/flotilla/secrets/${n}/dst`);
    expect(e.message).toContain('encrypted for another etcd key');
    expect(statusFromError(e)).toMatchObject({ code: 500, reason: 'InternalError', message: e.message });
    // never a partial list: the secret that cannot be read fails the list loudly
    expect((await rejection(store.list('secrets', { namespace: n }))).message).toContain(`/flotilla/secrets/${n}/dst`);
    expect((await rejection(store.guaranteedUpdate({ resource: 'secrets', namespace: n, name: 'dst' }, (s) => s))).storageKey).toBe(`/flotilla/secrets/${n}/dst`);
    // the store can still delete it: a bare object (name, revision) stands for the value it cannot read
    const gone = await store.delete<Secret>({ resource: 'secrets', namespace: n, name: 'dst' });
    expect(gone).toEqual({ metadata: { name: 'dst', namespace: n, resourceVersion: expect.any(String) } });
    expect(await raw.get(`/flotilla/secrets/${n}/dst`).buffer()).toBeNull();
  });

  it('old-key values still decrypt while the old key is listed; new writes use the first key', async () => {
    const n = ns();
    await store.create('secrets', secret('under-k1', n));
    const rotated = storeWith([K2, K1]);
    expect((await rotated.get<Secret>({ resource: 'secrets', namespace: n, name: 'under-k1' })).data).toEqual({ password: B64 });
    await rotated.create('secrets', secret('under-k2', n));
    expect((await rawValue(`/flotilla/secrets/${n}/under-k2`)).subarray(0, AESGCM_PREFIX.length + 3).toString()).toBe(`${AESGCM_PREFIX}k2:`);
  });

  it('a replica whose key file lacks the key id fails the read, naming the key id; a watch meeting it ends with that error', async () => {
    const n = ns();
    const writer = storeWith([K2, K1]);
    const lagging = storeWith([K1]);
    const rv = await lagging.currentRevision();
    await writer.create('secrets', secret('new-key', n));
    const e = await rejection(lagging.get({ resource: 'secrets', namespace: n, name: 'new-key' }));
    expect(e.keyId).toBe('k2');
    expect(e.message).toContain('encrypted with key "k2"');
    expect(e.message).toContain('test-keys.json');
    await rejection(lagging.list('secrets', { namespace: n }));
    for (const w of [lagging, storeWith([K1], { sharedWatches: false })]) {
      const it = w.watch<Secret>('secrets', { namespace: n, resourceVersion: rv })[Symbol.asyncIterator]();
      const err = await it.next().then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(err).toBeInstanceOf(DecryptionError);
      expect((err as Error).message).toContain('"k2"');
    }
  });

  it('a watch of secrets delivers plaintext objects (shared and own watches, ADDED, MODIFIED and DELETED)', async () => {
    for (const w of [store, storeWith([K1], { sharedWatches: false })]) {
      const n = ns();
      const rv = await w.currentRevision();
      const s = await store.create('secrets', secret('w', n));
      await store.update<Secret>('secrets', { ...s, stringData: { user: 'watched-user' } });
      await store.delete({ resource: 'secrets', namespace: n, name: 'w' });
      const got = await events(w.watch<Secret>('secrets', { namespace: n, resourceVersion: rv }), 3);
      expect(got.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
      expect(got[0]!.object.data).toEqual({ password: B64 });
      expect(got[1]!.object.stringData).toEqual({ user: 'watched-user' });
      expect(got[2]!.object.stringData).toEqual({ user: 'watched-user' });
      // a filtered watch decodes the previous value too
      const filtered = await events(w.watch<Secret>('secrets', { namespace: n, resourceVersion: rv, filter: (o) => o.stringData?.user === 'watched-user' }), 2);
      expect(filtered.map((e) => e.type)).toEqual(['ADDED', 'DELETED']);
    }
  });

  it('through the API a Secret is created and read in plaintext, stored encrypted, and one that cannot be decrypted is a 500 Status naming its key', async () => {
    const n = ns();
    const api = buildApiServer({ store, auth: new TokenAuthenticator([{ token: 't', user: 'admin' }]) });
    await api.api.bootstrap();
    try {
      const call = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
        api.app.inject({ method, url, headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, ...(payload ? { payload: JSON.stringify(payload) } : {}) });
      expect((await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } })).statusCode).toBe(201);
      const created = await call('POST', `/api/v1/namespaces/${n}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api' }, data: { password: B64 } });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json().data).toEqual({ password: B64 });
      expect((await call('GET', `/api/v1/namespaces/${n}/secrets/api`)).json().data).toEqual({ password: B64 });
      const stored = await rawValue(`/flotilla/secrets/${n}/api`);
      expect(stored.subarray(0, AESGCM_PREFIX.length).toString()).toBe(AESGCM_PREFIX);
      expect(stored.includes(B64)).toBe(false);

      await raw.put(`/flotilla/secrets/${n}/moved`).value(stored);
      const bad = await call('GET', `/api/v1/namespaces/${n}/secrets/moved`);
      expect(bad.statusCode).toBe(500);
      expect(bad.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'InternalError', code: 500 });
      expect(bad.json().message).toContain(`/flotilla/secrets/${n}/moved`);
      const list = await call('GET', `/api/v1/namespaces/${n}/secrets`);
      expect(list.statusCode).toBe(500);
    } finally {
      await api.app.close();
    }
  });

  it('bootstrap tokens (kube-system Secrets) are encrypted and still found by the token store', async () => {
    const tokens = new BootstrapTokenStore(store);
    const { record } = await tokens.create(60_000, 'encrypted-token-description');
    const v = await rawValue(`/flotilla/secrets/kube-system/bootstrap-token-${record.id}`);
    expect(v.includes(record.secretSha256)).toBe(false);
    expect(v.includes('encrypted-token-description')).toBe(false);
    expect(await tokens.get(record.id)).toEqual(record);
    expect((await tokens.list()).map((r) => r.id)).toContain(record.id);
    await tokens.delete(record.id);
  });
});
