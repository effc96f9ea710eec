// The VXLAN backend's pure decisions: lease → entries, lease batch → plan,
// desired vs actual → plan; plus the device name, the VTEP MAC and the
// masquerade rules.
import { describe, expect, it } from 'vitest';
import {
  desiredEntries,
  diffOverlay,
  emptyEntries,
  isEmptyPlan,
  leaseEntries,
  masqueradeRestoreInput,
  masqueradeRules,
  Masquerade,
  MASQUERADE_CHAIN,
  planBatch,
  randomVtepMac,
  vxlanDeviceName,
  type OverlayEntries,
  type SubnetLease,
} from '../../netplugin/index.js';

function lease(node: string, subnet: string, publicIP: string, mac: string): SubnetLease {
  return { subnet, nodeName: node, publicIP, backend: { type: 'vxlan', data: { vtepMAC: mac } }, expiration: 0 };
}
const A = lease('a', '10.244.1.0/24', '10.200.0.11', '02:00:00:00:00:0a');
const B = lease('b', '10.244.2.0/24', '10.200.0.12', '02:00:00:00:00:0b');

describe('leaseEntries', () => {
  it('a lease calls for a route via its .0 onlink, a neighbour .0 → VTEP MAC and an FDB entry MAC → public IP', () => {
    expect(leaseEntries(A)).toEqual({
      route: { dst: '10.244.1.0/24', gateway: '10.244.1.0' },
      neigh: { ip: '10.244.1.0', mac: '02:00:00:00:00:0a' },
      fdb: { mac: '02:00:00:00:00:0a', dst: '10.200.0.11' },
    });
  });

  it('an upper-case MAC is normalised', () => {
    const e = leaseEntries({ ...A, backend: { type: 'vxlan', data: { vtepMAC: '02:AB:00:00:00:0A' } } });
    expect('fdb' in e && e.fdb.mac).toBe('02:ab:00:00:00:0a');
  });

  it.each([
    ['a bad subnet', { subnet: '10.244.1.5/24' }, /host bits set/],
    ['a bad public IP', { publicIP: 'nope' }, /invalid lease publicIP/],
    ['a bad MAC', { backend: { type: 'vxlan', data: { vtepMAC: 'zz' } } }, /vtepMAC "zz" is not a MAC/],
    ['another backend', { backend: { type: 'host-gw', data: { vtepMAC: '02:00:00:00:00:0a' } } }, /not vxlan/],
  ])('a lease with %s is reported as invalid', (_what, patch, reason) => {
    const e = leaseEntries({ ...A, ...(patch as Partial<SubnetLease>) });
    expect('invalid' in e && e.invalid).toMatch(reason);
  });

  it('desiredEntries skips invalid leases and keeps the others', () => {
    const bad = { ...B, backend: { type: 'vxlan', data: { vtepMAC: '' } } };
    const d = desiredEntries([A, bad]);
    expect(d.entries.routes).toEqual([{ dst: '10.244.1.0/24', gateway: '10.244.1.0' }]);
    expect(d.invalid).toHaveLength(1);
    expect(d.invalid[0]!.lease.nodeName).toBe('b');
  });
});

describe('planBatch', () => {
  it('an added lease adds its three entries, a removed one deletes exactly its own', () => {
    const p = planBatch({ added: [B], removed: [A] });
    expect(p.add.routes).toEqual([{ dst: '10.244.2.0/24', gateway: '10.244.2.0' }]);
    expect(p.add.fdbs).toEqual([{ mac: '02:00:00:00:00:0b', dst: '10.200.0.12' }]);
    expect(p.del.routes).toEqual([{ dst: '10.244.1.0/24', gateway: '10.244.1.0' }]);
    expect(p.del.neighs).toEqual([{ ip: '10.244.1.0', mac: '02:00:00:00:00:0a' }]);
    expect(p.del.fdbs).toEqual([{ mac: '02:00:00:00:00:0a', dst: '10.200.0.11' }]);
  });

  it('a public IP change replaces route and neighbour in place and moves the FDB entry', () => {
    const moved = { ...A, publicIP: '10.200.0.99' };
    const p = planBatch({ removed: [A], added: [moved] });
    expect(p.del.routes).toEqual([]);
    expect(p.del.neighs).toEqual([]);
    expect(p.del.fdbs).toEqual([{ mac: '02:00:00:00:00:0a', dst: '10.200.0.11' }]);
    expect(p.add.fdbs).toEqual([{ mac: '02:00:00:00:00:0a', dst: '10.200.0.99' }]);
    expect(p.add.routes).toHaveLength(1);
  });

  it('a VTEP MAC change updates the neighbour in place and swaps the FDB entry', () => {
    const remade = { ...A, backend: { type: 'vxlan', data: { vtepMAC: '02:00:00:00:00:aa' } } };
    const p = planBatch({ removed: [A], added: [remade] });
    expect(p.del.neighs).toEqual([]);
    expect(p.add.neighs).toEqual([{ ip: '10.244.1.0', mac: '02:00:00:00:00:aa' }]);
    expect(p.del.fdbs).toEqual([{ mac: '02:00:00:00:00:0a', dst: '10.200.0.11' }]);
  });

  it('an empty batch is an empty plan', () => {
    expect(isEmptyPlan(planBatch({ added: [], removed: [] }))).toBe(true);
  });
});

describe('diffOverlay', () => {
  const desired = desiredEntries([A, B]).entries;
  const cases: [string, OverlayEntries, (p: ReturnType<typeof diffOverlay>) => void][] = [
    ['nothing in the kernel: everything is added', emptyEntries(), (p) => {
      expect(p.add.routes).toHaveLength(2);
      expect(p.add.neighs).toHaveLength(2);
      expect(p.add.fdbs).toHaveLength(2);
      expect(p.del).toEqual(emptyEntries());
    }],
    ['the kernel matches: nothing to do', desired, (p) => expect(isEmptyPlan(p)).toBe(true)],
    ['a stale peer is deleted', {
      routes: [...desired.routes, { dst: '10.244.9.0/24', gateway: '10.244.9.0' }],
      neighs: [...desired.neighs, { ip: '10.244.9.0', mac: '02:00:00:00:00:09' }],
      fdbs: [...desired.fdbs, { mac: '02:00:00:00:00:09', dst: '10.200.0.19' }],
    }, (p) => {
      expect(p.add).toEqual(emptyEntries());
      expect(p.del).toEqual({
        routes: [{ dst: '10.244.9.0/24', gateway: '10.244.9.0' }],
        neighs: [{ ip: '10.244.9.0', mac: '02:00:00:00:00:09' }],
        fdbs: [{ mac: '02:00:00:00:00:09', dst: '10.200.0.19' }],
      });
    }],
    ['a neighbour with the wrong MAC is replaced, not deleted', {
      ...desired,
      neighs: [{ ip: '10.244.1.0', mac: '02:00:00:00:00:ff' }, desired.neighs[1]!],
    }, (p) => {
      expect(p.add.neighs).toEqual([{ ip: '10.244.1.0', mac: '02:00:00:00:00:0a' }]);
      expect(p.del.neighs).toEqual([]);
    }],
    ['a route via the wrong gateway is replaced', {
      ...desired,
      routes: [{ dst: '10.244.1.0/24', gateway: '10.244.1.7' }, desired.routes[1]!],
    }, (p) => expect(p.add.routes).toEqual([{ dst: '10.244.1.0/24', gateway: '10.244.1.0' }])],
    ['an FDB entry pointing at an old IP is deleted and the right one added', {
      ...desired,
      fdbs: [{ mac: '02:00:00:00:00:0a', dst: '10.200.0.50' }, desired.fdbs[1]!],
    }, (p) => {
      expect(p.del.fdbs).toEqual([{ mac: '02:00:00:00:00:0a', dst: '10.200.0.50' }]);
      expect(p.add.fdbs).toEqual([{ mac: '02:00:00:00:00:0a', dst: '10.200.0.11' }]);
    }],
  ];
  it.each(cases)('%s', (_name, actual, check) => check(diffOverlay(desired, actual)));
});

describe('VXLAN device naming and MAC', () => {
  it.each([
    [1, 'flotilla.1'],
    [999999, 'flotilla.999999'],
    [1000000, 'flotilla.vlfls'],
    [16777215, 'flotilla.v9zldr'],
  ])('VNI %i → %s (at most 15 characters)', (vni, name) => {
    expect(vxlanDeviceName(vni)).toBe(name);
    expect(name.length).toBeLessThanOrEqual(15);
  });

  it('a VTEP MAC is unicast and locally administered', () => {
    expect(randomVtepMac(() => Buffer.from([0xff, 1, 2, 3, 4, 5]))).toBe('fe:01:02:03:04:05');
    expect(randomVtepMac(() => Buffer.from([0x00, 1, 2, 3, 4, 5]))).toBe('02:01:02:03:04:05');
  });
});

describe('masquerade rules', () => {
  const cfg = { clusterCidr: '10.244.0.0/16', subnet: '10.244.3.0/24' };

  it('pod → pod returns before the pod → outside masquerade', () => {
    const rules = masqueradeRules(cfg);
    expect(rules[0]).toEqual(expect.arrayContaining(['-s', '10.244.0.0/16', '-d', '10.244.0.0/16', 'RETURN']));
    expect(rules[1]).toEqual(expect.arrayContaining(['-s', '10.244.3.0/24', '!', '-d', '224.0.0.0/4', 'MASQUERADE']));
  });

  it('the restore input declares (and so flushes) our chain only, in the nat table', () => {
    const text = masqueradeRestoreInput(cfg);
    expect(text.split('\n').slice(0, 2)).toEqual(['*nat', `:${MASQUERADE_CHAIN} - [0:0]`]);
    expect(text).toContain('--comment "flotilla: pod to outside"');
    expect(text).not.toContain('POSTROUTING');
    expect(text.trim().endsWith('COMMIT')).toBe(true);
  });

  it('a bad CIDR is refused before anything runs', () => {
    expect(() => masqueradeRules({ clusterCidr: '10.244.0.0/33', subnet: '10.244.3.0/24' })).toThrow(/cluster CIDR/);
  });

  it('ensure writes the chain, then adds the jump only when it is missing; in a namespace through nsenter', async () => {
    const calls: string[] = [];
    let hasJump = false;
    const m = new Masquerade({ ...cfg, netns: '/run/netns/x' }, async (file, args) => {
      const line = [file, ...args].join(' ');
      calls.push(line);
      if (args.includes('-C')) {
        if (!hasJump) throw new Error('no such rule');
      }
      if (args.includes('-I')) hasJump = true;
      return '';
    });
    await m.ensure();
    await m.ensure();
    expect(calls.filter((c) => c.includes('-I POSTROUTING'))).toHaveLength(1);
    expect(calls.every((c) => c.startsWith('nsenter --net=/run/netns/x '))).toBe(true);
    expect(calls[0]).toContain('iptables-nft-restore -w --noflush');
  });
});
