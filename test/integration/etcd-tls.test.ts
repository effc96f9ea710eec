// The controller's managed etcd takes only clients with the controller's
// client certificate (https, --client-cert-auth, its own CA in the state dir),
// as kubeadm runs etcd; and the leader election's own etcd client keeps the
// lease renewed while the API's client has its host breaker open.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/index.js';
import { LeaderElector, ManagedEtcd, createEtcdClient } from '../../controller/index.js';
import { CONTROLLER_MAIN, controllerApi, managedEtcdAccess, startController, type ManagedEtcdAccess, type StartedController } from '../helpers/controller.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const run = promisify(execFile);

/** etcdctl's exit and output; a failure is returned, not thrown. */
async function etcdctl(args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  try {
    const r = await run('etcdctl', ['--dial-timeout', '2s', '--command-timeout', '4s', ...args], { env: { PATH: process.env.PATH, ETCDCTL_API: '3' }, timeout: 15_000 });
    return { ok: true, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return { ok: false, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

describe('[etcd] the managed etcd needs the controller\'s client certificate', () => {
  let ctl: StartedController;
  let etcd: ManagedEtcdAccess;

  beforeAll(async () => {
    requireBinaries('etcd-tls', 'etcd', 'etcdctl');
    ctl = await startController({ runArgs: ['--no-scheduler'] });
    etcd = managedEtcdAccess(ctl.stateDir);
  });

  afterAll(async () => {
    await ctl?.stop();
  });

  it('listens on https only: a plain http request is dropped, and etcdctl over http gets nothing', async () => {
    expect(etcd.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const plain = etcd.endpoint.replace('https:', 'http:');
    // etcd's TLS listener drops a request that is not a TLS handshake
    const err = await fetch(`${plain}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/flotilla/').toString('base64') }) }).then(
      () => undefined,
      (e: Error & { cause?: { code?: string; message?: string } }) => e,
    );
    expect(err?.cause).toMatchObject({ code: 'UND_ERR_SOCKET', message: 'other side closed' });
    const r = await etcdctl(['--endpoints', plain, 'get', '/flotilla/', '--prefix', '--keys-only']);
    expect(r.ok).toBe(false);
    expect(r.out).toBe('');
    expect(r.err).toContain('Error: context deadline exceeded');
  });

  it('etcdctl that trusts the etcd CA but has no client certificate is refused', async () => {
    const r = await etcdctl(['--endpoints', etcd.endpoint, '--cacert', etcd.caFile, 'get', '/flotilla/', '--prefix', '--keys-only']);
    expect(r.ok).toBe(false);
    expect(r.out).toBe('');
    // etcd's TLS layer ends every handshake: etcdctl retries until its deadline and never sees a key
    expect(r.err).toContain('all SubConns are in TransientFailure');
    expect(r.err).toContain('Error: context deadline exceeded');
  });

  it('etcdctl with a certificate of another CA (the cluster CA) is refused', async () => {
    const r = await etcdctl([
      '--endpoints', etcd.endpoint, '--cacert', etcd.caFile,
      '--cert', join(ctl.stateDir, 'pki', 'apiserver.crt'), '--key', join(ctl.stateDir, 'pki', 'apiserver.key'),
      'get', '/flotilla/', '--prefix', '--keys-only',
    ]);
    expect(r.ok).toBe(false);
    expect(r.out).toBe('');
    expect(r.err).toContain('all SubConns are in TransientFailure');
    expect(r.err).toContain('Error: context deadline exceeded');
  });

  it('with the apiserver-etcd-client certificate etcdctl reads the cluster keys, and the API works on top', async () => {
    const name = `tls-${randomBytes(3).toString('hex')}`;
    const created = await controllerApi(ctl, '/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
    expect(created.status).toBe(201);
    const got = await controllerApi<{ metadata: { name: string }; status: { phase: string } }>(ctl, `/api/v1/namespaces/${name}`);
    expect(got.status).toBe(200);
    expect(got.body.metadata.name).toBe(name);
    expect(got.body.status.phase).toBe('Active');

    const r = await etcdctl([...etcd.etcdctlArgs, 'get', '/flotilla/namespaces/', '--prefix', '--keys-only']);
    expect(r.err).toBe('');
    expect(r.ok).toBe(true);
    const keys = r.out.split('\n').filter(Boolean);
    expect(keys).toContain('/flotilla/namespaces/default');
    expect(keys).toContain(`/flotilla/namespaces/${name}`);
  });
});

describe('[etcd] an external etcd with client-certificate TLS', () => {
  let m: ManagedEtcd;
  let dir: string;

  beforeAll(async () => {
    requireRoot('etcd-tls');
    requireBinaries('etcd-tls', 'etcd');
    // a TLS etcd of its own stands in for an external cluster
    dir = mkdtempSync(join(tmpdir(), 'flotilla-etcd-external-'));
    m = new ManagedEtcd({ stateDir: dir, log: silentLogger(), stopTimeoutMs: 3000 });
    await m.start();
  });

  afterAll(async () => {
    await m?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is reached with --etcd-cafile, --etcd-certfile and --etcd-keyfile, as kube-apiserver names them', async () => {
    const p = join(dir, 'pki');
    const ctl = await startController({
      etcdEndpoints: [m.endpoints[0]!.replace('127.0.0.1', 'localhost')],
      runArgs: ['--no-scheduler', '--etcd-cafile', join(p, 'etcd', 'ca.crt'), '--etcd-certfile', join(p, 'apiserver-etcd-client.crt'), '--etcd-keyfile', join(p, 'apiserver-etcd-client.key')],
    });
    try {
      const name = `ext-${randomBytes(3).toString('hex')}`;
      expect((await controllerApi(ctl, '/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } })).status).toBe(201);
      const c = createEtcdClient({ endpoints: m.endpoints, tls: m.clientTls });
      try {
        expect(await c.get(`/flotilla/namespaces/${name}`).string()).toContain(`"name":"${name}"`);
      } finally {
        c.close();
      }
    } finally {
      await ctl.stop();
    }
  });

  it('a client certificate without its key is refused before anything starts', () => {
    const r = (() => {
      try {
        execFileSync(process.execPath, [CONTROLLER_MAIN, 'run', '--state-dir', dir, '--etcd-endpoints', m.endpoints[0]!, '--etcd-certfile', join(dir, 'pki', 'apiserver-etcd-client.crt')], { stdio: 'pipe', encoding: 'utf8', timeout: 20_000 });
        return '';
      } catch (e) {
        return String((e as { stderr?: string }).stderr);
      }
    })();
    expect(r).toContain('--etcd-certfile and --etcd-keyfile must be given together');
  });
});

describe('[etcd] the leader election has its own etcd client', () => {
  let m: ManagedEtcd;
  let dir: string;
  const clients: Etcd3[] = [];

  beforeAll(async () => {
    requireRoot('etcd-tls');
    requireBinaries('etcd-tls', 'etcd');
    dir = mkdtempSync(join(tmpdir(), 'flotilla-etcd-tls-'));
    m = new ManagedEtcd({ stateDir: dir, log: silentLogger(), stopTimeoutMs: 3000 });
    await m.start();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    if (m?.pid) process.kill(m.pid, 'SIGCONT');
    await m?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('renews its lease while the API client\'s breaker skips the host', async () => {
    // The two clients as runController makes them: the store's with the host breaker, the election's without.
    const api = createEtcdClient({ endpoints: m.endpoints, tls: m.clientTls, requestTimeoutMs: 200 });
    const election = createEtcdClient({ endpoints: m.endpoints, tls: m.clientTls, hostBreaker: false, requestTimeoutMs: 3000 });
    clients.push(api, election);
    const elector = new LeaderElector({ client: election, name: `tls-${randomBytes(3).toString('hex')}`, identity: 'a', ttlSeconds: 6, renewIntervalMs: 200, log: silentLogger() });
    const ac = new AbortController();
    const running = elector.run({ onStartedLeading: () => undefined }, ac.signal);
    try {
      const deadline = Date.now() + 10_000;
      while (!elector.isLeader() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(elector.isLeader()).toBe(true);
      const leaseId = (await elector.getLeader())!.leaseId;
      const ttl = async () => Number((await election.leaseClient.leaseTimeToLive({ ID: leaseId, keys: false })).TTL);

      // etcd stops answering for 1.3 s: the lease runs down, and two API calls time out, which trips the API client's breaker
      process.kill(m.pid!, 'SIGSTOP');
      try {
        await new Promise((r) => setTimeout(r, 900));
        for (let i = 0; i < 2; i++) await expect(api.get('/flotilla/x').string()).rejects.toThrow(/deadline/i);
      } finally {
        process.kill(m.pid!, 'SIGCONT');
      }
      // for a second the API client skips the host without asking etcd…
      await expect(api.get('/flotilla/x').string()).rejects.toThrow('etcd host skipped after repeated failures');
      // …while the election's client renews the lease: etcd reports whole seconds left, cut down,
      // so 5 of 6 means renewed within the last second (after the pause at most 4.7 s were left)
      const until = Date.now() + 900;
      let seen = 0;
      while (Date.now() < until && (seen = await ttl()) < 5) await new Promise((r) => setTimeout(r, 50));
      expect(seen).toBe(5);
      await expect(api.get('/flotilla/x').string()).rejects.toThrow('etcd host skipped after repeated failures');
      expect(elector.isLeader()).toBe(true);
      // and once the breaker closes the API client reaches etcd again
      await new Promise((r) => setTimeout(r, 1100));
      expect(await api.get('/flotilla/x').string()).toBeNull();
    } finally {
      ac.abort();
      await running;
    }
  });
});
