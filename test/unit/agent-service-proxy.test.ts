// The agent's service proxy: the model builder (catalog → netplugin/proxy input),
// the runner (coalesced syncs, waiting for the first list, drift and failure
// reported as Node events and metrics, the table left in place on stop), and
// the catalog feed (snapshots swapped in whole, changes applied, reconnects).
import { describe, expect, it } from 'vitest';
import { FakeClock, silentLogger, type EndpointSlice, type Service } from '../../api/index.js';
import { MetricsRegistry } from '../../api/metrics.js';
import type { CheckResult, ProxyNode, ProxyServicePort, SyncResult } from '../../netplugin/proxy/index.js';
import type { ServiceWatchEvent } from '../../node-agent/controller-client.js';
import { MemoryServiceCatalog, NODE_LOCAL_ANNOTATION, NODE_LOCAL_VALUE } from '../../node-agent/services/catalog.js';
import { runServiceFeed } from '../../node-agent/services/feed.js';
import { buildProxyModel, DEFAULT_AFFINITY_TIMEOUT_SECONDS } from '../../node-agent/services/proxy-model.js';
import { PROXY_DRIFT_REASON, PROXY_SYNC_FAILED_REASON, ProxyRunner, type ProxyApplier } from '../../node-agent/services/proxy-runner.js';
import { parseResyncPeriod } from '../../node-agent/services/proxy-start.js';

const NODE: ProxyNode = { nodeName: 'n1', clusterCIDR: '10.244.0.0/16', podSubnet: '10.244.1.0/24' };

function svc(name: string, spec: Partial<Service['spec']> = {}, extra: Partial<Service> = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'demo', ...(extra.metadata ?? {}) },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.20', selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ...spec },
    ...(extra.status ? { status: extra.status } : {}),
  };
}

type Ep = { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean };
function slice(service: string, name: string, ports: EndpointSlice['ports'], eps: Ep[], addressType: EndpointSlice['addressType'] = 'IPv4'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'demo', labels: { 'kubernetes.io/service-name': service } },
    addressType,
    ports,
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      ...(e.node ? { nodeName: e.node } : {}),
      conditions: { ...(e.ready !== undefined ? { ready: e.ready } : {}), ...(e.serving !== undefined ? { serving: e.serving } : {}), ...(e.terminating !== undefined ? { terminating: e.terminating } : {}) },
    })),
  };
}

function catalogOf(services: Service[], slices: EndpointSlice[]): MemoryServiceCatalog {
  const c = new MemoryServiceCatalog();
  c.replace(services, slices);
  return c;
}

describe('[services] the proxy model from the catalog', () => {
  it('a Service port takes its target port from the slice port of the same name and protocol; the endpoint conditions as kube-proxy reads them', () => {
    const s = svc('web', {
      ports: [
        { name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' },
        { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
      ],
    });
    const sl = slice(
      'web',
      'web-abc',
      [
        { name: 'dns', port: 5353, protocol: 'UDP' },
        { name: 'http', port: 8080, protocol: 'TCP' },
      ],
      [{ ip: '10.244.1.5', node: 'n1' }, { ip: '10.244.2.5', node: 'n2', ready: false, serving: true, terminating: true }],
    );
    const { ports, skipped } = buildProxyModel(catalogOf([s], [sl]), NODE);
    expect(skipped).toEqual([]);
    expect(ports.map((p) => [p.portName, p.protocol, p.clusterIP, p.port, p.endpoints.map((e) => `${e.ip}:${e.port}`)])).toEqual([
      ['http', 'TCP', '10.96.0.20', 80, ['10.244.1.5:8080', '10.244.2.5:8080']],
      ['dns', 'UDP', '10.96.0.20', 53, ['10.244.1.5:5353', '10.244.2.5:5353']],
    ]);
    expect(ports[0]!.endpoints).toEqual([
      { ip: '10.244.1.5', port: 8080, ready: true, serving: true, terminating: false, nodeName: 'n1' },
      { ip: '10.244.2.5', port: 8080, ready: false, serving: true, terminating: true, nodeName: 'n2' },
    ]);
  });

  it('endpoints come from every slice of the Service (not other Services\', not IPv6 slices); a slice lacking the port gives none', () => {
    const s = svc('web');
    const slices = [
      slice('web', 'web-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], [{ ip: '10.244.1.5' }]),
      slice('web', 'web-2', [{ name: 'http', port: 9090, protocol: 'TCP' }], [{ ip: '10.244.3.5' }]),
      slice('web', 'web-3', [{ name: 'other', port: 7000, protocol: 'TCP' }], [{ ip: '10.244.4.5' }]),
      slice('web', 'web-6', [{ name: 'http', port: 8080, protocol: 'TCP' }], [{ ip: 'fd00::5' }], 'IPv6'),
      slice('api', 'api-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], [{ ip: '10.244.9.9' }]),
    ];
    const [p] = buildProxyModel(catalogOf([s], slices), NODE).ports;
    expect(p!.endpoints.map((e) => `${e.ip}:${e.port}`).sort()).toEqual(['10.244.1.5:8080', '10.244.3.5:9090']);
  });

  it('NodePort and LoadBalancer: node ports, the status ingress IPs (LoadBalancer only), traffic policies and ClientIP affinity', () => {
    const lb = svc(
      'lb',
      { type: 'LoadBalancer', clusterIP: '10.96.0.30', ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }], externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } },
      { status: { loadBalancer: { ingress: [{ ip: '192.168.5.10' }, { ip: '192.168.5.11', ipMode: 'Proxy' }, { hostname: 'lb.example.com' }, { ip: '192.168.5.10' }] } } },
    );
    const np = svc('np', { type: 'NodePort', clusterIP: '10.96.0.31', ports: [{ name: 'http', port: 80, nodePort: 30081, protocol: 'TCP' }], externalTrafficPolicy: 'Cluster', sessionAffinity: 'ClientIP' });
    const ci = svc('ci', { clusterIP: '10.96.0.32', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30082, protocol: 'TCP' }] }, { status: { loadBalancer: { ingress: [{ ip: '192.168.5.12' }] } } });
    const { ports } = buildProxyModel(catalogOf([lb, np, ci], []), NODE);
    const by = Object.fromEntries(ports.map((p) => [p.name, p]));
    expect(by.lb).toMatchObject({ nodePort: 30080, loadBalancerIPs: ['192.168.5.10'], externalTrafficLocal: true, internalTrafficLocal: true, sessionAffinityTimeoutSeconds: 60 });
    expect(by.np).toMatchObject({ nodePort: 30081, externalTrafficLocal: false, internalTrafficLocal: false, sessionAffinityTimeoutSeconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS });
    expect(by.np!.loadBalancerIPs).toBeUndefined();
    // A ClusterIP Service has no node port, no external policy and no load-balancer IPs whatever its fields say.
    expect(by.ci).toMatchObject({ externalTrafficLocal: false });
    expect(by.ci!.nodePort).toBeUndefined();
    expect(by.ci!.loadBalancerIPs).toBeUndefined();
    expect(by.ci!.sessionAffinityTimeoutSeconds).toBeUndefined();
  });

  it('headless, ExternalName, not yet allocated and node-local (kube-dns) Services get no rules; an invalid one is left out without holding back the others', () => {
    const services = [
      svc('headless', { clusterIP: 'None' }),
      svc('ext', { type: 'ExternalName', externalName: 'example.com', clusterIP: '' }),
      svc('pending', { clusterIP: '' }),
      svc('kube-dns', { clusterIP: '10.96.0.10' }, { metadata: { name: 'kube-dns', namespace: 'demo', annotations: { [NODE_LOCAL_ANNOTATION]: NODE_LOCAL_VALUE } } }),
      svc('bad', { clusterIP: '10.96.0.40', ports: [{ name: 'http', port: 70000, protocol: 'TCP' }] }),
      svc('web', { clusterIP: '10.96.0.41' }),
    ];
    const m = buildProxyModel(catalogOf(services, []), NODE);
    expect(m.ports.map((p) => p.name)).toEqual(['web']);
    const why = Object.fromEntries(m.skipped.map((s) => [s.service, [s.invalid, s.reason]]));
    expect(why['demo/headless']).toEqual([false, 'headless (clusterIP None)']);
    expect(why['demo/ext']![1]).toContain('ExternalName');
    expect(why['demo/pending']![1]).toBe('no clusterIP allocated yet');
    expect(why['demo/kube-dns']![1]).toContain(`${NODE_LOCAL_ANNOTATION}: ${NODE_LOCAL_VALUE}`);
    expect(why['demo/bad']![0]).toBe(true);
    expect(why['demo/bad']![1]).toContain('spec.ports[].port: Invalid value: 70000');
  });
});

describe('[services] the catalog\'s slices by Service', () => {
  it('follow a slice relabelled to another Service, replaced, and deleted', () => {
    const c = catalogOf([svc('a'), svc('b')], [slice('a', 's1', [], [{ ip: '10.244.1.1' }])]);
    expect(c.slicesFor('demo', 'a').map((x) => x.metadata.name)).toEqual(['s1']);
    c.upsertSlice(slice('b', 's1', [], [{ ip: '10.244.1.2' }]));
    expect(c.slicesFor('demo', 'a')).toEqual([]);
    expect(c.slicesFor('demo', 'b').map((x) => x.endpoints[0]!.addresses[0])).toEqual(['10.244.1.2']);
    c.deleteSlice('demo', 's1');
    expect(c.slicesFor('demo', 'b')).toEqual([]);
    expect(c.slicesFor('other', 'b')).toEqual([]);
  });

  it('10 000 Services with a slice each become the proxy model in well under a second (one sync\'s planning input)', () => {
    const services = Array.from({ length: 10_000 }, (_, i) => svc(`s${i}`, { clusterIP: `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}` }));
    const slices = services.map((x, i) => slice(x.metadata.name!, `${x.metadata.name}-1`, [{ name: 'http', port: 8080, protocol: 'TCP' }], [{ ip: `10.244.${i % 200}.${(i % 250) + 1}` }, { ip: `10.245.${i % 200}.${(i % 250) + 1}` }]));
    const c = catalogOf(services, slices);
    buildProxyModel(c, NODE); // the agent's first sync warms the code up; every later one is timed here
    const t = performance.now();
    const m = buildProxyModel(c, NODE);
    const ms = performance.now() - t;
    expect(m.ports).toHaveLength(10_000);
    expect(m.ports.every((p) => p.endpoints.length === 2)).toBe(true);
    expect(ms, `${ms.toFixed(0)} ms`).toBeLessThan(1000);
  });
});

/** A ServiceProxy stand-in recording what it was asked to program. */
class FakeProxy implements ProxyApplier {
  syncs: ProxyServicePort[][] = [];
  failNext = 0;
  drift: string[] = [];
  gate: Promise<void> | undefined;
  async sync(services: readonly ProxyServicePort[]): Promise<SyncResult> {
    if (this.gate) await this.gate;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('nft: Error: Could not process rule: No such file or directory');
    }
    this.syncs.push([...services]);
    return { mode: this.syncs.length === 1 ? 'full' : 'incremental', lines: services.length };
  }
  async check(): Promise<CheckResult> {
    const drift = this.drift;
    this.drift = [];
    return { drift, repaired: drift.length > 0 };
  }
}

async function flush(clock: FakeClock, ms: number): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  clock.advance(ms);
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function runnerWorld(resyncMs = 30_000) {
  const clock = new FakeClock(Date.UTC(2026, 11, 7));
  const catalog = new MemoryServiceCatalog();
  const proxy = new FakeProxy();
  const events: string[] = [];
  const metrics = new MetricsRegistry();
  const runner = new ProxyRunner({ catalog, proxy, node: NODE, event: (t, r, m) => events.push(`${t} ${r} ${m}`), metrics, resyncMs, clock, log: silentLogger() });
  runner.start();
  return { clock, catalog, proxy, events, metrics, runner };
}

describe('[services] the proxy runner', () => {
  it('programs nothing before the first complete list (an agent restarting over a table must not empty it), then the whole catalog at once', async () => {
    const w = runnerWorld();
    w.catalog.upsertService(svc('early'));
    await flush(w.clock, 100);
    expect(w.proxy.syncs).toEqual([]);
    w.catalog.replace([svc('a', { clusterIP: '10.96.0.21' }), svc('b', { clusterIP: '10.96.0.22' })], []);
    await flush(w.clock, 10);
    expect(w.proxy.syncs.map((s) => s.map((p) => p.name))).toEqual([['a', 'b']]);
    await w.runner.stop();
  });

  it('a burst of changes is one transaction; changes during a running sync make exactly one more after it', async () => {
    const w = runnerWorld();
    w.catalog.replace([], []);
    await flush(w.clock, 10);
    expect(w.proxy.syncs).toHaveLength(1);
    for (let i = 0; i < 50; i++) w.catalog.upsertService(svc(`s${i}`, { clusterIP: `10.96.1.${i + 1}` }));
    await flush(w.clock, 10);
    expect(w.proxy.syncs).toHaveLength(2);
    expect(w.proxy.syncs[1]).toHaveLength(50);

    let open!: () => void;
    w.proxy.gate = new Promise((r) => (open = r));
    w.catalog.deleteService('demo', 's0');
    await flush(w.clock, 10); // the sync is now waiting on the gate
    w.catalog.deleteService('demo', 's1');
    w.catalog.deleteService('demo', 's2');
    w.proxy.gate = undefined;
    open();
    await flush(w.clock, 10);
    await flush(w.clock, 10);
    expect(w.proxy.syncs.map((s) => s.length)).toEqual([0, 50, 49, 47]);
    expect(w.metrics.render()).toMatch(/flotilla_proxy_syncs_total\{mode="incremental"\} 3/);
    expect(w.metrics.render()).toMatch(/flotilla_proxy_sync_duration_seconds_count 4/);
    await w.runner.stop();
  });

  it('the re-check repairs drift: counted in flotilla_proxy_drift_repairs_total and reported as a ProxyRulesDrifted Warning on the Node', async () => {
    const w = runnerWorld(1_000);
    w.catalog.replace([svc('web')], []);
    await flush(w.clock, 10);
    w.proxy.drift = ['chain svc-1234-demo/web:http/TCP: 1 rules, expected 2'];
    await flush(w.clock, 1_000);
    expect(w.events).toEqual([`Warning ${PROXY_DRIFT_REASON} Service proxy rules differed from the plan and were rewritten: chain svc-1234-demo/web:http/TCP: 1 rules, expected 2`]);
    expect(w.metrics.render()).toContain('flotilla_proxy_drift_repairs_total 1');
    await flush(w.clock, 1_000); // no drift: nothing more
    expect(w.events).toHaveLength(1);
    await w.runner.stop();
  });

  it('a failed transaction is a ProxySyncFailed Warning (once, not per retry), counted, and retried with a back-off until it applies', async () => {
    const w = runnerWorld();
    w.proxy.failNext = 3;
    w.catalog.replace([svc('web')], []);
    await flush(w.clock, 10);
    expect(w.proxy.syncs).toHaveLength(0);
    expect(w.events).toHaveLength(1);
    expect(w.events[0]).toContain(`Warning ${PROXY_SYNC_FAILED_REASON} Service proxy rules could not be applied (the previous rules stay in place): nft: Error`);
    await flush(w.clock, 1_000);
    await flush(w.clock, 10);
    await flush(w.clock, 2_000);
    await flush(w.clock, 10);
    expect(w.proxy.syncs).toHaveLength(0);
    await flush(w.clock, 4_000);
    await flush(w.clock, 10);
    expect(w.proxy.syncs).toHaveLength(1);
    expect(w.events).toHaveLength(1);
    expect(w.metrics.render()).toContain('flotilla_proxy_sync_errors_total 3');
    await w.runner.stop();
  });

  it('--proxy-resync-period takes Go-style durations and refuses nonsense by name', () => {
    expect(parseResyncPeriod('30s')).toBe(30_000);
    expect(parseResyncPeriod('500ms')).toBe(500);
    expect(parseResyncPeriod('2m')).toBe(120_000);
    expect(() => parseResyncPeriod('10')).toThrow('--proxy-resync-period must be a duration of at least 100ms (e.g. 30s, 500ms, 1m), got "10"');
    expect(() => parseResyncPeriod('5ms')).toThrow('got "5ms"');
  });
});

/** A WatchServices stand-in: each call serves the next scripted stream, then waits for abort. */
function scriptedSource(streams: ServiceWatchEvent[][], gates: (Promise<void> | undefined)[] = []) {
  let n = 0;
  return {
    calls: () => n,
    async *watchServices(signal: AbortSignal): AsyncIterable<ServiceWatchEvent> {
      const i = n++;
      const evs = streams[i];
      if (!evs) {
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
        return;
      }
      for (const [j, ev] of evs.entries()) {
        const gate = gates[i];
        if (gate !== undefined && j === evs.length - 1) await gate;
        yield ev;
      }
    },
  };
}

describe('[services] the agent\'s catalog feed', () => {
  it('a snapshot is swapped in whole at SYNC (the previous state stays readable until then), changes follow, and a reconnect resyncs', async () => {
    const catalog = new MemoryServiceCatalog();
    let release!: () => void;
    const second = new Promise<void>((r) => (release = r));
    const sl = slice('web', 'web-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], [{ ip: '10.244.1.5' }]);
    const source = scriptedSource(
      [
        [
          { type: 'ADDED', resource: 'services', object: svc('web') },
          { type: 'ADDED', resource: 'services', object: svc('old') },
          { type: 'SYNC', resourceVersion: '10' },
          { type: 'ADDED', resource: 'endpointslices', object: sl },
          { type: 'MODIFIED', resource: 'services', object: svc('web', { clusterIP: '10.96.0.99' }) },
          { type: 'DELETED', resource: 'services', object: svc('old') },
        ],
        // after the stream ends: a fresh snapshot, held back before its SYNC
        [{ type: 'ADDED', resource: 'services', object: svc('new') }, { type: 'SYNC', resourceVersion: '20' }],
      ],
      [Promise.resolve(), second],
    );
    const ac = new AbortController();
    const done = runServiceFeed({ source, catalog, log: silentLogger() }, ac.signal);
    const until = async (ok: () => boolean) => {
      for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
      expect(ok()).toBe(true);
    };
    await until(() => source.calls() === 2);
    expect(catalog.synced()).toBe(true);
    // the second snapshot is not complete: the catalog still shows the first stream's result
    expect(catalog.services().map((s) => [s.metadata.name, s.spec.clusterIP])).toEqual([['web', '10.96.0.99']]);
    expect(catalog.slicesFor('demo', 'web').map((s) => s.metadata.name)).toEqual(['web-1']);
    release();
    await until(() => catalog.service('demo', 'new') !== undefined);
    expect(catalog.services().map((s) => s.metadata.name)).toEqual(['new']);
    expect(catalog.slicesFor('demo', 'web')).toEqual([]);
    ac.abort();
    await done;
  });
});
