// The controller's managed etcd: a supervised child process on loopback,
// https with client-certificate auth (etcd-tls.test.ts tries it from outside).
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/index.js';
import { EtcdStore, ManagedEtcd, etcdPkiPaths } from '../../controller/index.js';
import { etcdHealthy } from '../../controller/etcd/index.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const dirs: string[] = [];
const running: ManagedEtcd[] = [];

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-managed-etcd-'));
  dirs.push(d);
  return d;
}

function managed(dir: string, tls = true): ManagedEtcd {
  const m = new ManagedEtcd({ stateDir: dir, log: silentLogger(), stopTimeoutMs: 3000, restartBackoffMs: { initial: 50, max: 500 }, tls });
  running.push(m);
  return m;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** /health with the controller's client certificate. */
function health(m: ManagedEtcd, endpoint = m.endpoints[0]!): Promise<boolean> {
  return etcdHealthy(endpoint, m.clientTls);
}

function storeOf(m: ManagedEtcd): EtcdStore {
  return new EtcdStore({ endpoints: m.endpoints, tls: m.clientTls, log: silentLogger() });
}

describe('managed etcd', () => {
  beforeAll(() => {
    requireRoot('etcd-managed');
    requireBinaries('etcd-managed', 'etcd');
  });

  afterEach(async () => {
    for (const m of running.splice(0)) await m.stop();
  });

  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('starts a healthy member on loopback with its data in the state dir', async () => {
    const dir = stateDir();
    const m = managed(dir);
    await m.start();
    expect(m.state).toBe('running');
    expect(m.endpoints).toHaveLength(1);
    expect(m.endpoints[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await health(m)).toBe(true);
    expect(m.dataDir).toBe(join(dir, 'etcd'));
    expect(statSync(join(dir, 'etcd', 'member')).isDirectory()).toBe(true);
    expect(statSync(join(dir, 'etcd')).mode & 0o777).toBe(0o700);
  });

  it('stop ends the process and leaves nothing running', async () => {
    const m = managed(stateDir());
    await m.start();
    const pid = m.pid!;
    expect(alive(pid)).toBe(true);
    await m.stop();
    expect(m.state).toBe('stopped');
    expect(alive(pid)).toBe(false);
  });

  it('an etcd that dies is restarted on the same endpoint with its data', async () => {
    const m = managed(stateDir());
    await m.start();
    const endpoint = m.endpoints[0]!;
    const store = storeOf(m);
    try {
      await store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'survivor' } });
      const first = m.pid!;
      process.kill(first, 'SIGKILL');
      await until(() => m.restarts === 1 && m.state === 'running');
      expect(m.pid).not.toBe(first);
      expect(m.endpoints[0]).toBe(endpoint);
      expect(await health(m, endpoint)).toBe(true);
      // the store's client reconnects by itself
      const n = await store.get({ resource: 'nodes', name: 'survivor' });
      expect(n.metadata.name).toBe('survivor');
    } finally {
      await store.close();
    }
  });

  it('a watch resumes after etcd restarts and misses nothing', async () => {
    const m = managed(stateDir());
    await m.start();
    const store = storeOf(m);
    const ac = new AbortController();
    const seen: string[] = [];
    try {
      const from = await store.currentRevision();
      const watching = (async () => {
        for await (const ev of store.watch('nodes', { resourceVersion: from, signal: ac.signal })) seen.push(`${ev.type} ${ev.object.metadata.name}`);
      })();
      await store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'before' } });
      await until(() => seen.length === 1);
      process.kill(m.pid!, 'SIGKILL');
      await until(() => m.restarts === 1 && m.state === 'running');
      await store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'after' } });
      await until(() => seen.length === 2);
      ac.abort();
      await watching;
      expect(seen).toEqual(['ADDED before', 'ADDED after']);
    } finally {
      ac.abort();
      await store.close();
    }
  });

  it('a restarted controller finds its data and its endpoint again', async () => {
    const dir = stateDir();
    const a = managed(dir);
    await a.start();
    const endpoint = a.endpoints[0]!;
    const s1 = storeOf(a);
    await s1.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'kept' } });
    await s1.close();
    await a.stop();

    const b = managed(dir);
    await b.start();
    expect(b.endpoints[0]).toBe(endpoint);
    const s2 = storeOf(b);
    try {
      expect((await s2.get({ resource: 'nodes', name: 'kept' })).metadata.name).toBe('kept');
    } finally {
      await s2.close();
    }
  });

  it('picks other ports when its recorded ones are taken', async () => {
    const dir = stateDir();
    const a = managed(dir);
    await a.start();
    const port = Number(new URL(a.endpoints[0]!).port);
    await a.stop();
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      const b = managed(dir);
      await b.start();
      expect(Number(new URL(b.endpoints[0]!).port)).not.toBe(port);
      expect(await health(b)).toBe(true);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('ignores ETCD_* variables in the controller environment', async () => {
    process.env.ETCD_NAME = 'bogus';
    process.env.ETCD_INITIAL_CLUSTER = 'bogus=http://127.0.0.1:1';
    try {
      const m = managed(stateDir());
      await m.start();
      expect(await health(m)).toBe(true);
    } finally {
      delete process.env.ETCD_NAME;
      delete process.env.ETCD_INITIAL_CLUSTER;
    }
  });

  it('a state dir from before etcd had TLS gets the etcd PKI at its next start and keeps its data', async () => {
    const dir = stateDir();
    const old = managed(dir, false);
    await old.start();
    expect(old.endpoints[0]).toMatch(/^http:/);
    const s1 = storeOf(old);
    await s1.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'from-before' } });
    await s1.close();
    await old.stop();
    expect(existsSync(etcdPkiPaths(dir).caCert)).toBe(false);

    const upgraded = managed(dir);
    await upgraded.start();
    expect(upgraded.endpoints[0]).toMatch(/^https:/);
    for (const f of Object.values(etcdPkiPaths(dir))) expect(existsSync(f)).toBe(true);
    // plain http on the same port is gone, and https without the client cert is refused
    expect(await etcdHealthy(upgraded.endpoints[0]!.replace('https:', 'http:'))).toBe(false);
    expect(await etcdHealthy(upgraded.endpoints[0]!, { caPem: upgraded.clientTls!.caPem })).toBe(false);
    const s2 = storeOf(upgraded);
    try {
      expect((await s2.get({ resource: 'nodes', name: 'from-before' })).metadata.name).toBe('from-before');
    } finally {
      await s2.close();
    }
  });

  it('a start that cannot succeed fails with the reason and leaves no process', async () => {
    const m = new ManagedEtcd({ stateDir: stateDir(), log: silentLogger(), extraArgs: ['--no-such-flag'] });
    await expect(m.start()).rejects.toMatchObject({ code: 'Unavailable' });
    expect(m.state).toBe('stopped');
    expect(m.pid).toBeUndefined();
  });
});
