// The endpoints controller: the pure planners (which pods are endpoints, with
// which conditions and ports; packing into slices of at most N with little
// churn; the legacy Endpoints subsets) and the controller over a MemoryStore
// with the real ResourceApi and informers.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, endpointSliceKind, endpointsKind, namespaceKind, serviceKind, silentLogger, type EndpointSlice, type Endpoints, type Pod, type Service } from '../../api/index.js';
import { ResourceApi } from '../../controller/apiserver/resource-api.js';
import { EndpointsController, desiredGroups, desiredSubsets, findPort, planSlices, podEndpoint } from '../../controller/endpoints/index.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

const T0 = Date.UTC(2026, 11, 7, 12);

function svc(spec: Partial<Service['spec']> = {}, name = 'web'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', uid: `svc-${name}` }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ...spec } };
}

let seq = 0;
function pod(name: string, o: { ip?: string; ready?: boolean; deleting?: boolean; phase?: string; labels?: Record<string, string>; node?: string; ports?: { name: string; containerPort: number; protocol?: string }[]; hostname?: string; subdomain?: string } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}-${++seq}`, labels: o.labels ?? { app: 'web' }, ...(o.deleting ? { deletionTimestamp: '2026-12-07T12:00:00Z' } : {}) },
    spec: { nodeName: o.node ?? 'n1', containers: [{ name: 'c', image: 'busybox', ports: o.ports ?? [] }], ...(o.hostname ? { hostname: o.hostname } : {}), ...(o.subdomain ? { subdomain: o.subdomain } : {}) } as Pod['spec'],
    status: {
      phase: (o.phase ?? 'Running') as 'Running',
      ...(o.ip === '' ? {} : { podIP: o.ip ?? `10.244.${10 + Math.floor(seq / 250)}.${(seq % 250) + 1}` }),
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  } as Pod;
}

describe('[endpoints] which pods are endpoints, and how', () => {
  it('ready, serving and terminating as Kubernetes\' podToEndpoint; publishNotReadyAddresses makes every address ready', () => {
    const s = svc();
    expect(podEndpoint(s, pod('a')).conditions).toEqual({ ready: true, serving: true, terminating: false });
    expect(podEndpoint(s, pod('b', { ready: false })).conditions).toEqual({ ready: false, serving: false, terminating: false });
    expect(podEndpoint(s, pod('c', { deleting: true })).conditions).toEqual({ ready: false, serving: true, terminating: true });
    expect(podEndpoint(svc({ publishNotReadyAddresses: true }), pod('d', { ready: false })).conditions?.ready).toBe(true);
    const e = podEndpoint(s, pod('e', { ip: '10.244.2.7', node: 'n2' }));
    expect(e).toMatchObject({ addresses: ['10.244.2.7'], nodeName: 'n2', targetRef: { kind: 'Pod', namespace: 'default', name: 'e' } });
    expect(e.zone).toBeUndefined();
  });

  it('pods without an IP or finished are left out; a hostname only when the subdomain names the Service', () => {
    const groups = desiredGroups(svc(), [pod('a'), pod('noip', { ip: '' }), pod('done', { phase: 'Succeeded' }), pod('h', { hostname: 'h0', subdomain: 'web' }), pod('o', { hostname: 'o0', subdomain: 'other' })]);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.endpoints.map((e) => [e.targetRef?.name, e.hostname])).toEqual([['a', undefined], ['h', 'h0'], ['o', undefined]]);
    expect(groups[0]!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
  });

  it('a named targetPort is found per pod (same protocol): pods that number it differently get slices of their own', () => {
    const s = svc({ ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }] });
    expect(findPort(pod('x', { ports: [{ name: 'web', containerPort: 9000, protocol: 'UDP' }] }), s.spec.ports![0]!)).toBeUndefined();
    const groups = desiredGroups(s, [pod('a', { ports: [{ name: 'web', containerPort: 8080 }] }), pod('b', { ports: [{ name: 'web', containerPort: 9090 }] }), pod('c', { ports: [] })]);
    expect(groups.map((g) => [g.ports[0]!.port, g.endpoints.map((e) => e.targetRef?.name)])).toEqual([
      [8080, ['a']],
      [9090, ['b']],
    ]);
  });
});

describe('[endpoints] packing into slices', () => {
  const slice = (name: string, endpoints: EndpointSlice['endpoints'], ports: EndpointSlice['ports'] = [{ name: 'http', port: 8080, protocol: 'TCP' }]): EndpointSlice =>
    ({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: 'default' }, addressType: 'IPv4', endpoints, ports }) as EndpointSlice;

  it('250 endpoints → 100 + 100 + 50; one more fills the partial slice instead of making a fourth', () => {
    const pods = Array.from({ length: 250 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`));
    const first = planSlices(desiredGroups(svc(), pods), []);
    expect(first.create.map((c) => c.endpoints.length)).toEqual([100, 100, 50]);
    const existing = first.create.map((c, i) => slice(`web-${i}`, c.endpoints));
    const more = planSlices(desiredGroups(svc(), [...pods, pod('p999')]), existing);
    expect(more.create).toEqual([]);
    expect(more.delete).toEqual([]);
    expect(more.update.map((u) => [u.slice.metadata.name, u.endpoints.length])).toEqual([['web-2', 51]]);
  });

  it('an endpoint whose conditions change is updated in the slice that holds it; nothing else is touched', () => {
    const pods = [pod('a'), pod('b')];
    const [s1] = planSlices(desiredGroups(svc(), pods), []).create;
    const existing = [slice('web-x', s1!.endpoints)];
    expect(planSlices(desiredGroups(svc(), pods), existing)).toEqual({ create: [], update: [], delete: [] });
    const unready = [pods[0]!, { ...pods[1]!, status: { ...pods[1]!.status, conditions: [{ type: 'Ready', status: 'False' }] } } as Pod];
    const p = planSlices(desiredGroups(svc(), unready), existing);
    expect(p.update).toHaveLength(1);
    expect(p.update[0]!.endpoints.map((e) => e.conditions?.ready)).toEqual([true, false]);
  });

  it('a Service without endpoints keeps one empty placeholder slice; the surplus goes', () => {
    expect(planSlices([], [])).toEqual({ create: [{ ports: [], endpoints: [] }], update: [], delete: [] });
    const a = slice('web-a', [{ addresses: ['10.244.1.1'] }]);
    const b = slice('web-b', [{ addresses: ['10.244.1.2'] }]);
    const p = planSlices([], [a, b]);
    expect(p.update.map((u) => [u.slice.metadata.name, u.endpoints, u.ports])).toEqual([['web-a', [], []]]);
    expect(p.delete).toEqual([b]);
  });
});

describe('[endpoints] the legacy Endpoints', () => {
  it('ready addresses and notReadyAddresses by port set, terminating pods left out, sorted by IP', () => {
    const { subsets, truncated } = desiredSubsets(svc(), [pod('b', { ip: '10.244.1.20' }), pod('a', { ip: '10.244.1.3' }), pod('u', { ip: '10.244.1.9', ready: false }), pod('t', { deleting: true })]);
    expect(truncated).toBe(false);
    expect(subsets).toEqual([
      {
        addresses: [
          { ip: '10.244.1.3', nodeName: 'n1', targetRef: expect.objectContaining({ name: 'a' }) },
          { ip: '10.244.1.20', nodeName: 'n1', targetRef: expect.objectContaining({ name: 'b' }) },
        ],
        notReadyAddresses: [{ ip: '10.244.1.9', nodeName: 'n1', targetRef: expect.objectContaining({ name: 'u' }) }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
  });
});

describe('[endpoints] the controller', () => {
  const runs: { ac: AbortController; done: Promise<void> }[] = [];
  afterEach(async () => {
    for (const r of runs.splice(0)) {
      r.ac.abort();
      await r.done;
    }
  });

  async function world(maxEndpointsPerSlice?: number) {
    const clock = new FakeClock(T0);
    const store = new MemoryStore(() => clock.now());
    const api = new ResourceApi({ store, clock, log: silentLogger() });
    await api.create({ res: namespaceKind }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    const informers = new InformerFactory({ store, clock, log: silentLogger() });
    const c = new EndpointsController({ api, informers, clock, log: silentLogger(), ...(maxEndpointsPerSlice ? { maxEndpointsPerSlice } : {}) });
    const ac = new AbortController();
    runs.push({ ac, done: c.run(ac.signal).finally(() => informers.stop()) });
    const slices = async () => (await api.list({ res: endpointSliceKind, namespace: 'default' }, {})).items as EndpointSlice[];
    const endpoints = async (name = 'web') => (await api.get({ res: endpointsKind, namespace: 'default', name }).catch(() => undefined)) as Endpoints | undefined;
    return { store, api, slices, endpoints };
  }

  async function until<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
    for (let i = 0; i < 1000; i++) {
      const v = await fn();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const addrs = (ss: EndpointSlice[]) => ss.flatMap((s) => s.endpoints.map((e) => e.addresses[0])).sort();

  it('publishes the selected pods as an owned, labelled slice and as Endpoints; follows readiness, deletion and label changes', async () => {
    const w = await world();
    await w.store.create('pods', pod('a', { ip: '10.244.1.10' }));
    await w.store.create('pods', pod('b', { ip: '10.244.1.11' }));
    await w.store.create('pods', pod('other', { ip: '10.244.1.12', labels: { app: 'db' } }));
    const s = (await w.api.create({ res: serviceKind, namespace: 'default' }, svc())) as Service;
    const [slice] = await until('a slice with both pods', async () => {
      const ss = await w.slices();
      return addrs(ss).join() === '10.244.1.10,10.244.1.11' ? ss : undefined;
    });
    expect(slice!.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
    expect(slice!.metadata.labels).toEqual({ 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    expect(slice!.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: s.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(slice!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    const ep = await until('Endpoints', () => w.endpoints());
    expect(ep.subsets?.[0]?.addresses?.map((a) => a.ip)).toEqual(['10.244.1.10', '10.244.1.11']);

    // b turns unready: ready false in the slice, a notReadyAddress in Endpoints
    const b = (await w.store.list<Pod>('pods')).items.find((p) => p.metadata.name === 'b')!;
    await w.store.update('pods', { ...b, status: { ...b.status, conditions: [{ type: 'Ready', status: 'False' }] } });
    await until('b not ready', async () => (await w.slices())[0]?.endpoints.find((e) => e.addresses[0] === '10.244.1.11')?.conditions?.ready === false);
    await until('b in notReadyAddresses', async () => (await w.endpoints())?.subsets?.[0]?.notReadyAddresses?.[0]?.ip === '10.244.1.11');
    // a relabelled pod leaves, a deleted one goes
    const a = (await w.store.list<Pod>('pods')).items.find((p) => p.metadata.name === 'a')!;
    await w.store.update('pods', { ...a, metadata: { ...a.metadata, labels: { app: 'moved' } } });
    await w.store.delete({ resource: 'pods', namespace: 'default', name: 'b' });
    const empty = await until('no endpoints left', async () => {
      const ss = await w.slices();
      return ss.length === 1 && ss[0]!.endpoints.length === 0 ? ss : undefined;
    });
    expect(empty[0]!.ports).toEqual([]); // the placeholder
    expect((await until('empty Endpoints', async () => ((await w.endpoints())?.subsets?.length === 0 ? w.endpoints() : undefined)))!.subsets).toEqual([]);
  });

  it('more pods than a slice holds spread over several slices, never duplicated; deleting the Service deletes its Endpoints', async () => {
    const w = await world(3);
    for (let i = 0; i < 7; i++) await w.store.create('pods', pod(`p${i}`, { ip: `10.244.3.${i + 1}` }));
    await w.api.create({ res: serviceKind, namespace: 'default' }, svc());
    const ss = await until('7 endpoints', async () => {
      const x = await w.slices();
      return addrs(x).length === 7 ? x : undefined;
    });
    expect(ss.map((s) => s.endpoints.length).sort()).toEqual([1, 3, 3]);
    expect(new Set(addrs(ss)).size).toBe(7);
    await new Promise((r) => setTimeout(r, 100));
    expect((await w.slices()).length).toBe(3); // settled: no extra slice from a lagging cache
    await w.api.delete({ res: serviceKind, namespace: 'default', name: 'web' }, {});
    await until('Endpoints deleted', async () => (await w.endpoints()) === undefined);
  });

  it('a Service without a selector is left to its user; ExternalName gets no slices', async () => {
    const w = await world();
    await w.store.create('pods', pod('a'));
    await w.api.create({ res: serviceKind, namespace: 'default' }, svc({ selector: undefined }, 'manual'));
    await w.api.create({ res: serviceKind, namespace: 'default' }, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'db.example.org', selector: { app: 'web' } } });
    await w.api.create({ res: serviceKind, namespace: 'default' }, svc());
    await until('web has its slice', async () => (await w.slices()).some((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web'));
    const names = (await w.slices()).map((s) => s.metadata.labels?.['kubernetes.io/service-name']);
    expect(names).toEqual(['web']);
    expect(await w.endpoints('manual')).toBeUndefined();
    expect(await w.endpoints('ext')).toBeUndefined();
  });
});
