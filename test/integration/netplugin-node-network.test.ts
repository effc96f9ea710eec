// startNodeNetwork's own duties on one lab host, with time on a FakeClock: lease
// renewal at half the TTL, re-acquisition of a lease the controller forgot,
// the reconcile on the injected clock, a clean stop, and the bad inputs (node
// IP on no interface, a conflicting device, an exhausted subnet pool).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeClock, silentLogger } from '../../api/index.js';
import { startNodeNetwork, type NodeNetwork } from '../../node-agent/index.js';
import { Masquerade, MASQUERADE_CHAIN, SubnetPoolExhaustedError, vxlanBackend, type NetworkConfig } from '../../netplugin/index.js';
import { FakeSubnetManager } from '../../netplugin/subnet/fake.js';
import { eventually } from '../helpers/flotctl.js';
import { Lab, labLeftovers } from '../helpers/lab.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const SUITE = 'node network';
const config: NetworkConfig = { network: '10.244.0.0/16', subnetLen: 24, backend: { type: 'vxlan', vni: 1, port: 8472 } };
let lab: Lab;
let labUp = false;
let work: string;
const started: NodeNetwork[] = [];

function onHost(cmd: string[]): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', lab.netns('h1'), ...cmd], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function opts(subnets: FakeSubnetManager, clock: FakeClock, extra: Partial<Parameters<typeof startNodeNetwork>[0]> = {}) {
  return {
    subnets,
    nodeName: 'h1',
    nodeIP: lab.hostIp('h1'),
    stateDir: join(work, 'h1'),
    log: silentLogger(),
    clock,
    reconcileMs: 1000,
    netns: `/run/netns/${lab.netns('h1')}`,
    masquerade: false,
    ...extra,
  };
}

beforeAll(() => {
  requireRoot(SUITE);
  requireBinaries(SUITE, 'ip', 'nsenter', 'iptables-nft', 'iptables-nft-restore');
  work = mkdtempSync(join(tmpdir(), 'flotilla-nodenet-'));
  lab = new Lab('nn');
  labUp = true;
  lab.up(1);
});

afterAll(async () => {
  for (const n of started) await n.stop().catch(() => undefined);
  if (labUp) lab.down();
  if (work) rmSync(work, { recursive: true, force: true });
  if (lab) expect(labLeftovers(lab.prefix)).toEqual([]);
});

describe('[network] startNodeNetwork', () => {
  it('renews the lease at half its TTL and re-acquires one the controller forgot, with the same VTEP MAC', async () => {
    const clock = new FakeClock();
    const subnets = new FakeSubnetManager(config, 60_000, clock);
    const renew = vi.spyOn(subnets, 'renewLease');
    const n = await startNodeNetwork(opts(subnets, clock));
    started.push(n);
    const first = n.lease;
    expect(first.expiration).toBe(clock.now() + 60_000);

    clock.advance(30_000);
    await eventually('lease renewed', async () => n.lease.expiration === clock.now() + 60_000, 5000, 20);
    expect(renew).toHaveBeenCalledTimes(1);

    await subnets.releaseLease('h1');
    clock.advance(30_000);
    await eventually('lease re-acquired', async () => n.lease.expiration === clock.now() + 60_000, 5000, 20);
    expect(n.lease.subnet).toBe(first.subnet);
    expect(n.lease.backend).toEqual(first.backend);

    await n.stop();
    started.pop();
    renew.mockClear();
    clock.advance(120_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(renew).not.toHaveBeenCalled();
  });

  it('returns only once the other nodes\' leases are routes in the kernel, so its first pods can answer them', async () => {
    const clock = new FakeClock();
    const subnets = new FakeSubnetManager(config, 3600_000, clock);
    const other = await subnets.acquireLease('h2', { publicIP: '10.199.7.2', backend: vxlanBackend('0a:58:0a:f4:63:01') });
    const n = await startNodeNetwork(opts(subnets, clock));
    started.push(n);
    // No waiting here: the route, neighbour and FDB entry are there when start-up returns.
    expect(onHost(['ip', 'route', 'show', other.subnet]).out).toContain(`via ${other.subnet.split('/')[0]} dev flotilla.1 onlink`);
    expect(onHost(['ip', 'neigh', 'show', 'dev', 'flotilla.1']).out).toContain('0a:58:0a:f4:63:01');
    expect(onHost(['bridge', 'fdb', 'show', 'dev', 'flotilla.1']).out).toContain('dst 10.199.7.2');
    await n.stop();
    started.pop();
    await subnets.releaseLease('h2');
  });

  it('a lease watch that never answers delays start-up by the sync timeout only', async () => {
    const clock = new FakeClock();
    const subnets = new FakeSubnetManager(config, 3600_000, clock);
    // A watch that stays silent (a controller that accepts the stream but never sends).
    subnets.watchLeases = async function* (signal: AbortSignal) {
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    };
    let done = false;
    const starting = startNodeNetwork(opts(subnets, clock, { leaseSyncTimeoutMs: 5000 })).then((n) => {
      done = true;
      return n;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    clock.advance(5000);
    const n = await starting;
    started.push(n);
    expect(n.lease.nodeName).toBe('h1');
    await n.stop();
    started.pop();
  });

  it('runs the reconcile on the injected clock: a deleted device is back after one period', async () => {
    const clock = new FakeClock();
    const subnets = new FakeSubnetManager(config, 3600_000, clock);
    const n = await startNodeNetwork(opts(subnets, clock));
    started.push(n);
    expect(onHost(['ip', 'link', 'del', 'flotilla.1']).code).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(onHost(['ip', 'link', 'show', 'flotilla.1']).code).not.toBe(0);
    clock.advance(1000);
    await eventually('device re-created', async () => onHost(['ip', '-4', 'addr', 'show', 'flotilla.1']).out.includes(n.lease.subnet.replace('/24', '/32')), 5000, 20);
    await n.stop();
    started.pop();
  });

  it('a node IP that no interface carries is a NotFound error naming the IP', async () => {
    const clock = new FakeClock();
    await expect(startNodeNetwork(opts(new FakeSubnetManager(config), clock, { nodeIP: '10.199.1.1' }))).rejects.toThrow(/no interface carries the node IP 10\.199\.1\.1/);
  });

  it('a non-VXLAN device with the VXLAN device name is a conflict, left untouched', async () => {
    const clock = new FakeClock();
    const cfg7: NetworkConfig = { ...config, backend: { type: 'vxlan', vni: 7, port: 8472 } };
    expect(onHost(['ip', 'link', 'add', 'flotilla.7', 'type', 'bridge']).code).toBe(0);
    await expect(startNodeNetwork(opts(new FakeSubnetManager(cfg7), clock))).rejects.toThrow(/flotilla\.7 exists but is a bridge device, not VXLAN/);
    expect(onHost(['ip', '-d', 'link', 'show', 'flotilla.7']).out).toContain('bridge');
    onHost(['ip', 'link', 'del', 'flotilla.7']);
  });

  it('an exhausted subnet pool is a clear error and other nodes keep their leases', async () => {
    const clock = new FakeClock();
    const small: NetworkConfig = { ...config, network: '10.244.0.0/23' };
    const subnets = new FakeSubnetManager(small, 3600_000, clock);
    const attrs = { publicIP: '10.200.1.1', backend: { type: 'vxlan', data: { vtepMAC: '02:00:00:00:00:01' } } };
    const a = await subnets.acquireLease('other-a', attrs);
    const b = await subnets.acquireLease('other-b', { ...attrs, backend: { type: 'vxlan', data: { vtepMAC: '02:00:00:00:00:02' } } });
    const err = await startNodeNetwork(opts(subnets, clock)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubnetPoolExhaustedError);
    expect((err as Error).message).toBe('no free /24 subnet left in 10.244.0.0/23: all 2 are leased');
    expect((await subnets.acquireLease('other-a', attrs)).subnet).toBe(a.subnet);
    expect(b.subnet).not.toBe(a.subnet);
  });
  it('masquerade rules are applied once however often ensure runs, and remove takes jump and chain away', async () => {
    const m = new Masquerade({ clusterCidr: '10.244.0.0/16', subnet: '10.244.3.0/24', netns: `/run/netns/${lab.netns('h1')}` });
    await m.ensure();
    await m.ensure();
    const nat = onHost(['iptables-nft', '-t', 'nat', '-S']).out;
    expect(nat.split('\n').filter((l) => l.includes(`-j ${MASQUERADE_CHAIN}`))).toHaveLength(1);
    expect(nat.split('\n').filter((l) => l.startsWith(`-A ${MASQUERADE_CHAIN}`))).toEqual([
      `-A ${MASQUERADE_CHAIN} -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flotilla: pod to pod is not masqueraded" -j RETURN`,
      `-A ${MASQUERADE_CHAIN} -s 10.244.3.0/24 ! -d 224.0.0.0/4 -m comment --comment "flotilla: pod to outside" -j MASQUERADE --random-fully`,
    ]);
    await m.remove();
    await m.remove();
    expect(onHost(['iptables-nft', '-t', 'nat', '-S']).out).not.toContain(MASQUERADE_CHAIN);
  });
});
