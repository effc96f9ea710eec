// The node lifecycle controller (runs on the leader): a reconcile per node,
// fed by the shared node, lease (kube-node-lease) and pod informers. It
// compares the node's lease (heartbeat) with the clock, marks a silent node
// NotReady, taints it (`node.kubernetes.io/unreachable|not-ready`, NoSchedule
// and NoExecute; `unschedulable` for a cordoned node) and marks its pods
// Ready=False; the taint manager part evicts the pods that do not tolerate a
// NoExecute taint (at once, or after their tolerationSeconds from the taint's
// timeAdded) through the API's graceful delete, and removes a pod whose grace
// period ran out on a node whose agent is not there to confirm it. A node that
// was deleted takes its pods, lease and subnet with it. No periodic pass over
// all nodes: a reconcile asks to come back at the moment its node's heartbeat
// would run out (or a pod's toleration or grace would), and a renewed lease
// only moves that deadline. Level-triggered: each reconcile decides on the
// latest cached state (decide.ts, pure) and writes with compare-and-swap.
import {
  ConflictError,
  NotFoundError,
  componentLogger,
  isTerminalPhase,
  podKind,
  realClock,
  rfc3339,
  type Clock,
  type Logger,
  type Node,
  type Pod,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import { NODE_LEASE_NAMESPACE, type NodeLease } from '../agentapi/node-service.js';
import { INDEX_NODE, InformerFactory, byNodeName, type SharedInformer } from '../informers/index.js';
import { WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import type { Store } from '../storage/store.js';
import { ResourceApi } from '../apiserver/resource-api.js';
import {
  DEFAULT_LIFECYCLE,
  TAINT_NOT_READY,
  TAINT_UNREACHABLE,
  decideNodeLifecycle,
  decidePodEviction,
  noExecuteTaints,
  readyCondition,
  type LifecycleConfig,
} from './decide.js';

export type EventSink = (ev: {
  object: { kind: string; name: string; namespace?: string; uid?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}) => Promise<void>;

export interface NodeLifecycleOptions {
  store: Store;
  /** Deletes with the API's semantics (graceful pod deletion); default one over `store`. */
  api?: ResourceApi;
  log?: Logger;
  clock?: Clock;
  config?: Partial<LifecycleConfig>;
  /** The process's shared informers; default: the controller's own over `store`. */
  informers?: InformerFactory;
  metrics?: MetricsRegistry;
  /** Nodes reconciled at once. Default 4. */
  workers?: number;
  recordEvent?: EventSink;
  /** Called when a node object is deleted (to release its subnet lease). */
  onNodeGone?: (node: string) => Promise<void>;
}

/** A little past the deadline, so the reconcile at it sees the node silent. */
const SLACK_MS = 50;

export class NodeLifecycleController {
  private readonly clock: Clock;
  private readonly cfg: LifecycleConfig;
  private readonly log: Logger;
  private readonly informers: InformerFactory;
  private readonly api: ResourceApi;
  private nodes: SharedInformer<Node> | undefined;
  private leases: SharedInformer<NodeLease> | undefined;
  private pods: SharedInformer<Pod> | undefined;

  constructor(private readonly o: NodeLifecycleOptions) {
    this.clock = o.clock ?? realClock;
    this.cfg = { ...DEFAULT_LIFECYCLE, ...o.config };
    this.log = o.log ?? componentLogger('nodelifecycle');
    this.informers = o.informers ?? new InformerFactory({ store: o.store, clock: this.clock, log: this.log });
    this.api = o.api ?? new ResourceApi({ store: o.store, clock: this.clock, log: this.log });
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'nodelifecycle', clock: this.clock });
    const nodes = this.informers.informerFor<Node>('nodes');
    const leases = this.informers.informerFor<NodeLease>('leases', { namespace: NODE_LEASE_NAMESPACE });
    const pods = this.informers.informerFor<Pod>('pods');
    pods.addIndexer(INDEX_NODE, byNodeName);
    this.nodes = nodes;
    this.leases = leases;
    this.pods = pods;
    const nameOf = (o: { metadata: { name?: string } }) => o.metadata.name ?? '';
    nodes.addEventHandler(
      {
        onAdd: (n) => queue.add(nameOf(n)),
        onUpdate: (_, n) => queue.add(nameOf(n)),
        onDelete: (n) => queue.add(nameOf(n)),
      },
      { signal },
    );
    leases.addEventHandler(
      {
        onAdd: (l) => queue.add(nameOf(l)),
        // A heartbeat only moves the node's deadline: the reconcile already waiting
        // for the old one comes first, finds the lease renewed and waits again.
        onUpdate: (_, l) => queue.addAfter(nameOf(l), this.silentAfterMs(l)),
        onDelete: (l) => queue.add(nameOf(l)),
      },
      { signal },
    );
    // A pod bound to (or changed on) a node with a NoExecute taint: the taint manager looks at that node.
    const podNode = (p: Pod) => {
      const n = p.spec?.nodeName;
      if (n && noExecuteTaints(nodes.get(n)).length > 0) queue.add(n);
    };
    pods.addEventHandler({ onAdd: podNode, onUpdate: (_, p) => podNode(p) }, { signal });
    pods.start(signal);
    await runController({
      name: 'nodelifecycle',
      queue,
      workers: this.o.workers ?? 4,
      signal,
      waitFor: [nodes, leases, pods],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (name) => this.reconcile(name),
    });
  }

  /** How long until the lease's node counts as silent (now or past: 0). */
  private silentAfterMs(l: NodeLease): number {
    const renew = Date.parse(l.spec?.renewTime ?? '');
    if (Number.isNaN(renew)) return 0;
    return Math.max(0, renew + this.cfg.gracePeriodMs - this.clock.now() + SLACK_MS);
  }

  /** One node, from the cached node, lease and pods; returns when to look again. */
  async reconcile(name: string): Promise<ReconcileResult | void> {
    const node = this.nodes?.get(name);
    const lease = this.leases?.getByName(NODE_LEASE_NAMESPACE, name);
    if (!node) {
      if (lease) await this.nodeGone(name, lease);
      return;
    }
    const renewMs = lease ? Date.parse(lease.spec.renewTime) : undefined;
    const now = this.clock.now();
    const d = decideNodeLifecycle(node, renewMs, now, this.cfg);
    let current = node;
    if (d.updatedNode) {
      try {
        current = await this.o.store.guaranteedUpdate<Node>(
          { resource: 'nodes', name },
          (cur) => decideNodeLifecycle(cur, renewMs, this.clock.now(), this.cfg).updatedNode ?? cur,
          { cached: node },
        );
      } catch (e) {
        if (e instanceof NotFoundError) return;
        throw e;
      }
      if (d.transition) {
        this.log.info({ node: name, transition: d.transition }, 'node status changed');
        await this.o.recordEvent?.({
          object: { kind: 'Node', name, uid: node.metadata.uid },
          type: d.transition === 'NodeNotReady' ? 'Warning' : 'Normal',
          reason: d.transition,
          message: d.transition === 'NodeNotReady' ? `Node ${name} status is now: NodeNotReady` : `Node ${name} status is now: NodeReady`,
        });
      }
    }
    const cond = readyCondition(current);
    if (cond && cond.status !== 'True') await this.markPodsNotReady(name);
    const podDeadline = await this.evictPods(current);
    return this.nextLook(current, renewMs, now, podDeadline);
  }

  /** The next moment something changes for this node without an event: its heartbeat running out, or a pod's toleration or grace. */
  private nextLook(node: Node, renewMs: number | undefined, now: number, podDeadline: number | undefined): ReconcileResult | void {
    const cond = readyCondition(node);
    const podAfter = podDeadline === undefined ? undefined : Math.max(0, podDeadline - now) + SLACK_MS;
    // A silent node: its lease's next renewal brings it back here.
    if (cond?.status === 'Unknown') return podAfter === undefined ? undefined : { requeueAfterMs: podAfter };
    const created = node.metadata.creationTimestamp ? Date.parse(node.metadata.creationTimestamp) : now;
    const silentAt = (renewMs ?? created) + this.cfg.gracePeriodMs;
    const silentAfter = Math.max(0, silentAt - now) + SLACK_MS;
    return { requeueAfterMs: podAfter === undefined ? silentAfter : Math.min(silentAfter, podAfter) };
  }

  /**
   * The taint manager for one node: evicts (graceful delete) the pods that do
   * not tolerate its NoExecute taints, or whose tolerationSeconds ran out; a pod
   * whose grace period ran out on a node that is not Ready is removed (its agent
   * is not there to confirm), so its controller replaces it. Returns the next
   * moment one of this node's pods is due.
   */
  private async evictPods(node: Node): Promise<number | undefined> {
    const name = node.metadata.name ?? '';
    const taints = noExecuteTaints(node);
    if (taints.length === 0) return undefined;
    const agentGone = taints.some((t) => t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY);
    let next: number | undefined;
    const due = (at: number) => (next = next === undefined ? at : Math.min(next, at));
    for (const p of this.pods?.byIndex(INDEX_NODE, name) ?? []) {
      const now = this.clock.now();
      const target = { res: podKind, namespace: p.metadata.namespace ?? '', name: p.metadata.name ?? '' };
      const uid = p.metadata.uid ? { preconditions: { uid: p.metadata.uid } } : {};
      if (p.metadata.deletionTimestamp) {
        if (!agentGone) continue;
        const at = Date.parse(p.metadata.deletionTimestamp);
        if (!Number.isNaN(at) && at > now) {
          due(at);
          continue;
        }
        await this.api.delete(target, { gracePeriodSeconds: 0, ...uid }).catch((e: unknown) => this.ignoreGone(e));
        this.log.info({ node: name, pod: `${target.namespace}/${target.name}` }, 'removed a terminating pod whose grace period ran out on a node that is not ready');
        continue;
      }
      const d = decidePodEviction(p, taints, now);
      if (d.evictAtMs === undefined) continue;
      if (d.evictAtMs > now) {
        due(d.evictAtMs);
        continue;
      }
      let marked;
      try {
        marked = (await this.api.delete(target, uid)) as Pod | null;
      } catch (e) {
        this.ignoreGone(e);
        continue;
      }
      this.log.info({ node: name, pod: `${target.namespace}/${target.name}` }, 'taint manager evicted a pod');
      await this.o.recordEvent?.({
        object: { kind: 'Pod', name: target.name, namespace: target.namespace, uid: p.metadata.uid },
        type: 'Normal',
        reason: 'TaintManagerEviction',
        message: `Marking for deletion Pod ${target.namespace}/${target.name}`,
      });
      // still there (graceful): come back when its grace runs out
      const at = marked?.metadata?.deletionTimestamp ? Date.parse(marked.metadata.deletionTimestamp) : NaN;
      if (agentGone && !Number.isNaN(at)) due(at);
    }
    return next;
  }

  private ignoreGone(e: unknown): void {
    if (e instanceof NotFoundError || e instanceof ConflictError) return;
    throw e;
  }

  /**
   * A node with a lease but no Node object was deleted (the cache says so; a
   * live read confirms it before anything is removed). Its pods go first — no
   * agent will ever confirm their deletion — then its lease and subnet, last, so
   * a failed attempt is retried.
   */
  private async nodeGone(name: string, lease: NodeLease): Promise<void> {
    try {
      await this.o.store.get<Node>({ resource: 'nodes', name });
      return; // it exists: the cache is behind, its event is on the way
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
    await this.deleteOrphanedPods(name);
    await this.o.store
      .delete({ resource: 'leases', namespace: NODE_LEASE_NAMESPACE, name }, { resourceVersion: lease.metadata.resourceVersion ?? '' })
      .catch((e: unknown) => {
        if (!(e instanceof NotFoundError) && !(e instanceof ConflictError)) throw e;
      });
    await this.o.onNodeGone?.(name).catch((e) => this.log.warn({ node: name, err: (e as Error).message }, 'node cleanup failed'));
  }

  /**
   * Deletes, at once, every pod still bound to a node that was deleted — as
   * Kubernetes' pod garbage collector does with orphaned pods: a graceful delete
   * would wait forever for an agent that is gone.
   */
  private async deleteOrphanedPods(node: string): Promise<void> {
    // A live list, not the cache: a pod the cache has not seen yet must not stay behind (this is rare).
    const { items } = await this.o.store.list<Pod>('pods', { filter: (p) => p.spec?.nodeName === node });
    for (const p of items) {
      const key = { resource: 'pods', namespace: p.metadata.namespace, name: p.metadata.name! };
      try {
        await this.o.store.delete<Pod>(key, { resourceVersion: p.metadata.resourceVersion });
      } catch (e) {
        if (e instanceof NotFoundError) continue;
        if (!(e instanceof ConflictError)) throw e;
        // Changed meanwhile: look again; still bound to the gone node, it goes.
        const cur = await this.o.store.get<Pod>(key).catch((ge: unknown) => (ge instanceof NotFoundError ? undefined : Promise.reject(ge)));
        if (!cur || cur.metadata.uid !== p.metadata.uid || cur.spec.nodeName !== node) continue;
        await this.o.store.delete(key, { resourceVersion: cur.metadata.resourceVersion }).catch((de: unknown) => {
          if (!(de instanceof NotFoundError)) throw de;
        });
      }
      this.log.info({ node, pod: `${p.metadata.namespace}/${p.metadata.name}` }, 'deleted a pod bound to a node that no longer exists');
    }
  }

  /**
   * A node that is not Ready: its pods' Ready condition turns False at once (as
   * Kubernetes' MarkPodsNotReady), so readers stop trusting them.
   */
  private async markPodsNotReady(node: string): Promise<void> {
    const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const pods = (this.pods?.byIndex(INDEX_NODE, node) ?? []).filter((p) => !isTerminalPhase(p.status?.phase) && isReady(p));
    for (const p of pods) {
      const at = rfc3339(this.clock.now());
      try {
        await this.o.store.guaranteedUpdate<Pod>(
          { resource: 'pods', namespace: p.metadata.namespace, name: p.metadata.name! },
          (cur) =>
            cur.metadata.uid !== p.metadata.uid || !isReady(cur)
              ? cur
              : {
                  ...cur,
                  status: {
                    ...cur.status,
                    conditions: (cur.status?.conditions ?? []).map((c) => (c.type === 'Ready' ? { ...c, status: 'False' as const, lastTransitionTime: at } : c)),
                  },
                },
          { cached: p },
        );
      } catch (e) {
        if (e instanceof NotFoundError) continue;
        throw e;
      }
      this.log.info({ node, pod: `${p.metadata.namespace}/${p.metadata.name}` }, 'pod marked not ready');
      await this.o.recordEvent?.({
        object: { kind: 'Pod', name: p.metadata.name!, namespace: p.metadata.namespace, uid: p.metadata.uid },
        type: 'Warning',
        reason: 'NodeNotReady',
        message: 'Node is not ready',
      });
    }
  }
}
