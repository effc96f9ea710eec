// The real controller (compiled, as a child process) with its managed etcd:
// HTTPS with the cluster CA, bearer tokens, Kubernetes shapes, bad input that
// leaves etcd untouched, watches over real etcd (410 after compaction), and a
// clean shutdown that ends open watches and stops etcd.
import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managedEtcdAccess, startController, type StartedController } from '../helpers/controller.js';
import { requireBinaries } from '../helpers/require.js';

let ctl: StartedController;
let agent: Agent;
let etcd: Etcd3;
const NS = `it-${process.pid}`;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, token?: string | null) {
  const h: Record<string, string> = { ...headers };
  if (token !== null) h.authorization = `Bearer ${token ?? ctl.token}`;
  if (body !== undefined && !h['content-type']) h['content-type'] = 'application/json';
  const r = await request(`${ctl.server}${path}`, {
    method: method as 'GET',
    headers: h,
    dispatcher: agent,
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await r.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, json, text, headers: r.headers };
}

async function etcdKeys(prefix: string): Promise<string[]> {
  return (await etcd.getAll().prefix(prefix).keys()).sort();
}

function pod(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'it' } },
    spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] },
    ...extra,
  };
}

beforeAll(async () => {
  requireBinaries('apiserver integration', 'etcd');
  // no scheduler: these tests watch pods and must see only their own writes
  ctl = await startController({ runArgs: ['--no-scheduler'] });
  agent = new Agent({ connect: { ca: readFileSync(ctl.caFile, 'utf8') } });
  const access = managedEtcdAccess(ctl.stateDir);
  etcd = new Etcd3({ hosts: [access.endpoint], credentials: access.credentials });
  const r = await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  expect(r.status).toBe(201);
});

afterAll(async () => {
  etcd?.close();
  await agent?.close();
  await ctl?.stop();
});

describe('the API server on etcd', () => {
  it('serves HTTPS with a certificate signed by the cluster CA and refuses requests without the token', async () => {
    const anon = await call('GET', '/api/v1/pods', undefined, {}, null);
    expect(anon.status).toBe(401);
    expect(anon.json).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    const wrong = await call('GET', '/api/v1/pods', undefined, {}, `${ctl.token}x`);
    expect(wrong.status).toBe(401);
    expect((await call('GET', '/healthz', undefined, {}, null)).status).toBe(200);
    expect((await call('GET', '/readyz', undefined, {}, null)).status).toBe(200);
    const untrusted = new Agent();
    await expect(request(`${ctl.server}/healthz`, { dispatcher: untrusted })).rejects.toThrow(/certificate/);
    await untrusted.close();
  });

  it('stores a created pod under /flotilla/pods/<ns>/<name> with resourceVersion = its etcd revision', async () => {
    const c = await call('POST', `/api/v1/namespaces/${NS}/pods`, pod('p1'));
    expect(c.status).toBe(201);
    const kv = await etcd.get(`/flotilla/pods/${NS}/p1`).exec();
    expect(kv.kvs).toHaveLength(1);
    expect(kv.kvs[0]!.mod_revision).toBe(c.json.metadata.resourceVersion);
    const list = await call('GET', `/api/v1/namespaces/${NS}/pods`);
    expect(list.json).toMatchObject({ kind: 'PodList', apiVersion: 'v1' });
    expect(Number(list.json.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(c.json.metadata.resourceVersion));
  });

  it('puts the network config into etcd at /flotilla/network/config', async () => {
    const raw = await etcd.get('/flotilla/network/config').string();
    expect(JSON.parse(raw!).config).toEqual({ network: '10.244.0.0/16', subnetLen: 24, backend: { type: 'vxlan', vni: 1, port: 8472 } });
  });

  it('answers bad input with a 4xx Status and writes nothing to etcd', async () => {
    const before = await etcdKeys('/flotilla/');
    const rev = (await etcd.get('/flotilla/none').exec()).header.revision;
    const cases: [string, string, unknown, Record<string, string>, number][] = [
      ['POST', `/api/v1/namespaces/${NS}/pods`, '{"kind": "Pod", ', {}, 400],
      ['POST', `/api/v1/namespaces/${NS}/pods`, 'kind: Pod\n metadata: [', { 'content-type': 'application/yaml' }, 400],
      ['POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Gadget', metadata: { name: 'g' } }, {}, 400],
      ['POST', `/api/v1/namespaces/${NS}/pods`, pod('UPPER'), {}, 422],
      ['POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nospec' } }, {}, 422],
      ['POST', `/api/v1/namespaces/${NS}/pods`, pod('types', { spec: { containers: [{ name: 'c', image: 7 }] } }), {}, 422],
      ['POST', `/api/v1/namespaces/${NS}/pods`, pod('big', { metadata: { name: 'big', annotations: { a: 'x'.repeat(3_200_000) } } }), {}, 413],
      ['POST', `/api/v1/namespaces/${NS}/pods`, pod('p1'), {}, 409],
      ['POST', `/api/v1/namespaces/missing-${NS}/pods`, pod('p9'), {}, 404],
      ['PUT', `/api/v1/namespaces/${NS}/pods/p1`, pod('p1', { metadata: { name: 'p1', resourceVersion: '1' } }), {}, 409],
      ['PATCH', `/api/v1/namespaces/${NS}/pods/p1`, { spec: { containers: [{ name: 'c', image: '' }] } }, { 'content-type': 'application/strategic-merge-patch+json' }, 422],
      ['PATCH', `/api/v1/namespaces/${NS}/pods/p1`, 'spec: {}', { 'content-type': 'application/apply-patch+yaml' }, 415],
    ];
    for (const [method, path, body, headers, code] of cases) {
      const r = await call(method, path, body, headers);
      expect({ path, code: r.status, kind: r.json?.kind, hasMessage: typeof r.json?.message === 'string' && r.json.message.length > 0 }).toEqual({
        path,
        code,
        kind: 'Status',
        hasMessage: true,
      });
    }
    expect(await etcdKeys('/flotilla/')).toEqual(before);
    expect((await etcd.get('/flotilla/none').exec()).header.revision).toBe(rev);
    expect((await call('GET', '/healthz', undefined, {}, null)).status).toBe(200);
  });

  it('applies strategic merge patches and keeps CAS semantics on update', async () => {
    const p = await call('PATCH', `/api/v1/namespaces/${NS}/pods/p1`, { metadata: { labels: { tier: 'x' } } }, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(p.status).toBe(200);
    expect(p.json.metadata.labels).toEqual({ app: 'it', tier: 'x' });
    const u = await call('PUT', `/api/v1/namespaces/${NS}/pods/p1`, { ...p.json, metadata: { ...p.json.metadata, labels: { app: 'it' } } });
    expect(u.status).toBe(200);
    expect(Number(u.json.metadata.resourceVersion)).toBeGreaterThan(Number(p.json.metadata.resourceVersion));
  });

  it('streams a watch from a resourceVersion and answers a compacted one with a 410 ERROR event', async () => {
    const start = (await call('GET', `/api/v1/namespaces/${NS}/pods`)).json.metadata.resourceVersion;
    const watch = call('GET', `/api/v1/namespaces/${NS}/pods?watch=true&resourceVersion=${start}&timeoutSeconds=2`);
    await new Promise((r) => setTimeout(r, 200));
    await call('POST', `/api/v1/namespaces/${NS}/pods`, pod('w1'));
    await call('DELETE', `/api/v1/namespaces/${NS}/pods/w1`);
    const events = (await watch).text.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED w1', 'DELETED w1']);

    // A revision from before the controller began watching pods: the leader's informers (garbage
    // collector, namespace controller) keep a shared pods watch whose buffer still serves later
    // revisions after a compaction, as Kubernetes' watch cache does.
    const cur = '1';
    await etcd.put(`/flotilla-test/${NS}`).value('x');
    await etcd.delete().key(`/flotilla-test/${NS}`);
    const newer = (await etcd.get('/flotilla/none').exec()).header.revision;
    await (etcd as any).kv.compact({ revision: newer, physical: true });
    const gone = await call('GET', `/api/v1/namespaces/${NS}/pods?watch=true&resourceVersion=${cur}`);
    const ev = JSON.parse(gone.text.trim().split('\n')[0]!);
    expect(ev.type).toBe('ERROR');
    expect(ev.object).toMatchObject({ kind: 'Status', code: 410 });
  });

  it('deletes a bound pod gracefully and removes it when the node confirms', async () => {
    await call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-x' } });
    await call('POST', `/api/v1/namespaces/${NS}/pods`, pod('g1'));
    const b = await call('POST', `/api/v1/namespaces/${NS}/pods/g1/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'g1' }, target: { name: 'node-x' } });
    expect(b.status).toBe(201);
    const d = await call('DELETE', `/api/v1/namespaces/${NS}/pods/g1`);
    expect(d.json.metadata.deletionTimestamp).toBeTruthy();
    expect(await etcdKeys(`/flotilla/pods/${NS}/g1`)).toEqual([`/flotilla/pods/${NS}/g1`]);
    const confirm = await call('DELETE', `/api/v1/namespaces/${NS}/pods/g1`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 });
    expect(confirm.status).toBe(200);
    expect(await etcdKeys(`/flotilla/pods/${NS}/g1`)).toEqual([]);
  });

  it('exports request metrics, etcd_up and leader on /metrics', async () => {
    const m = await call('GET', '/metrics');
    expect(m.text).toMatch(/apiserver_request_total\{code="201",resource="pods",verb="create"\} \d+/);
    expect(m.text).toContain('flotilla_etcd_up 1');
    expect(m.text).toContain('flotilla_leader 1');
  });

  it('lets watch clients go away mid-stream without harm', async () => {
    for (let i = 0; i < 5; i++) {
      const ac = new AbortController();
      const r = await request(`${ctl.server}/api/v1/pods?watch=true`, { dispatcher: agent, headers: { authorization: `Bearer ${ctl.token}` }, signal: ac.signal });
      expect(r.statusCode).toBe(200);
      ac.abort();
      await r.body.text().catch(() => undefined);
    }
    let open = '';
    for (let i = 0; i < 50; i++) {
      open = /^apiserver_watch_streams (\d+)$/m.exec((await call('GET', '/metrics')).text)?.[1] ?? '';
      if (open === '0') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(open).toBe('0');
    expect((await call('GET', '/healthz', undefined, {}, null)).status).toBe(200);
  });

  it('ends open watches and stops its etcd on SIGTERM', async () => {
    const watch = call('GET', `/api/v1/namespaces/${NS}/pods?watch=true`);
    await new Promise((r) => setTimeout(r, 300));
    const etcdPid = Number(readFileSync(`/proc/${ctl.pid}/task/${ctl.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    expect(etcdPid).toBeGreaterThan(0);
    const before = ctl.logs().length;
    await ctl.stop();
    // It shut down by itself, not by its 15 s hard-exit timer nor by stop()'s SIGKILL
    // fallback (neither would log "stopped"). That bounds the shutdown; its speed is no
    // target of this test.
    const shutdownLog = ctl.logs().slice(before);
    expect(shutdownLog, shutdownLog).toMatch(/"msg":"shutting down"/);
    expect(shutdownLog, shutdownLog).toMatch(/"msg":"stopped"/);
    expect(shutdownLog, shutdownLog).not.toMatch(/shutdown took too long|shutdown failed/);
    const w = await watch;
    expect(w.status).toBe(200);
    const alive = (() => {
      try {
        process.kill(etcdPid, 0);
        return true;
      } catch {
        return false;
      }
    })();
    expect(alive).toBe(false);
  });
});
