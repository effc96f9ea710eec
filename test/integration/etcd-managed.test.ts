// The controller's managed etcd: a supervised child process on loopback.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/index.js';
import { EtcdStore, ManagedEtcd } from '../../controller/index.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const dirs: string[] = [];
const running: ManagedEtcd[] = [];

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-managed-etcd-'));
  dirs.push(d);
  return d;
}

function managed(dir: string): ManagedEtcd {
  const m = new ManagedEtcd({ stateDir: dir, log: silentLogger(), stopTimeoutMs: 3000, restartBackoffMs: { initial: 50, max: 500 } });
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

async function health(endpoint: string): Promise<boolean> {
  try {
    const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    return r.ok && ((await r.json()) as { health: string }).health === 'true';
  } catch {
    return false;
  }
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
    expect(m.endpoints[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await health(m.endpoints[0]!)).toBe(true);
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
    const store = new EtcdStore({ endpoints: m.endpoints, log: silentLogger() });
    try {
      await store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'survivor' } });
      const first = m.pid!;
      process.kill(first, 'SIGKILL');
      await until(() => m.restarts === 1 && m.state === 'running');
      expect(m.pid).not.toBe(first);
      expect(m.endpoints[0]).toBe(endpoint);
      expect(await health(endpoint)).toBe(true);
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
    const store = new EtcdStore({ endpoints: m.endpoints, log: silentLogger() });
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
    const s1 = new EtcdStore({ endpoints: a.endpoints, log: silentLogger() });
    await s1.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'kept' } });
    await s1.close();
    await a.stop();

    const b = managed(dir);
    await b.start();
    expect(b.endpoints[0]).toBe(endpoint);
    const s2 = new EtcdStore({ endpoints: b.endpoints, log: silentLogger() });
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
      expect(await health(b.endpoints[0]!)).toBe(true);
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
      expect(await health(m.endpoints[0]!)).toBe(true);
    } finally {
      delete process.env.ETCD_NAME;
      delete process.env.ETCD_INITIAL_CLUSTER;
    }
  });

  it('a start that cannot succeed fails with the reason and leaves no process', async () => {
    const m = new ManagedEtcd({ stateDir: stateDir(), log: silentLogger(), extraArgs: ['--no-such-flag'] });
    await expect(m.start()).rejects.toMatchObject({ code: 'Unavailable' });
    expect(m.state).toBe('stopped');
    expect(m.pid).toBeUndefined();
  });
});
