// default/kubernetes as the API server keeps it (leases of the replicas →
// Endpoints and EndpointSlice), the services config of init, and the leader's
// allocation repair, over a MemoryStore with the real ResourceApi.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeClock, endpointSliceKind, endpointsKind, namespaceKind, serviceKind, silentLogger, type EndpointSlice, type Endpoints, type KubeObject, type Service } from '../../api/index.js';
import { ResourceApi } from '../../controller/apiserver/resource-api.js';
import { initStateDir } from '../../controller/pki/state-dir.js';
import { KubernetesServiceReconciler, ServiceRepair, parseServicesConfig, publishable } from '../../controller/services/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

const T0 = Date.UTC(2026, 11, 7, 12);

async function world() {
  const clock = new FakeClock(T0);
  const store = new MemoryStore(() => clock.now());
  const api = new ResourceApi({ store, clock, log: silentLogger() });
  await api.create({ res: namespaceKind }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const replica = (address: string) => new KubernetesServiceReconciler({ api, store, address, port: 6443, clusterIP: '10.96.0.1', clock, log: silentLogger() });
  const endpoints = async () => (await api.get({ res: endpointsKind, namespace: 'default', name: 'kubernetes' })) as Endpoints;
  const slice = async () => (await api.get({ res: endpointSliceKind, namespace: 'default', name: 'kubernetes' })) as EndpointSlice;
  return { clock, store, api, replica, endpoints, slice };
}

describe('[services] default/kubernetes', () => {
  it('the Service gets 10.96.0.1 and https 443 → the API port; each live replica is an endpoint, in Endpoints and the EndpointSlice', async () => {
    const w = await world();
    const a = w.replica('10.200.0.1');
    const b = w.replica('10.200.0.2');
    await a.pass();
    await b.pass();
    await a.pass();
    const svc = (await w.api.get({ res: serviceKind, namespace: 'default', name: 'kubernetes' })) as Service;
    expect(svc.spec).toMatchObject({ clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] });
    expect((await w.endpoints()).subsets).toEqual([{ addresses: [{ ip: '10.200.0.1' }, { ip: '10.200.0.2' }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }]);
    expect((await w.slice()).endpoints.map((e) => e.addresses[0])).toEqual(['10.200.0.1', '10.200.0.2']);
    // b stops renewing (killed): after the lease time it is dropped by a's next pass
    w.clock.advance(16_000);
    await a.pass();
    expect((await w.endpoints()).subsets?.[0]?.addresses).toEqual([{ ip: '10.200.0.1' }]);
    // a clean stop takes a's own endpoint out at once
    await a.stop();
    expect((await w.endpoints()).subsets).toEqual([]);
    expect((await w.slice()).endpoints).toEqual([]);
  });

  it('a port set changed by hand is put back; a deleted Service is recreated with its address', async () => {
    const w = await world();
    const a = w.replica('10.200.0.1');
    await a.pass();
    const svc = (await w.api.get({ res: serviceKind, namespace: 'default', name: 'kubernetes' })) as Service;
    await w.api.update({ res: serviceKind, namespace: 'default', name: 'kubernetes' }, { ...svc, spec: { ...svc.spec, ports: [{ name: 'x', port: 80, protocol: 'TCP', targetPort: 80 }] } });
    await a.pass();
    expect(((await w.api.get({ res: serviceKind, namespace: 'default', name: 'kubernetes' })) as Service).spec.ports?.[0]).toMatchObject({ name: 'https', port: 443 });
    await w.api.delete({ res: serviceKind, namespace: 'default', name: 'kubernetes' }, {});
    await a.pass();
    expect(((await w.api.get({ res: serviceKind, namespace: 'default', name: 'kubernetes' })) as Service).spec.clusterIP).toBe('10.96.0.1');
  });

  it('loopback, link-local and names cannot be endpoints', () => {
    expect(['127.0.0.1', '169.254.1.1', '0.0.0.0', 'api.example.org', '::1'].map(publishable)).toEqual([false, false, false, false, false]);
    expect(publishable('10.200.0.1')).toBe(true);
  });
});

describe('[services] the services config', () => {
  it('init records the service CIDR and NodePort range; an overlap with the pod network or a bad range is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-svccfg-'));
    try {
      const r = initStateDir({ stateDir: dir });
      expect(r.config).toMatchObject({ serviceCIDR: '10.96.0.0/16', serviceNodePortRange: '30000-32767' });
      expect(() => initStateDir({ stateDir: join(dir, 'b'), serviceCIDR: '10.244.0.0/20' })).toThrow('the service CIDR 10.244.0.0/20 overlaps the pod network 10.244.0.0/16');
      expect(() => initStateDir({ stateDir: join(dir, 'c'), serviceNodePortRange: '80-20' })).toThrow('invalid NodePort range "80-20"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(parseServicesConfig({ serviceCIDR: '10.97.0.0/24', nodePortRange: '31000-31999' })).toMatchObject({ kubernetesIP: '10.97.0.1', dnsIP: '10.97.0.10', nodePorts: { min: 31000, max: 31999 } });
  });
});

describe('[services] the leader\'s allocation repair', () => {
  it('restores a Service\'s lost allocation and reports a clash as a Warning event on the Service', async () => {
    const w = await world();
    const events: string[] = [];
    const repair = new ServiceRepair({ store: w.store, allocator: w.api.services.allocator, clock: w.clock, log: silentLogger(), recorder: { event: (o: KubeObject, t: string, reason: string, msg: string) => events.push(`${o.metadata.name} ${t} ${reason}: ${msg}`) } });
    await w.api.create({ res: serviceKind, namespace: 'default' }, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.96.0.50', ports: [{ port: 80 }] } });
    // the allocation is lost (an old etcd snapshot, a bug): a repair pass brings it back
    await w.store.delete({ resource: 'ipaddresses', name: '10.96.0.50' });
    // and a second Service got the same address by a path that bypassed the allocator
    const web = (await w.api.get({ res: serviceKind, namespace: 'default', name: 'web' })) as Service;
    await w.store.create('services', { ...web, metadata: { name: 'zz-twin', namespace: 'default' } } as Service); // listed after web, whose address it is
    const report = await repair.once();
    expect(report.restored).toEqual(['ipaddresses/10.96.0.50']);
    expect(events).toEqual(['zz-twin Warning ClusterIPAlreadyAllocated: Cluster IP 10.96.0.50 was assigned to multiple services; please recreate service']);
    await expect(w.api.create({ res: serviceKind, namespace: 'default' }, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'third', namespace: 'default' }, spec: { clusterIP: '10.96.0.50', ports: [{ port: 80 }] } })).rejects.toThrow('provided IP is already allocated');
  });
});
