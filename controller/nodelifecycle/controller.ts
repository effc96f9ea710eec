// The node lifecycle controller (runs on the leader): on a timer, compares each
// node's lease (heartbeat) with the clock, marks silent nodes NotReady, taints
// them, and after the eviction timeout marks their pods Failed/NodeLost.
// Level-triggered: it reads the latest state every pass and writes with CAS.
import {
  ConflictError,
  NotFoundError,
  isTerminalPhase,
  realClock,
  toFlotillaError,
  type Clock,
  type Logger,
  type Node,
  type Pod,
} from '../../api/index.js';
import { NODE_LEASE_NAMESPACE, type NodeLease } from '../agentapi/node-service.js';
import type { Store } from '../storage/store.js';
import { DEFAULT_LIFECYCLE, decideNodeLifecycle, type LifecycleConfig } from './decide.js';

export type EventSink = (ev: {
  object: { kind: string; name: string; namespace?: string; uid?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}) => Promise<void>;

export interface NodeLifecycleOptions {
  store: Store;
  log: Logger;
  clock?: Clock;
  config?: Partial<LifecycleConfig>;
  /** How often to look. Default: a quarter of the grace period, at most 5 s. */
  intervalMs?: number;
  recordEvent?: EventSink;
  /** Called when a node object is deleted (to release its subnet lease). */
  onNodeGone?: (node: string) => Promise<void>;
}

export class NodeLifecycleController {
  private readonly clock: Clock;
  private readonly cfg: LifecycleConfig;

  constructor(private readonly o: NodeLifecycleOptions) {
    this.clock = o.clock ?? realClock;
    this.cfg = { ...DEFAULT_LIFECYCLE, ...o.config };
  }

  async run(signal: AbortSignal): Promise<void> {
    const every = this.o.intervalMs ?? Math.min(5_000, Math.max(100, this.cfg.gracePeriodMs / 4));
    while (!signal.aborted) {
      await this.reconcileAll().catch((e) => this.o.log.warn({ err: toFlotillaError(e).message }, 'node lifecycle pass failed'));
      try {
        await this.clock.sleep(every, signal);
      } catch {
        return;
      }
    }
  }

  async reconcileAll(): Promise<void> {
    const [nodes, leases] = await Promise.all([
      this.o.store.list<Node>('nodes'),
      this.o.store.list<NodeLease>('leases', { namespace: NODE_LEASE_NAMESPACE }),
    ]);
    const renew = new Map(leases.items.map((l) => [l.metadata.name, Date.parse(l.spec.renewTime)]));
    const now = this.clock.now();
    for (const node of nodes.items) {
      const name = node.metadata.name!;
      const d = decideNodeLifecycle(node, renew.get(name), now, this.cfg);
      if (d.updatedNode) {
        try {
          await this.o.store.guaranteedUpdate<Node>({ resource: 'nodes', name }, (cur) => {
            const again = decideNodeLifecycle(cur, renew.get(name), this.clock.now(), this.cfg);
            return again.updatedNode ?? cur;
          });
        } catch (e) {
          if (!(e instanceof NotFoundError)) throw e;
          continue;
        }
        if (d.transition) {
          this.o.log.info({ node: name, transition: d.transition }, 'node status changed');
          await this.o.recordEvent?.({
            object: { kind: 'Node', name, uid: node.metadata.uid },
            type: d.transition === 'NodeNotReady' ? 'Warning' : 'Normal',
            reason: d.transition,
            message: d.transition === 'NodeNotReady' ? `Node ${name} status is now: NodeNotReady` : `Node ${name} status is now: NodeReady`,
          });
        }
      }
      if (d.evictPods) await this.markPodsLost(name);
    }
    // Leases of nodes that no longer exist: the node was deleted. Its pods go first
    // (no agent will ever confirm their deletion); the lease last, so a failed pass
    // is tried again.
    const names = new Set(nodes.items.map((n) => n.metadata.name));
    for (const l of leases.items) {
      if (!names.has(l.metadata.name)) {
        await this.deleteOrphanedPods(l.metadata.name!);
        await this.o.store.delete({ resource: 'leases', namespace: NODE_LEASE_NAMESPACE, name: l.metadata.name! }).catch(() => undefined);
        await this.o.onNodeGone?.(l.metadata.name!).catch((e) => this.o.log.warn({ err: (e as Error).message }, 'node cleanup failed'));
      }
    }
  }

  /**
   * Deletes, at once, every pod still bound to a node that was deleted — as
   * Kubernetes' pod garbage collector does with orphaned pods: a graceful delete
   * would wait forever for an agent that is gone.
   */
  private async deleteOrphanedPods(node: string): Promise<void> {
    const pods = await this.o.store.list<Pod>('pods', { filter: (p) => p.spec.nodeName === node });
    for (const p of pods.items) {
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
      this.o.log.info({ node, pod: `${p.metadata.namespace}/${p.metadata.name}` }, 'deleted a pod bound to a node that no longer exists');
    }
  }

  private async markPodsLost(node: string): Promise<void> {
    const pods = await this.o.store.list<Pod>('pods', { filter: (p) => p.spec.nodeName === node && !isTerminalPhase(p.status?.phase) });
    for (const p of pods.items) {
      const message = `Node ${node} which was running pod ${p.metadata.name} is unresponsive`;
      try {
        await this.o.store.guaranteedUpdate<Pod>({ resource: 'pods', namespace: p.metadata.namespace, name: p.metadata.name! }, (cur) =>
          isTerminalPhase(cur.status?.phase)
            ? cur
            : {
                ...cur,
                status: {
                  ...cur.status,
                  phase: 'Failed',
                  reason: 'NodeLost',
                  message,
                  conditions: (cur.status?.conditions ?? []).map((c) => (c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False' as const } : c)),
                },
              },
        );
      } catch (e) {
        if (e instanceof NotFoundError) continue;
        throw e;
      }
      this.o.log.warn({ node, pod: `${p.metadata.namespace}/${p.metadata.name}` }, 'pod marked lost');
      await this.o.recordEvent?.({
        object: { kind: 'Pod', name: p.metadata.name!, namespace: p.metadata.namespace, uid: p.metadata.uid },
        type: 'Warning',
        reason: 'NodeLost',
        message,
      });
    }
  }
}
