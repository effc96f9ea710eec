// The etcd Store against an external 3-member etcd cluster running in lab hosts
// (network namespaces on a bridge): members die, writes go on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { silentLogger, type KubeObject, type WatchEvent } from '../../api/index.js';
import { EtcdStore } from '../../controller/index.js';
import { Lab, labLeftovers } from '../helpers/lab.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const HOSTS = ['h1', 'h2', 'h3'];
let lab: Lab;
let dataRoot: string;
let store: EtcdStore;
const ip: Record<string, string> = {};
const pid: Record<string, number> = {};
let cluster = '';
let spawns = 0;

const clientUrl = (h: string) => `http://${ip[h]}:2379`;

function startMember(h: string): void {
  const peer = `http://${ip[h]}:2380`;
  pid[h] = lab.spawn(h, `etcd${spawns++}`, [
    // a clean environment: etcd reads every ETCD_* variable as a flag
    'env', '-i', 'PATH=/usr/bin:/bin',
    '/usr/bin/etcd',
    '--name', h,
    '--data-dir', join(dataRoot, h),
    '--listen-client-urls', clientUrl(h),
    '--advertise-client-urls', clientUrl(h),
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', cluster,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', lab.prefix,
    '--heartbeat-interval', '50',
    '--election-timeout', '500',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
  ]);
}

async function healthy(h: string): Promise<boolean> {
  try {
    const r = await fetch(`${clientUrl(h)}/health`, { signal: AbortSignal.timeout(1000) });
    return r.ok && ((await r.json()) as { health: string }).health === 'true';
  } catch {
    return false;
  }
}

async function until(cond: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The lab host whose member currently leads the raft group. */
async function leaderHost(alive: string[]): Promise<string> {
  for (const h of alive) {
    const c = new Etcd3({ hosts: [clientUrl(h)], defaultCallOptions: () => ({ deadline: Date.now() + 1000 }) });
    try {
      const s = await c.maintenance.status();
      if (s.leader !== '0' && s.leader === s.header.member_id) return h;
    } catch {
      /* ask the next one */
    } finally {
      c.close();
    }
  }
  throw new Error('no member claims leadership');
}

function kill(h: string): void {
  process.kill(pid[h]!, 'SIGKILL');
}

const node = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

describe('etcd store on an external 3-member cluster', () => {
  beforeAll(async () => {
    requireRoot('store-etcd-cluster');
    requireBinaries('store-etcd-cluster', 'etcd', 'ip');
    lab = new Lab('ec');
    dataRoot = mkdtempSync(join(tmpdir(), 'flotilla-etcd-cluster-'));
    lab.up(3);
    for (const h of HOSTS) ip[h] = lab.hostIp(h);
    cluster = HOSTS.map((h) => `${h}=http://${ip[h]}:2380`).join(',');
    for (const h of HOSTS) startMember(h);
    await until(async () => (await Promise.all(HOSTS.map(healthy))).every(Boolean));
    store = new EtcdStore({ endpoints: HOSTS.map(clientUrl), retryTimeoutMs: 20_000, requestTimeoutMs: 1000, log: silentLogger() });
  });

  afterAll(async () => {
    await store?.close();
    if (lab) {
      lab.down();
      expect(labLeftovers(lab.prefix)).toEqual([]);
    }
    if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
  });

  it('writes go on when a follower is killed', async () => {
    const leader = await leaderHost(HOSTS);
    const follower = HOSTS.find((h) => h !== leader)!;
    kill(follower);
    for (let i = 0; i < 30; i++) await store.create('nodes', node(`after-follower-${i}`));
    const list = await store.list('nodes', { filter: (n) => n.metadata.name!.startsWith('after-follower-') });
    expect(list.items).toHaveLength(30);

    // bring it back for the next test; it catches up from its data dir
    startMember(follower);
    await until(() => healthy(follower));
  });

  it('writes go on when the leader is killed, the store retrying until a new leader is elected', async () => {
    const leader = await leaderHost(HOSTS);
    const before = await store.currentRevision();
    // a watch through the kill: it must see every write exactly once, in order
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const watching = (async () => {
      for await (const ev of store.watch('nodes', { resourceVersion: before, signal: ac.signal })) {
        if (ev.object.metadata.name!.startsWith('after-leader-')) seen.push(ev);
      }
    })();

    for (let i = 0; i < 10; i++) await store.create('nodes', node(`after-leader-${i}`));
    kill(leader);
    const t0 = Date.now();
    const first = await store.create('nodes', node('after-leader-10'));
    const firstWriteMs = Date.now() - t0;
    for (let i = 11; i < 30; i++) await store.create('nodes', node(`after-leader-${i}`));

    const alive = HOSTS.filter((h) => h !== leader);
    expect(alive).toContain(await leaderHost(alive));
    const list = await store.list('nodes', { filter: (n) => n.metadata.name!.startsWith('after-leader-') });
    expect(list.items).toHaveLength(30);

    await until(() => seen.length >= 30, 20_000);
    ac.abort();
    await watching;
    expect(seen.map((e) => e.object.metadata.name)).toEqual(Array.from({ length: 30 }, (_, i) => `after-leader-${i}`));
    expect(seen.every((e) => e.type === 'ADDED')).toBe(true);
    // The write retried through the election answered with the object as stored
    // (even if an attempt committed and its reply was lost): a read and the watch
    // see the same uid and resourceVersion the create returned.
    const stored = await store.get({ resource: 'nodes', name: 'after-leader-10' });
    expect(stored.metadata.uid).toBe(first.metadata.uid);
    expect(stored.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    expect(seen[10]!.object.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    // informative only (timing figures live in benchmarks): how long the first write after the kill took
    process.stderr.write(`store-etcd-cluster: first write after killing the leader took ${firstWriteMs} ms\n`);
  });
});
