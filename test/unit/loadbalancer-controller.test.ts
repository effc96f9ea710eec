// The LoadBalancer status controller (k3s ServiceLB's behaviour): the pure
// choice of ingress IPs, and the controller over a MemoryStore with the real
// ResourceApi (status subresource) and informers.
import { afterEach, describe, expect, it } from 'vitest';
import { realClock, namespaceKind, serviceKind, silentLogger, type Node, type Service } from '../../api/index.js';
import { ResourceApi } from '../../controller/apiserver/resource-api.js';
import { InformerFactory } from '../../controller/informers/index.js';
import { EXCLUDE_FROM_LB_LABEL, LoadBalancerController, desiredIngress, loadBalancerIngress } from '../../controller/services/loadbalancer.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';

function node(name: string, ip: string, ready = true, labels: Record<string, string> = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    spec: {},
    status: {
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  } as Node;
}

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('[services] LoadBalancer ingress IPs', () => {
  it('are the Ready nodes\' InternalIPs, sorted numerically, once each; NotReady and excluded nodes are left out', () => {
    const ing = loadBalancerIngress([node('c', '10.0.0.10'), node('a', '10.0.0.9'), node('b', '10.0.0.11', false), node('d', '10.0.0.12', true, { [EXCLUDE_FROM_LB_LABEL]: '' }), node('e', '10.0.0.9')]);
    expect(ing).toEqual([
      { ip: '10.0.0.9', ipMode: 'VIP' },
      { ip: '10.0.0.10', ipMode: 'VIP' },
    ]);
  });

  it('only a LoadBalancer Service gets them; any other type gets none', () => {
    const nodes = [node('a', '10.0.0.1')];
    const s = (type: Service['spec']['type']) => ({ metadata: { name: 'x' }, spec: { type } }) as Service;
    expect(desiredIngress(s('LoadBalancer'), nodes)).toEqual([{ ip: '10.0.0.1', ipMode: 'VIP' }]);
    expect(desiredIngress(s('NodePort'), nodes)).toEqual([]);
    expect(desiredIngress(s('ClusterIP'), nodes)).toEqual([]);
  });
});

describe('[services] the LoadBalancer status controller', () => {
  const runs: { ac: AbortController; done: Promise<void> }[] = [];
  afterEach(async () => {
    for (const r of runs.splice(0)) {
      r.ac.abort();
      await r.done;
    }
  });

  async function world() {
    const store = new MemoryStore();
    const api = new ResourceApi({ store, clock: realClock, log: silentLogger() });
    await api.create({ res: namespaceKind }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    const informers = new InformerFactory({ store, log: silentLogger() });
    const ac = new AbortController();
    runs.push({ ac, done: new LoadBalancerController({ api, informers, log: silentLogger() }).run(ac.signal).finally(() => informers.stop()) });
    const ingress = async (name: string) => ((await api.get({ res: serviceKind, namespace: 'default', name })) as Service).status?.loadBalancer?.ingress?.map((i) => i.ip) ?? [];
    return { store, api, ingress };
  }

  const lbService = (name: string, type: Service['spec']['type'] = 'LoadBalancer'): Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type, selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] },
  });

  it('fills status.loadBalancer.ingress with the Ready nodes and follows nodes becoming Ready, NotReady and going away', async () => {
    const w = await world();
    await w.store.create('nodes', node('n1', '10.0.0.1'));
    await w.store.create('nodes', node('n2', '10.0.0.2', false));
    await w.api.create({ res: serviceKind, namespace: 'default' }, lbService('web'));
    await until('n1 in the status', async () => (await w.ingress('web')).join() === '10.0.0.1');

    await w.store.guaranteedUpdate<Node>({ resource: 'nodes', name: 'n2' }, (n) => ({ ...n, status: node('n2', '10.0.0.2', true).status }));
    await until('n1 and n2', async () => (await w.ingress('web')).join() === '10.0.0.1,10.0.0.2');
    await w.store.delete({ resource: 'nodes', name: 'n1' });
    await until('n2 only', async () => (await w.ingress('web')).join() === '10.0.0.2');
  });

  it('clears the IPs of a Service that stops being a LoadBalancer, and gives none to a NodePort', async () => {
    const w = await world();
    await w.store.create('nodes', node('n1', '10.0.0.1'));
    await w.api.create({ res: serviceKind, namespace: 'default' }, lbService('np', 'NodePort'));
    await w.api.create({ res: serviceKind, namespace: 'default' }, lbService('lb'));
    await until('lb has IPs', async () => (await w.ingress('lb')).length === 1);
    expect(await w.ingress('np')).toEqual([]);

    const cur = (await w.api.get({ res: serviceKind, namespace: 'default', name: 'lb' })) as Service;
    const spec = { ...cur.spec, type: 'NodePort' as const };
    delete spec.allocateLoadBalancerNodePorts;
    await w.api.update({ res: serviceKind, namespace: 'default', name: 'lb' }, { ...cur, spec });
    await until('lb cleared', async () => (await w.ingress('lb')).length === 0);
  });
});
