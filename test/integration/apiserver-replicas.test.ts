// Two controller replicas on one external etcd (--etcd-endpoints): both serve
// the API over the same state, exactly one leads, and the other takes over
// when the leader stops.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type StartedController } from '../helpers/controller.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries } from '../helpers/require.js';

let etcd: TestEtcd;
let a: StartedController;
let b: StartedController;
let agent: Agent;

async function call(ctl: StartedController, method: string, path: string, body?: unknown) {
  const r = await request(`${ctl.server}${path}`, {
    method: method as 'GET',
    dispatcher: agent,
    headers: { authorization: `Bearer ${ctl.token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, json, text };
}

async function leads(ctl: StartedController): Promise<boolean> {
  const m = await call(ctl, 'GET', '/metrics');
  return /^flotilla_leader 1$/m.test(m.text);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  requireBinaries('controller replicas', 'etcd');
  etcd = await startEtcd();
  a = await startController({ etcdEndpoints: etcd.endpoints, runArgs: ['--no-scheduler'] });
  // the second replica shares the first one's CA, serving certificate and token
  b = await startController({ etcdEndpoints: etcd.endpoints, stateDir: a.stateDir, runArgs: ['--no-scheduler'] });
  agent = new Agent({ connect: { ca: readFileSync(a.caFile, 'utf8') } });
});

afterAll(async () => {
  await agent?.close();
  await b?.stop();
  await a?.stop();
  await etcd?.stop();
});

describe('controller replicas on one etcd', () => {
  it('both serve the API over the same state', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shared' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    const c = await call(a, 'POST', '/api/v1/namespaces/default/pods', pod);
    expect(c.status).toBe(201);
    const g = await call(b, 'GET', '/api/v1/namespaces/default/pods/shared');
    expect(g.status).toBe(200);
    expect(g.json.metadata.uid).toBe(c.json.metadata.uid);
    const dup = await call(b, 'POST', '/api/v1/namespaces/default/pods', pod);
    expect(dup.status).toBe(409);
  });

  it('elect exactly one leader, and the other takes over when the leader stops', async () => {
    const leader = await until('a leader', async () => {
      const [la, lb] = [await leads(a), await leads(b)];
      if (la && lb) throw new Error('two leaders');
      return la ? a : lb ? b : undefined;
    });
    const other = leader === a ? b : a;
    expect(await leads(other)).toBe(false);
    // stop only the leader's process; its state dir stays (b shares a's)
    process.kill(leader.pid, 'SIGTERM');
    await until('the other replica to lead', async () => ((await leads(other)) ? true : undefined));
    const r = await call(other, 'GET', '/api/v1/namespaces/default/pods/shared');
    expect(r.status).toBe(200);
  });
});
