// Lists in chunks over real etcd, as kubectl (limit=500) and client-go's
// pager read them: limit/continue with one consistent revision for every page,
// remainingItemCount, selectors across pages, tokens that are garbage or whose
// revision was compacted, resourceVersion/resourceVersionMatch, watch
// resourceVersions the store has not reached, and watch bookmarks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock, silentLogger } from '../../api/index.js';
import { buildApiServer, type ApiServer } from '../../controller/apiserver/app.js';
import { TokenAuthenticator } from '../../controller/pki/tokens.js';
import { EtcdStore } from '../../controller/storage/etcd-store.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries } from '../helpers/require.js';

const TOKEN = 'paging-token';
let etcd: TestEtcd;
let store: EtcdStore;
let server: ApiServer;

async function req(method: string, url: string, body?: unknown) {
  const r = await server.app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  let json: any;
  try {
    json = r.json();
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, json, body: r.body };
}

const names = (l: { items: { metadata: { name: string } }[] }) => l.items.map((i) => i.metadata.name);

beforeAll(async () => {
  requireBinaries('paging over etcd', 'etcd');
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: etcd.endpoints, log: silentLogger() });
  server = buildApiServer({ store, auth: new TokenAuthenticator([{ token: TOKEN, user: 'admin' }]), clock: realClock, bookmarkIntervalMs: 300 });
  await server.api.bootstrap();
  for (let i = 0; i < 25; i++) {
    const r = await req('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: `cm-${String(i).padStart(2, '0')}`, labels: { parity: i % 2 === 0 ? 'even' : 'odd' } },
      data: { i: String(i) },
    });
    expect(r.status).toBe(201);
  }
});

afterAll(async () => {
  await server?.app.close();
  await store?.close();
  await etcd?.stop();
});

describe('[api] lists in chunks', () => {
  it('limit=10 gives three pages of one consistent list: an object created after the first page is not in the next ones', async () => {
    const p1 = (await req('GET', '/api/v1/namespaces/default/configmaps?limit=10')).json;
    expect(names(p1)).toEqual(Array.from({ length: 10 }, (_, i) => `cm-${String(i).padStart(2, '0')}`));
    expect(p1.metadata.continue).toEqual(expect.any(String));
    expect(p1.metadata.remainingItemCount).toBe(15);
    expect((await req('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'cm-99-late' } })).status).toBe(201);
    const p2 = (await req('GET', `/api/v1/namespaces/default/configmaps?limit=10&continue=${encodeURIComponent(p1.metadata.continue)}`)).json;
    expect(p2.metadata.resourceVersion).toBe(p1.metadata.resourceVersion);
    const p3 = (await req('GET', `/api/v1/namespaces/default/configmaps?limit=10&continue=${encodeURIComponent(p2.metadata.continue)}`)).json;
    expect(p3.metadata.continue).toBeUndefined();
    const all = [...names(p1), ...names(p2), ...names(p3)];
    expect(all).toHaveLength(25);
    expect(all).not.toContain('cm-99-late');
    // a fresh list sees it
    expect(names((await req('GET', '/api/v1/namespaces/default/configmaps')).json)).toContain('cm-99-late');
  });

  it('pages a label-selected list: each page holds `limit` matching objects until the last', async () => {
    const seen: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const r = (await req('GET', `/api/v1/configmaps?labelSelector=parity%3Deven&limit=4${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)).json;
      seen.push(...names(r));
      cont = r.metadata.continue;
      pages++;
      if (cont) expect(r.items).toHaveLength(4);
    } while (cont);
    expect(seen).toEqual(Array.from({ length: 13 }, (_, i) => `cm-${String(i * 2).padStart(2, '0')}`));
    expect(pages).toBe(4);
  });

  it.each([
    ['garbage', 'not-a-token!!', /^continue key is not valid: /],
    ['JSON of another shape', Buffer.from('{"v":"meta.k8s.io/v1","rv":0,"start":"x"}').toString('base64url'), /continue key is not valid: incorrect encoded start resourceVersion/],
    ['a key that escapes the prefix', Buffer.from('{"v":"meta.k8s.io/v1","rv":5,"start":"../../secrets/kube-system/x"}').toString('base64url'), /continue key is not valid: encoded start key is not a relative path/],
  ])('a continue token that is %s is a 400', async (_w, token, msg) => {
    const r = await req('GET', `/api/v1/namespaces/default/configmaps?limit=5&continue=${encodeURIComponent(token)}`);
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(msg);
  });

  it('a continue token whose revision was compacted is a 410 with the Kubernetes message', async () => {
    const p1 = (await req('GET', '/api/v1/namespaces/default/configmaps?limit=5')).json;
    await req('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'cm-after-page' } });
    await store.compact(await store.currentRevision());
    const r = await req('GET', `/api/v1/namespaces/default/configmaps?limit=5&continue=${encodeURIComponent(p1.metadata.continue)}`);
    expect(r.status).toBe(410);
    expect(r.json).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
    expect(r.json.message).toBe('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
  });

  it.each([
    ['limit=-1', /invalid limit -1/],
    ['limit=ten', /invalid limit "ten": must be an integer/],
    ['resourceVersionMatch=Exact', /resourceVersionMatch is forbidden unless resourceVersion is provided/],
    ['resourceVersion=1&resourceVersionMatch=Sometimes', /invalid resourceVersionMatch "Sometimes"/],
    ['resourceVersion=0&resourceVersionMatch=Exact', /resourceVersionMatch "Exact" is forbidden for resourceVersion "0"/],
    ['resourceVersion=abc', /invalid resource version "abc"/],
  ])('%s is a 400 naming the parameter', async (q, msg) => {
    const r = await req('GET', `/api/v1/namespaces/default/configmaps?${q}`);
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(msg);
  });
});

describe('[api] resourceVersion semantics', () => {
  it('resourceVersionMatch=Exact reads the list as it was at that revision', async () => {
    const before = (await req('GET', '/api/v1/namespaces/default/configmaps')).json;
    await req('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'cm-exact-new' } });
    const exact = (await req('GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${before.metadata.resourceVersion}&resourceVersionMatch=Exact`)).json;
    expect(names(exact)).toEqual(names(before));
    expect(exact.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it.each(['99999999999999999999', '18446744073709551616'])('a list or watch at resourceVersion %s answers 504 Too large resource version with the current revision', async (rv) => {
    const current = await store.currentRevision();
    for (const url of [`/api/v1/namespaces/default/configmaps?resourceVersion=${rv}`, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}&timeoutSeconds=5`]) {
      const r = await req('GET', url);
      expect(r.status).toBe(504);
      expect(r.json).toMatchObject({ kind: 'Status', reason: 'Timeout', code: 504, details: { causes: [{ reason: 'ResourceVersionTooLarge' }], retryAfterSeconds: 1 } });
      expect(r.json.message).toMatch(new RegExp(`^Timeout: Too large resource version: ${rv}, current: ${current}`));
    }
  });
});

describe('[api] watch bookmarks', () => {
  it('allowWatchBookmarks=true sends BOOKMARK events with the last revision while the watch is idle', async () => {
    const list = (await req('GET', '/api/v1/namespaces/default/configmaps')).json;
    const r = await req('GET', `/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}&timeoutSeconds=1`);
    const events = r.body.trim().split('\n').map((l) => JSON.parse(l));
    const bookmarks = events.filter((e) => e.type === 'BOOKMARK');
    expect(bookmarks.length).toBeGreaterThanOrEqual(1);
    expect(bookmarks[0].object).toEqual({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: list.metadata.resourceVersion } });
  });

  it('without allowWatchBookmarks no BOOKMARK is sent', async () => {
    const list = (await req('GET', '/api/v1/namespaces/default/configmaps')).json;
    const r = await req('GET', `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${list.metadata.resourceVersion}&timeoutSeconds=1`);
    expect(r.body).not.toContain('BOOKMARK');
  });
});
