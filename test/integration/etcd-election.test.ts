// Leader election among controller replicas on a real etcd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../api/index.js';
import { LeaderElector, createEtcdClient } from '../../controller/index.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

let etcd: TestEtcd;
const clients: Etcd3[] = [];

interface Replica {
  elector: LeaderElector;
  ac: AbortController;
  done: Promise<void>;
  started: number;
  stopped: number;
  signals: AbortSignal[];
}

function replica(election: string, identity: string, ttlSeconds = 2): Replica {
  const client = createEtcdClient({ endpoints: etcd.endpoints, requestTimeoutMs: 2000 });
  clients.push(client);
  const elector = new LeaderElector({ client, name: election, identity, ttlSeconds, retryPeriodMs: 300, log: silentLogger() });
  const r: Replica = { elector, ac: new AbortController(), done: Promise.resolve(), started: 0, stopped: 0, signals: [] };
  r.done = elector.run(
    {
      onStartedLeading: (signal) => {
        r.started++;
        r.signals.push(signal);
      },
      onStoppedLeading: () => {
        r.stopped++;
      },
    },
    r.ac.signal,
  );
  return r;
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const leaders = (rs: Replica[]) => rs.filter((r) => r.elector.isLeader());
const election = () => `test-${randomBytes(4).toString('hex')}`;

describe('leader election', () => {
  beforeAll(async () => {
    requireRoot('etcd-election');
    requireBinaries('etcd-election', 'etcd');
    etcd = await startEtcd();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  it('of two replicas exactly one leads, and both name it', async () => {
    const name = election();
    const rs = [replica(name, 'alpha'), replica(name, 'beta')];
    try {
      await until(() => leaders(rs).length === 1 && rs.every((r) => r.elector.leader() !== undefined));
      await new Promise((r) => setTimeout(r, 500)); // and it stays that way
      expect(leaders(rs)).toHaveLength(1);
      const leader = leaders(rs)[0]!.elector.identity;
      expect(rs.map((r) => r.elector.leader())).toEqual([leader, leader]);
      expect((await rs[0]!.elector.getLeader())?.identity).toBe(leader);
      expect(leaders(rs)[0]!.started).toBe(1);
    } finally {
      for (const r of rs) r.ac.abort();
      await Promise.all(rs.map((r) => r.done));
    }
  });

  it('when the leader resigns it releases its lease, and the other replica takes over', async () => {
    const name = election();
    const rs = [replica(name, 'alpha'), replica(name, 'beta')];
    const admin = createEtcdClient({ endpoints: etcd.endpoints });
    clients.push(admin);
    try {
      await until(() => leaders(rs).length === 1);
      const first = leaders(rs)[0]!;
      const second = rs.find((r) => r !== first)!;
      const held = await first.elector.getLeader();
      expect(held?.identity).toBe(first.elector.identity);
      first.ac.abort();
      await first.done;
      expect(first.stopped).toBe(1);
      expect(first.signals[0]!.aborted).toBe(true);
      expect((first.signals[0]!.reason as Error).message).toBe('resigned');
      expect(first.elector.isLeader()).toBe(false);
      // Released, not left to expire: by the time run() returns its lease is gone
      // from etcd (TTL -1), so the key is free for the other replica at once.
      expect(Number((await admin.leaseClient.leaseTimeToLive({ ID: held!.leaseId })).TTL)).toBe(-1);
      expect((await second.elector.getLeader())?.identity).not.toBe(first.elector.identity);
      // Liveness, not a speed target: the takeover happens at all (until() gives it 10 s).
      await until(() => second.elector.isLeader());
      expect(second.elector.leader()).toBe(second.elector.identity);
    } finally {
      for (const r of rs) r.ac.abort();
      await Promise.all(rs.map((r) => r.done));
    }
  });

  it('when the leader\'s lease is revoked it stops leading and the other takes over', async () => {
    const name = election();
    const rs = [replica(name, 'alpha'), replica(name, 'beta')];
    const admin = createEtcdClient({ endpoints: etcd.endpoints });
    clients.push(admin);
    try {
      await until(() => leaders(rs).length === 1);
      const first = leaders(rs)[0]!;
      const second = rs.find((r) => r !== first)!;
      const record = await first.elector.getLeader();
      await admin.leaseClient.leaseRevoke({ ID: record!.leaseId });
      await until(() => first.stopped === 1 && second.elector.isLeader());
      expect(first.signals[0]!.aborted).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      expect(leaders(rs)).toEqual([second]);
    } finally {
      for (const r of rs) r.ac.abort();
      await Promise.all(rs.map((r) => r.done));
    }
  });

  it('a leader that cannot renew its lease stops leading before the lease expires', async () => {
    const name = election();
    const r = replica(name, 'alone', 3);
    const pid = etcd.etcd.pid!;
    try {
      await until(() => r.elector.isLeader());
      process.kill(pid, 'SIGSTOP'); // etcd hangs: renewals get no answer
      // It steps down on its own renew deadline (2/3 of the 3 s TTL, counted from
      // the last renewal sent), while etcd is still frozen: it never heard that
      // the lease expired. The 30 s wait is a liveness check, not a speed target.
      await until(() => r.stopped === 1, 30_000);
      expect(r.signals[0]!.aborted).toBe(true);
      expect((r.signals[0]!.reason as Error).message).toBe('lease not renewed within the renew deadline');
      expect(r.elector.isLeader()).toBe(false);
    } finally {
      process.kill(pid, 'SIGCONT');
      r.ac.abort();
      await r.done;
    }
  });
});
