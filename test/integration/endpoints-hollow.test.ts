// The endpoints controller in a real controller process with hollow nodes
// joined through the real path: a Deployment behind a Service is published as
// an EndpointSlice and as Endpoints with every Ready pod and its node, follows
// scaling and pod replacement, and goes with the Service; kubectl 1.33 and
// 1.20 print both kinds as against Kubernetes. Build first: npx tsc -p tsconfig.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSlice, Endpoints, Pod } from '../../api/index.js';
import { eventually } from '../helpers/flotctl.js';
import { HollowCluster, KUBECTL_VERSIONS } from '../helpers/hollow-cluster.js';

const PREFIX = `eph${process.pid % 1000}`;
const cluster = new HollowCluster({ prefix: PREFIX, nodes: 3 });
const { api, ok, apply } = cluster;
beforeAll(cluster.start, 120_000);
afterAll(cluster.stop, 60_000);

const slicesOf = async (svc: string) =>
  (await api<{ items: EndpointSlice[] }>('GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${svc}`)}`)).body.items;
const endpointsOf = async (svc: string) => (await api<Endpoints>('GET', `/api/v1/namespaces/default/endpoints/${svc}`)).body;
const readyPods = async () =>
  (await api<{ items: Pod[] }>('GET', `/api/v1/namespaces/default/pods?labelSelector=app%3Dweb`)).body.items.filter(
    (p) => !p.metadata.deletionTimestamp && p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
const readyIPs = (ss: EndpointSlice[]) => ss.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready).map((e) => e.addresses[0]!)).sort();

const manifest = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: busybox:1.35
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
`;

describe('[endpoints] a Deployment behind a Service', () => {
  it('every Ready pod is an endpoint of one slice (named port resolved, node named) and of the Endpoints', async () => {
    await apply(manifest(3));
    const pods = await eventually('3 ready pods', async () => {
      const p = await readyPods();
      return p.length === 3 ? p : undefined;
    });
    const want = pods.map((p) => p.status!.podIP!).sort();
    const slices = await eventually('a slice with the 3 pods', async () => {
      const ss = await slicesOf('web');
      return readyIPs(ss).join() === want.join() ? ss : undefined;
    });
    expect(slices).toHaveLength(1);
    expect(slices[0]!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slices[0]!.endpoints.map((e) => e.nodeName).sort()).toEqual(pods.map((p) => p.spec.nodeName).sort());
    expect(slices[0]!.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Service', name: 'web', controller: true });
    const ep = await eventually('Endpoints with the 3 pods', async () => {
      const e = await endpointsOf('web');
      return (e.subsets?.[0]?.addresses ?? []).map((a) => a.ip).sort().join() === want.join() ? e : undefined;
    });
    expect(ep.subsets?.[0]?.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
  });

  it('kubectl 1.33 and 1.20 print the slice and the Endpoints as against Kubernetes', async () => {
    const ips = readyIPs(await slicesOf('web'));
    for (const v of KUBECTL_VERSIONS) {
      const [head, row] = (await ok(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web'], v)).trim().split('\n');
      expect(head!.split(/\s{2,}/)).toEqual(['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
      const cells = row!.split(/\s{2,}/);
      expect(cells[0]).toMatch(/^web-[a-z0-9]{5}$/);
      expect(cells.slice(1, 3)).toEqual(['IPv4', '8080']);
      expect(cells[3]!.split(',').sort()).toEqual(ips);
      const [eh, er] = (await ok(['get', 'endpoints', 'web'], v)).trim().split('\n');
      expect(eh!.split(/\s{2,}/)).toEqual(['NAME', 'ENDPOINTS', 'AGE']);
      expect(er!.split(/\s{2,}/)[1]!.split(',').sort()).toEqual(ips.map((ip) => `${ip}:8080`).sort());
    }
  });

  it('scaling and a deleted pod are followed: the replacement comes in, the deleted pod goes out', async () => {
    await ok(['scale', 'deployment', 'web', '--replicas=5']);
    await eventually('5 endpoints', async () => readyIPs(await slicesOf('web')).length === 5 && (await readyPods()).length === 5);
    const victim = (await readyPods())[0]!;
    await ok(['delete', 'pod', victim.metadata.name!, '--wait=false']);
    await eventually('the deleted pod out, its replacement in', async () => {
      const ips = readyIPs(await slicesOf('web'));
      const pods = await readyPods();
      return ips.length === 5 && !pods.some((p) => p.metadata.uid === victim.metadata.uid) && ips.join() === pods.map((p) => p.status!.podIP!).sort().join();
    });
  });

  it('deleting the Service removes its slices (garbage collector) and its Endpoints', async () => {
    await ok(['delete', 'service', 'web']);
    await eventually('no slices and no Endpoints', async () => (await slicesOf('web')).length === 0 && (await api('GET', '/api/v1/namespaces/default/endpoints/web')).status === 404, 30_000);
    await ok(['delete', 'deployment', 'web']);
  });
});
