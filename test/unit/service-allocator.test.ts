import { describe, expect, it } from 'vitest';
import { FakeClock, silentLogger, type KubeObject } from '../../api/index.js';
import { AllocationError, ServiceAllocator, type ServiceRef } from '../../controller/services/allocator.js';
import { ServiceWrites } from '../../controller/services/service-writes.js';
import { candidates, ipBand, ipOutOfRange, parsePortRange, parseServiceCidr, portBand } from '../../controller/services/ranges.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import { parseCidr } from '../../netplugin/cidr.js';

const T0 = Date.UTC(2026, 0, 1);
const web: ServiceRef = { namespace: 'default', name: 'web' };
const db: ServiceRef = { namespace: 'default', name: 'db' };

function allocator(cidr = '10.96.0.0/16', o: { random?: () => number; clock?: FakeClock; store?: MemoryStore } = {}) {
  const clock = o.clock ?? new FakeClock(T0);
  const store = o.store ?? new MemoryStore(() => clock.now());
  const a = new ServiceAllocator({ store, serviceCidr: parseCidr(cidr), nodePorts: { min: 30000, max: 32767 }, clock, log: silentLogger(), random: o.random ?? (() => 0.5) });
  return { a, store, clock };
}

const detail = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    if (e instanceof AllocationError) return e.detail;
    throw e;
  }
  return 'no error';
};

describe('[services] ranges', () => {
  it('a /16 keeps its first 256 addresses (after the network address) for explicit requests, as Kubernetes', () => {
    expect(ipBand(parseCidr('10.96.0.0/16'))).toEqual({ first: (10 << 24 | 96 << 16 | 1) >>> 0, last: (10 << 24 | 96 << 16 | 0xfffe) >>> 0, staticSize: 256 });
    expect(ipBand(parseCidr('10.96.0.0/24')).staticSize).toBe(16);
    expect(portBand(30000, 32767)).toEqual({ first: 30000, last: 32767, staticSize: 86 });
  });

  it('tries the upper band from the random start, wrapping, and the static band only after it', () => {
    const order = [...candidates({ first: 1, last: 6, staticSize: 2 }, 0.5)];
    expect(order).toEqual([5, 6, 3, 4, 2, 1]);
  });

  it('refuses small or malformed ranges, and out-of-range IPs in kube-apiserver\'s words', () => {
    expect(() => parseServiceCidr('10.96.0.0/30')).toThrow('service CIDR 10.96.0.0/30 is too small: at least a /29 is needed');
    expect(() => parsePortRange('32767-30000')).toThrow('invalid NodePort range "32767-30000"');
    expect(ipOutOfRange(parseCidr('10.96.0.0/16'), '10.0.0.5')).toBe(
      'failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/16',
    );
    expect(ipOutOfRange(parseCidr('10.96.0.0/16'), '10.96.0.0')).toContain('is not in the valid range');
    expect(ipOutOfRange(parseCidr('10.96.0.0/16'), '10.96.3.4')).toBeUndefined();
  });
});

describe('[services] the allocator', () => {
  it('hands out a dynamic IP from the upper band and records it as an IPAddress naming the Service', async () => {
    const { a, store } = allocator();
    const ip = await a.allocateIP(web, undefined);
    expect(ip).toBe('10.96.128.128');
    const stored = await store.get<KubeObject & { spec: unknown }>({ resource: 'ipaddresses', name: ip });
    expect(stored.kind).toBe('IPAddress');
    expect(stored.spec).toEqual({ parentRef: { group: '', resource: 'services', namespace: 'default', name: 'web' } });
  });

  it('never hands out an address twice, also to two allocators over one store (two controller replicas)', async () => {
    const clock = new FakeClock(T0);
    const store = new MemoryStore(() => clock.now());
    const one = allocator('10.96.0.0/29', { store, clock }).a;
    const two = allocator('10.96.0.0/29', { store, clock }).a;
    // a /29: 6 usable addresses; both allocators race for them
    const got = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => (i % 2 ? one : two).allocateIP({ namespace: 'default', name: `s${i}` }, undefined)));
    expect(new Set(got).size).toBe(6);
    expect(await detail(one.allocateIP({ namespace: 'default', name: 's7' }, undefined))).toBe('range is full');
  });

  it('an explicit IP: taken, out of range or held by another Service is refused with the kube-apiserver detail', async () => {
    const { a } = allocator();
    expect(await a.allocateIP(web, '10.96.0.10')).toBe('10.96.0.10');
    expect(await detail(a.allocateIP(db, '10.96.0.10'))).toBe('failed to allocate IP 10.96.0.10: provided IP is already allocated');
    expect(await detail(a.allocateIP(db, '192.168.1.1'))).toContain('is not in the valid range. The range of valid IPs is 10.96.0.0/16');
    // a dry run answers without taking
    expect(await a.allocateIP(db, '10.96.0.11', true)).toBe('10.96.0.11');
    expect(await a.allocateIP(db, '10.96.0.11')).toBe('10.96.0.11');
  });

  it('release gives back only what the Service holds', async () => {
    const { a } = allocator();
    await a.allocateIP(web, '10.96.0.20');
    await a.releaseIP(db, '10.96.0.20'); // not db's: kept
    expect(await detail(a.allocateIP(db, '10.96.0.20'))).toContain('already allocated');
    await a.releaseIP(web, '10.96.0.20');
    expect(await a.allocateIP(db, '10.96.0.20')).toBe('10.96.0.20');
  });

  it('node ports: requested, dynamic, out of range and taken', async () => {
    const { a } = allocator();
    expect(await a.allocateNodePort(web, 30080)).toBe(30080);
    expect(await detail(a.allocateNodePort(db, 30080))).toBe('provided port is already allocated');
    expect(await detail(a.allocateNodePort(db, 80))).toBe('provided port is not in the valid range. The range of valid ports is 30000-32767');
    const dyn = await a.allocateNodePort(db, undefined);
    expect(dyn).toBeGreaterThanOrEqual(30086); // the upper band
    await a.releaseNodePort(web, 30080);
    expect(await a.allocateNodePort(db, 30080)).toBe(30080);
  });

  it('repair restores a Service\'s missing allocation, releases leaked ones after the grace period, reports conflicts', async () => {
    const { a, store, clock } = allocator();
    // a leak: allocated for a Service that was never stored (a crash between allocation and write)
    await a.allocateIP({ namespace: 'default', name: 'ghost' }, '10.96.0.30');
    await a.allocateNodePort({ namespace: 'default', name: 'ghost' }, 30030);
    // web holds 10.96.0.31 but its allocation is missing (etcd restored from an old snapshot…)
    const services = [
      { ref: web, ips: ['10.96.0.31'], nodePorts: [30031] },
      { ref: db, ips: ['10.96.0.31'], nodePorts: [] },
      { ref: { namespace: 'x', name: 'far' }, ips: ['10.0.0.1'], nodePorts: [] },
    ];
    const first = await a.repair(services);
    expect(first.restored).toEqual(['ipaddresses/10.96.0.31', 'servicenodeports/30031']);
    expect(first.released).toEqual([]); // the ghost's allocations are young
    expect(first.problems.map((p) => [p.ref.name, p.reason, p.message])).toEqual([
      ['db', 'ClusterIPAlreadyAllocated', 'Cluster IP 10.96.0.31 was assigned to multiple services; please recreate service'],
      ['far', 'ClusterIPOutOfRange', 'Cluster IP 10.0.0.1 is not within the configured range 10.96.0.0/16; please recreate service'],
    ]);
    clock.advance(61_000);
    const second = await a.repair(services);
    expect(second.released).toEqual(['ipaddresses/10.96.0.30', 'servicenodeports/30030']);
    expect(second.restored).toEqual([]);
    expect((await store.list('ipaddresses')).items.map((o) => o.metadata.name)).toEqual(['10.96.0.31']);
    expect(await a.allocateIP(db, '10.96.0.30')).toBe('10.96.0.30');
  });
});

describe('[services] what a Service write takes and gives back', () => {
  const svc = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec });
  const setup = () => {
    const { a, store } = allocator();
    return { w: new ServiceWrites(a), a, store };
  };
  const held = async (store: MemoryStore, res: string) => (await store.list(res)).items.map((o) => o.metadata.name).sort();

  it('ClusterIP, headless and ExternalName Services: an IP only for the first, single-stack IPv4 fields for both non-external', async () => {
    const { w, store } = setup();
    const a = svc('a', { type: 'ClusterIP', ports: [{ port: 80 }] });
    await (await w.create(a, false)).commit();
    expect(a.spec).toMatchObject({ clusterIP: '10.96.128.128', clusterIPs: ['10.96.128.128'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' });
    const h = svc('h', { type: 'ClusterIP', clusterIP: 'None', ports: [{ port: 80 }] });
    await (await w.create(h, false)).commit();
    expect(h.spec).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv4'] });
    const x = svc('x', { type: 'ExternalName', externalName: 'example.org' });
    await (await w.create(x, false)).commit();
    expect(x.spec).toEqual({ type: 'ExternalName', externalName: 'example.org' });
    expect(await held(store, 'ipaddresses')).toEqual(['10.96.128.128']);
  });

  it('NodePort: requested and dynamic ports, TCP and UDP of one port share a node port; a taken one is a field error', async () => {
    const { w, store } = setup();
    const dns = svc('dns', { type: 'NodePort', ports: [{ name: 'tcp', port: 53, protocol: 'TCP' }, { name: 'udp', port: 53, protocol: 'UDP' }, { name: 'web', port: 80, nodePort: 30080 }] });
    await (await w.create(dns, false)).commit();
    const ports = (dns.spec.ports as { nodePort: number }[]).map((p) => p.nodePort);
    expect(ports[0]).toBe(ports[1]);
    expect(ports[2]).toBe(30080);
    expect(await held(store, 'servicenodeports')).toEqual([String(ports[0]), '30080'].sort());
    const clash = svc('clash', { type: 'NodePort', ports: [{ port: 81, nodePort: 30080 }] });
    await expect(w.create(clash, false)).rejects.toThrow('Service "clash" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated');
    const ipClash = svc('ipclash', { clusterIP: (dns.spec as { clusterIP: string }).clusterIP, ports: [{ port: 80 }] });
    await expect(w.create(ipClash, false)).rejects.toThrow(`spec.clusterIPs: Invalid value: []string{"${(dns.spec as { clusterIP: string }).clusterIP}"}: failed to allocate IP`);
  });

  it('a failed write gives back what it took; a dry run takes nothing', async () => {
    const { w, store } = setup();
    const s = svc('s', { type: 'NodePort', clusterIP: '10.96.0.40', ports: [{ port: 80 }] });
    const write = await w.create(s, false);
    expect(await held(store, 'ipaddresses')).toEqual(['10.96.0.40']);
    await write.undo();
    expect(await held(store, 'ipaddresses')).toEqual([]);
    expect(await held(store, 'servicenodeports')).toEqual([]);
    const dry = svc('d', { type: 'NodePort', ports: [{ port: 80 }] });
    await (await w.create(dry, true)).commit();
    expect((dry.spec as { clusterIP?: string }).clusterIP).toMatch(/^10\.96\./);
    expect(await held(store, 'ipaddresses')).toEqual([]);
  });

  it('an update keeps the IP and node ports the body leaves out; NodePort → ClusterIP gives the ports back only after commit; → ExternalName gives the IP back', async () => {
    const { w, store } = setup();
    const v1 = svc('web', { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP' }] });
    await (await w.create(v1, false)).commit();
    const ip = (v1.spec as { clusterIP: string }).clusterIP;
    const np = (v1.spec.ports as { nodePort: number }[])[0]!.nodePort;
    // a PUT without clusterIP and nodePort (kubectl replace of the original file)
    const v2 = svc('web', { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP' }] });
    await (await w.update(v2, v1, false)).commit();
    expect(v2.spec).toMatchObject({ clusterIP: ip, ports: [{ port: 80, nodePort: np }] });
    const v3 = svc('web', { type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP' }] });
    const write = await w.update(v3, v2, false);
    expect(await held(store, 'servicenodeports')).toEqual([String(np)]); // until the write is stored
    await write.commit();
    expect(await held(store, 'servicenodeports')).toEqual([]);
    expect(v3.spec).toMatchObject({ clusterIP: ip, ports: [{ port: 80 }] });
    expect((v3.spec.ports as { nodePort?: number }[])[0]!.nodePort).toBeUndefined();
    const v4 = svc('web', { type: 'ExternalName', externalName: 'db.example.org' });
    await (await w.update(v4, v3, false)).commit();
    expect(await held(store, 'ipaddresses')).toEqual([]);
    await w.deleted(v4);
  });

  it('deleting gives back the IP and node ports', async () => {
    const { w, store } = setup();
    const s = svc('gone', { type: 'LoadBalancer', ports: [{ port: 443 }] });
    await (await w.create(s, false)).commit();
    expect(await held(store, 'servicenodeports')).toHaveLength(1);
    await w.deleted(s);
    expect(await held(store, 'ipaddresses')).toEqual([]);
    expect(await held(store, 'servicenodeports')).toEqual([]);
  });
});
