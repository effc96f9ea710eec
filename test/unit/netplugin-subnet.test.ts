import { describe, expect, it } from 'vitest';
import {
  LeaseTracker,
  SubnetPoolExhaustedError,
  cidrKey,
  parseCidr,
  parseCidrKey,
  pickFreeSubnet,
  subnetGateway,
  subnetNetworkAddress,
  validateNetworkConfig,
  type NetworkConfig,
  type SubnetLease,
} from '../../netplugin/index.js';

const cfg: NetworkConfig = { network: '10.244.0.0/16', subnetLen: 24, backend: { type: 'vxlan', vni: 1, port: 8472 } };

function lease(subnet: string, node: string, ip = '10.200.0.11', mac = '02:00:00:00:00:01'): SubnetLease {
  return { subnet, nodeName: node, publicIP: ip, backend: { type: 'vxlan', data: { vtepMAC: mac } }, expiration: 0 };
}

describe('[netplugin] CIDR arithmetic', () => {
  it.each([
    ['10.244.0.0/16', '10.244.0.0-16'],
    ['10.244.3.0/24', '10.244.3.0-24'],
    ['0.0.0.0/0', '0.0.0.0-0'],
  ])('%s round-trips through its etcd key form', (s, key) => {
    expect(cidrKey(parseCidr(s))).toBe(key);
    expect(parseCidrKey(key)).toEqual(parseCidr(s));
  });

  it.each([
    ['10.244.0.1/16', 'host bits set (network is 10.244.0.0/16)'],
    ['10.244.0.0', 'expected a.b.c.d/len'],
    ['10.300.0.0/16', 'invalid CIDR "10.300.0.0/16"'],
    ['10.0.0.0/33', 'expected a.b.c.d/len'],
  ])('rejects %s naming what is wrong', (s, msg) => {
    expect(() => parseCidr(s)).toThrow(msg);
  });
});

describe('[netplugin] subnet allocation', () => {
  it('hands out the first free subnet, skipping the pool\'s .0 subnet', () => {
    expect(pickFreeSubnet(cfg, [])).toBe('10.244.1.0/24');
    expect(pickFreeSubnet(cfg, ['10.244.1.0/24', '10.244.2.0/24'])).toBe('10.244.3.0/24');
    expect(pickFreeSubnet(cfg, ['10.244.1.0/24', '10.244.3.0/24'])).toBe('10.244.2.0/24');
  });

  it('uses the .0 subnet last and then reports an exhausted pool', () => {
    const small: NetworkConfig = { ...cfg, network: '10.244.0.0/23' };
    expect(pickFreeSubnet(small, ['10.244.1.0/24'])).toBe('10.244.0.0/24');
    expect(() => pickFreeSubnet(small, ['10.244.1.0/24', '10.244.0.0/24'])).toThrow(SubnetPoolExhaustedError);
    expect(() => pickFreeSubnet(small, ['10.244.1.0/24', '10.244.0.0/24'])).toThrow(
      'no free /24 subnet left in 10.244.0.0/23: all 2 are leased',
    );
  });

  it('gives the gateway .1 and the VXLAN address .0 of a subnet', () => {
    expect(subnetGateway('10.244.7.0/24')).toBe('10.244.7.1');
    expect(subnetNetworkAddress('10.244.7.0/24')).toBe('10.244.7.0');
  });

  it('validates the network config with a message per bad field', () => {
    expect(() => validateNetworkConfig(cfg)).not.toThrow();
    expect(() => validateNetworkConfig({ ...cfg, subnetLen: 16 })).toThrow('subnetLen: must be between 17 and 30, got 16');
    expect(() => validateNetworkConfig({ ...cfg, backend: { type: 'vxlan', vni: 0, port: 70000 } })).toThrow(
      'backend.vni: must be 1..16777215, got 0, backend.port: must be 1..65535, got 70000',
    );
  });
});

describe('[netplugin] lease watch batching', () => {
  it('reports new and removed leases from events, ignoring its own subnet', () => {
    const t = new LeaseTracker('10.244.1.0/24');
    const b = t.apply({
      kind: 'events',
      events: [
        { type: 'added', lease: lease('10.244.1.0/24', 'self') },
        { type: 'added', lease: lease('10.244.2.0/24', 'n2') },
      ],
    });
    expect(b.added.map((l) => l.subnet)).toEqual(['10.244.2.0/24']);
    expect(b.removed).toEqual([]);
    const r = t.apply({ kind: 'events', events: [{ type: 'removed', lease: lease('10.244.2.0/24', 'n2') }] });
    expect(r.removed.map((l) => l.nodeName)).toEqual(['n2']);
    expect(t.leases()).toEqual([]);
  });

  it('turns a snapshot into the same added/removed batches as events would', () => {
    const t = new LeaseTracker();
    t.apply({ kind: 'snapshot', leases: [lease('10.244.2.0/24', 'n2'), lease('10.244.3.0/24', 'n3')] });
    const b = t.apply({ kind: 'snapshot', leases: [lease('10.244.3.0/24', 'n3'), lease('10.244.4.0/24', 'n4')] });
    expect(b.added.map((l) => l.nodeName)).toEqual(['n4']);
    expect(b.removed.map((l) => l.nodeName)).toEqual(['n2']);
  });

  it('reports a changed lease (new host IP or VTEP MAC) as removed old + added new', () => {
    const t = new LeaseTracker();
    t.apply({ kind: 'events', events: [{ type: 'added', lease: lease('10.244.2.0/24', 'n2', '10.200.0.12') }] });
    const b = t.apply({ kind: 'events', events: [{ type: 'added', lease: lease('10.244.2.0/24', 'n2', '10.200.0.99') }] });
    expect(b.removed.map((l) => l.publicIP)).toEqual(['10.200.0.12']);
    expect(b.added.map((l) => l.publicIP)).toEqual(['10.200.0.99']);
    const same = t.apply({ kind: 'snapshot', leases: [lease('10.244.2.0/24', 'n2', '10.200.0.99')] });
    expect(same).toEqual({ added: [], removed: [] });
  });
});
