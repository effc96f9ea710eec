// LoadBalancer status on the leader, as k3s's ServiceLB does it without an
// external load balancer: a `type: LoadBalancer` Service is served as a
// NodePort on every node, and its status.loadBalancer.ingress lists the Ready
// nodes' InternalIPs (kubectl's EXTERNAL-IP; each node's proxy also answers on
// those IPs at the Service port). A Service of another type holding ingress
// IPs (it was a LoadBalancer) has them cleared. Level-triggered per Service,
// and any Node change re-checks every Service that has or needs IPs.
import { componentLogger, jsonEqual, realClock, serviceKind, type Clock, type KindDescriptor, type KubeObject, type LoadBalancerIngress, type Logger, type Node, type Service } from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import { ExponentialBackoff, WorkQueue, runController } from '../queue/index.js';

/** Nodes with this label are left out of load balancers, as in Kubernetes. */
export const EXCLUDE_FROM_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

export interface LoadBalancerStatusApi {
  update(t: { res: KindDescriptor; namespace?: string; name?: string; subresource?: string }, body: unknown): Promise<KubeObject>;
}

export interface LoadBalancerControllerOptions {
  api: LoadBalancerStatusApi;
  informers: InformerFactory;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
}

function isReady(n: Node): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The ingress a LoadBalancer Service gets: every Ready node's InternalIP, sorted, once each. */
export function loadBalancerIngress(nodes: readonly Node[]): LoadBalancerIngress[] {
  const ips = new Set<string>();
  for (const n of nodes) {
    if (!isReady(n) || n.metadata.labels?.[EXCLUDE_FROM_LB_LABEL] !== undefined) continue;
    for (const a of n.status?.addresses ?? []) if (a.type === 'InternalIP' && a.address) ips.add(a.address);
  }
  return [...ips].sort(compareIPs).map((ip) => ({ ip, ipMode: 'VIP' as const }));
}

/** What status.loadBalancer.ingress should be for SVC given NODES: the node IPs for a LoadBalancer, none for any other type. */
export function desiredIngress(svc: Service, nodes: readonly Node[]): LoadBalancerIngress[] {
  return svc.spec?.type === 'LoadBalancer' ? loadBalancerIngress(nodes) : [];
}

function compareIPs(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0 && !Number.isNaN(d)) return d;
  }
  return a.localeCompare(b);
}

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

export class LoadBalancerController {
  private readonly log: Logger;
  private readonly clock: Clock;
  private services!: SharedInformer<Service>;
  private nodes!: SharedInformer<Node>;

  constructor(private readonly o: LoadBalancerControllerOptions) {
    this.log = o.log ?? componentLogger('loadbalancer-controller');
    this.clock = o.clock ?? realClock;
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'loadbalancer', clock: this.clock, rateLimiter: new ExponentialBackoff({ baseMs: 200, maxMs: 30_000 }) });
    this.services = this.o.informers.informerFor<Service>('services');
    this.nodes = this.o.informers.informerFor<Node>('nodes');
    const enqueue = (s: Service) => queue.add(keyOf(s));
    this.services.addEventHandler({ onAdd: enqueue, onUpdate: (_, s) => enqueue(s) }, { signal });
    // Only a change of readiness or addresses moves the IPs; heartbeats do not.
    const relevant = (n: Node) => JSON.stringify([isReady(n), n.status?.addresses ?? [], n.metadata.labels?.[EXCLUDE_FROM_LB_LABEL] ?? null]);
    const allAffected = () => {
      for (const s of this.services.list()) if (s.spec?.type === 'LoadBalancer' || (s.status?.loadBalancer?.ingress?.length ?? 0) > 0) enqueue(s);
    };
    this.nodes.addEventHandler({ onAdd: allAffected, onUpdate: (a, b) => relevant(a) !== relevant(b) && allAffected(), onDelete: allAffected }, { signal });
    await runController({
      name: 'loadbalancer',
      queue,
      signal,
      waitFor: [this.services, this.nodes],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (key) => this.reconcile(key),
    });
  }

  async reconcile(key: string): Promise<void> {
    const i = key.indexOf('/');
    const svc = this.services.getByName(key.slice(0, i), key.slice(i + 1));
    if (!svc || svc.metadata.deletionTimestamp) return;
    const want = desiredIngress(svc, this.nodes.list());
    const have = svc.status?.loadBalancer?.ingress ?? [];
    if (jsonEqual(have, want)) return;
    const status = { ...svc.status, loadBalancer: want.length > 0 ? { ingress: want } : {} };
    // A conflict (the Service changed meanwhile) is retried by the queue against the newer object.
    await this.o.api.update({ res: serviceKind, namespace: svc.metadata.namespace ?? '', name: svc.metadata.name ?? '', subresource: 'status' }, { ...svc, apiVersion: 'v1', kind: 'Service', status });
    this.log.info({ service: key, ingress: want.map((x) => x.ip) }, svc.spec?.type === 'LoadBalancer' ? 'load balancer IPs set to the Ready nodes' : 'load balancer IPs cleared');
  }
}
