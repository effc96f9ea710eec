// `kubectl delete namespace` with 50 pods and 20 ConfigMaps in it removes them
// all even when the controller that took the DELETE is killed at once: the
// namespace controller runs on the leader, level-triggered from its informer,
// so the other replica (once it leads) or the same controller restarted
// finishes the cleanup.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killWithChildren, startController, type StartedController } from '../helpers/controller.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries } from '../helpers/require.js';

const KUBECTL = '/opt/flotilla/kubernetes-client/usr/bin/kubectl';
let etcd: TestEtcd;
let agent: Agent;
const running: StartedController[] = [];

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

const leads = async (ctl: StartedController) => /^flotilla_leader 1$/m.test((await call(ctl, 'GET', '/metrics')).text);

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function fill(ctl: StartedController, ns: string): Promise<void> {
  expect((await call(ctl, 'POST', '/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201);
  const writes: Promise<{ status: number }>[] = [];
  for (let i = 0; i < 50; i++) {
    writes.push(call(ctl, 'POST', `/api/v1/namespaces/${ns}/pods`, { metadata: { name: `p${i}` }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } }));
  }
  for (let i = 0; i < 20; i++) writes.push(call(ctl, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: `cm${i}` }, data: { i: String(i) } }));
  for (const w of await Promise.all(writes)) expect(w.status).toBe(201);
}

async function left(ctl: StartedController, ns: string): Promise<number> {
  const pods = await call(ctl, 'GET', `/api/v1/namespaces/${ns}/pods`);
  const cms = await call(ctl, 'GET', `/api/v1/namespaces/${ns}/configmaps`);
  return pods.json.items.length + cms.json.items.length;
}

function kubectlDeleteNamespace(ctl: StartedController, ns: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(KUBECTL, ['delete', 'namespace', ns, '--wait=false'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KUBECONFIG: ctl.kubeconfig, HOME: '/tmp' } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout.trim()),
    ),
  );
}

beforeAll(async () => {
  requireBinaries('namespace deletion failover', 'etcd');
  etcd = await startEtcd();
});

afterAll(async () => {
  for (const c of running) await c.stop().catch(() => undefined);
  await agent?.close();
  await etcd?.stop();
});

describe('[namespaces] deletion survives the controller that took it', () => {
  it('the other replica finishes a namespace deletion when the leader that took the DELETE is killed at once', async () => {
    const a = await startController({ etcdEndpoints: etcd.endpoints, runArgs: ['--no-scheduler'] });
    running.push(a);
    agent = new Agent({ connect: { ca: readFileSync(a.caFile, 'utf8') } });
    const b = await startController({ etcdEndpoints: etcd.endpoints, stateDir: a.stateDir, runArgs: ['--no-scheduler'] });
    running.push(b);
    const leader = await until('a leader', async () => ((await leads(a)) ? a : (await leads(b)) ? b : undefined));
    const other = leader === a ? b : a;
    await fill(leader, 'doomed');
    expect(await kubectlDeleteNamespace(leader, 'doomed')).toBe('namespace "doomed" deleted');
    process.kill(leader.pid, 'SIGKILL');
    const atKill = await left(other, 'doomed');
    // the survivor leads once the dead leader's lease runs out, and empties the namespace
    await until('the other replica to lead', async () => ((await leads(other)) ? true : undefined));
    await until('the namespace to be gone', async () => ((await call(other, 'GET', '/api/v1/namespaces/doomed')).status === 404 ? true : undefined));
    expect(await left(other, 'doomed')).toBe(0);
    console.error(`objects left when the leader was killed: ${atKill} of 70`);
  });

  it('a restarted controller finishes a namespace deletion it took before it was killed', async () => {
    const c = await startController({ runArgs: ['--no-scheduler'] });
    running.push(c);
    agent = new Agent({ connect: { ca: readFileSync(c.caFile, 'utf8') } });
    await until('it leads', async () => ((await leads(c)) ? true : undefined));
    await fill(c, 'doomed2');
    expect(await kubectlDeleteNamespace(c, 'doomed2')).toBe('namespace "doomed2" deleted');
    // the controller and its managed etcd die together, as on a host that loses power
    killWithChildren(c.pid);
    await new Promise((r) => setTimeout(r, 500));
    const again = await startController({ stateDir: c.stateDir, runArgs: ['--no-scheduler'] });
    running.push(again);
    await until('the namespace to be gone', async () => ((await call(again, 'GET', '/api/v1/namespaces/doomed2')).status === 404 ? true : undefined));
    expect(await left(again, 'doomed2')).toBe(0);
  });
});
