// Services reach the agents: the real controller (managed etcd, its shared
// informers, the leader's LoadBalancer status controller) feeds hollow agents
// joined through the real join path, over their mTLS node connection, every
// Service and EndpointSlice of every namespace; each agent's ServiceCatalog
// follows creates, updates and deletes, and an agent joining later starts from
// a complete snapshot. Build first: this spawns dist/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../api/index.js';
import { eventually } from '../helpers/flotctl.js';
import { HollowCluster } from '../helpers/hollow-cluster.js';

const cluster = new HollowCluster({ prefix: `svf${process.pid % 1000}`, nodes: 2, kubectl: ['1.33'] });
const { api, ok } = cluster;
beforeAll(cluster.start, 120_000);
afterAll(cluster.stop, 60_000);

const catalogs = () => [...cluster.agents.values()].map((a) => a.serviceCatalog);

async function everyAgent(what: string, ok: (c: ReturnType<typeof catalogs>[number]) => boolean): Promise<void> {
  await eventually(`every agent: ${what}`, async () => catalogs().length > 0 && catalogs().every(ok), 20_000, 50);
}

function slice(ns: string, name: string, service: string, ips: string[], ready = true): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready } })),
  };
}

async function createService(name: string, type: Service['spec']['type'], port: number): Promise<void> {
  const r = await api('POST', '/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type, selector: { app: name }, ports: [{ port, targetPort: 8080 }] } });
  expect(r.status).toBe(201);
}

describe('[services] the controller feeds the agents Services and EndpointSlices', () => {
  it('every agent\'s catalog follows creates, updates and deletes of Services and slices in any namespace', async () => {
    await ok(['create', 'namespace', 'feed-a']);
    // A Service without a selector: its slices are the user's (the endpoints controller leaves them alone).
    const created = await api<Service>('POST', '/api/v1/namespaces/feed-a/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    expect(created.status).toBe(201);
    const ip = created.body.spec.clusterIP!;
    expect(ip).toMatch(/^10\.96\./);
    await everyAgent('web with its ClusterIP', (c) => c.synced() && c.service('feed-a', 'web')?.spec.clusterIP === ip);

    expect((await api('POST', '/apis/discovery.k8s.io/v1/namespaces/feed-a/endpointslices', slice('feed-a', 'web-1', 'web', ['10.250.1.5', '10.250.2.5']))).status).toBe(201);
    await everyAgent('the slice with two endpoints', (c) => c.slicesFor('feed-a', 'web')[0]?.endpoints.length === 2);

    const cur = (await api<EndpointSlice>('GET', '/apis/discovery.k8s.io/v1/namespaces/feed-a/endpointslices/web-1')).body;
    expect((await api('PUT', '/apis/discovery.k8s.io/v1/namespaces/feed-a/endpointslices/web-1', { ...cur, endpoints: [cur.endpoints[0]] })).status).toBe(200);
    await everyAgent('the slice down to one endpoint', (c) => c.slicesFor('feed-a', 'web')[0]?.endpoints.map((e) => e.addresses[0]).join() === '10.250.1.5');

    await ok(['label', 'service', 'web', '-n', 'feed-a', 'tier=front']);
    await everyAgent('the Service update', (c) => c.service('feed-a', 'web')?.metadata.labels?.tier === 'front');

    expect((await api('DELETE', '/apis/discovery.k8s.io/v1/namespaces/feed-a/endpointslices/web-1')).status).toBe(200);
    await everyAgent('the slice gone', (c) => c.slicesFor('feed-a', 'web').length === 0);
    expect((await api('DELETE', '/api/v1/namespaces/feed-a/services/web')).status).toBe(200);
    await everyAgent('the Service gone', (c) => c.service('feed-a', 'web') === undefined);
    // The cluster's own Service is fed as well (every namespace).
    for (const c of catalogs()) expect(c.service('default', 'kubernetes')?.spec.clusterIP).toBe('10.96.0.1');
  });

  it('a LoadBalancer Service gets the Ready nodes\' IPs in its status (as k3s ServiceLB), and the agents see them', async () => {
    await createService('shop', 'LoadBalancer', 80);
    const want = '10.201.0.1,10.201.0.2';
    const svc = await eventually('status.loadBalancer.ingress', async () => {
      const s = (await api<Service>('GET', '/api/v1/namespaces/default/services/shop')).body;
      return (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join() === want ? s : undefined;
    });
    expect(svc.spec.ports?.[0]?.nodePort).toBeGreaterThanOrEqual(30000);
    expect(await ok(['get', 'service', 'shop'])).toMatch(/shop\s+LoadBalancer\s+10\.96\.\S+\s+10\.201\.0\.1,10\.201\.0\.2\s+80:3\d{4}\/TCP/);
    await everyAgent('the ingress IPs', (c) => (c.service('default', 'shop')?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join() === want);
  });

  it('an agent that joins later starts from a complete snapshot', async () => {
    await createService('late', 'ClusterIP', 81);
    await cluster.joinNode(`${cluster.nodeNames[0]!.replace(/-n1$/, '')}-n9`);
    const late = cluster.agents.get(`${cluster.nodeNames[0]!.replace(/-n1$/, '')}-n9`)!;
    await eventually('the late agent synced', async () => late.serviceCatalog.synced() && late.serviceCatalog.service('default', 'late') !== undefined, 20_000, 50);
    expect(late.serviceCatalog.service('default', 'kubernetes')).toBeDefined();
    expect(late.serviceCatalog.service('default', 'shop')).toBeDefined();
  });
});
