// The DaemonSet controller decides, then acts: these pure functions turn a
// DaemonSet, the nodes and its pods into what to create and delete, and into
// its status, as Kubernetes' daemonset controller does (manage, rollingUpdate,
// updateDaemonSetStatus). Table-tested in test/unit/daemonset-plan.test.ts.
import type { DaemonSet, DaemonSetStatus, Node, Pod } from '../../api/index.js';
import { scaledIntOrPercent } from '../../api/index.js';
import { CONTROLLER_REVISION_HASH, nodeShouldRunDaemonPod, targetNodeOf, type NodeDecision } from './daemon-pods.js';

export interface PodDelete {
  pod: Pod;
  /** The pod's node no longer exists: delete without a grace period (no agent will confirm). */
  force?: boolean;
}

export interface ManagePlan {
  /** Nodes that get a new daemon pod. */
  create: string[];
  delete: PodDelete[];
  /** Failed daemon pods on nodes that should keep one: deleted (and so recreated) subject to a back-off per node. */
  failed: { pod: Pod; node: string }[];
}

export interface RollingPlan {
  create: string[];
  delete: Pod[];
}

const created = (p: Pod) => Date.parse(p.metadata.creationTimestamp ?? '') || 0;

/** Oldest first (creation time, then name), as Kubernetes keeps the oldest daemon pod. */
export function byAge(a: Pod, b: Pod): number {
  return created(a) - created(b) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

export function isPodReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** Ready for at least minReadySeconds (Kubernetes' IsPodAvailable). */
export function isPodAvailable(p: Pod, minReadySeconds: number, nowMs: number): boolean {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const since = Date.parse(ready.lastTransitionTime ?? '');
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= nowMs;
}

const isUpdated = (p: Pod, hash: string) => p.metadata.labels?.[CONTROLLER_REVISION_HASH] === hash;

/** The DaemonSet's pods by the node they are for (bound, or named by their affinity while pending). */
export function podsByNode(pods: readonly Pod[]): Map<string, Pod[]> {
  const m = new Map<string, Pod[]>();
  for (const p of pods) {
    const n = targetNodeOf(p);
    if (n === undefined) continue;
    const list = m.get(n);
    if (list) list.push(p);
    else m.set(n, [p]);
  }
  for (const list of m.values()) list.sort(byAge);
  return m;
}

export function decisions(ds: DaemonSet, nodes: readonly Node[]): Map<string, NodeDecision> {
  const m = new Map<string, NodeDecision>();
  for (const n of nodes) m.set(n.metadata.name ?? '', nodeShouldRunDaemonPod(n, ds));
  return m;
}

const surgeAllowed = (ds: DaemonSet) =>
  ds.spec.updateStrategy?.type === 'RollingUpdate' && (scaledIntOrPercent(ds.spec.updateStrategy.rollingUpdate?.maxSurge, 1, true) ?? 0) > 0;

/** Kubernetes' manage: one pod on every node that should run one, none elsewhere. */
export function planManage(ds: DaemonSet, nodes: readonly Node[], pods: readonly Pod[], hash: string): ManagePlan {
  const plan: ManagePlan = { create: [], delete: [], failed: [] };
  const byNode = podsByNode(pods);
  const dec = decisions(ds, nodes);
  for (const [node, d] of dec) {
    const here = byNode.get(node) ?? [];
    if (d.shouldRun && here.length === 0) {
      plan.create.push(node);
      continue;
    }
    if (d.shouldContinueRunning) {
      const running: Pod[] = [];
      for (const p of here) {
        if (p.metadata.deletionTimestamp) continue; // on its way out: wait for it
        if (p.status?.phase === 'Failed') plan.failed.push({ pod: p, node });
        else running.push(p);
      }
      if (running.length <= 1) continue;
      if (!surgeAllowed(ds)) {
        // more than one: keep the oldest
        for (const p of running.slice(1)) plan.delete.push({ pod: p });
      } else {
        // surging: keep the oldest updated and the oldest old pod
        const updated = running.filter((p) => isUpdated(p, hash));
        const old = running.filter((p) => !isUpdated(p, hash));
        for (const p of [...updated.slice(1), ...old.slice(1)]) plan.delete.push({ pod: p });
      }
      continue;
    }
    for (const p of here) if (!p.metadata.deletionTimestamp) plan.delete.push({ pod: p });
  }
  // pods for nodes that no longer exist (or never bound to a node at all)
  for (const [node, here] of byNode) {
    if (dec.has(node)) continue;
    for (const p of here) if (!p.metadata.deletionTimestamp || p.spec?.nodeName) plan.delete.push({ pod: p, force: true });
  }
  for (const p of pods) if (targetNodeOf(p) === undefined && !p.metadata.deletionTimestamp) plan.delete.push({ pod: p, force: true });
  return plan;
}

/** Desired count and the rolling update budget (Kubernetes' updatedDesiredNodeCounts): percentages of desired, rounded up; never both 0. */
export function rollingBudget(ds: DaemonSet, desired: number): { maxSurge: number; maxUnavailable: number } {
  const ru = ds.spec.updateStrategy?.rollingUpdate;
  let maxUnavailable = Math.max(0, scaledIntOrPercent(ru?.maxUnavailable ?? 1, desired, true) ?? 1);
  const maxSurge = Math.max(0, scaledIntOrPercent(ru?.maxSurge ?? 0, desired, true) ?? 0);
  if (maxUnavailable === 0 && maxSurge === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/**
 * One step of a RollingUpdate: which old pods to delete (maxSurge 0: at most
 * maxUnavailable nodes without an available pod) or which nodes get a new pod
 * beside the old one (maxSurge > 0: the old one goes once the new one is
 * available). Unavailable old pods are replaced at once in both modes.
 */
export function planRollingUpdate(ds: DaemonSet, nodes: readonly Node[], pods: readonly Pod[], hash: string, nowMs: number): RollingPlan {
  const dec = decisions(ds, nodes);
  const byNode = podsByNode(pods.filter((p) => !p.metadata.deletionTimestamp));
  let desired = 0;
  for (const [node, d] of dec) {
    if (!d.shouldRun) continue;
    desired++;
    if (!byNode.has(node)) byNode.set(node, []);
  }
  const { maxSurge, maxUnavailable } = rollingBudget(ds, desired);
  const minReady = ds.spec.minReadySeconds ?? 0;
  const plan: RollingPlan = { create: [], delete: [] };
  // node order: stable, so repeated steps pick the same candidates
  const entries = [...byNode.entries()].sort(([a], [b]) => a.localeCompare(b));
  if (maxSurge === 0) {
    let unavailable = 0;
    const replaceNow: Pod[] = [];
    const candidates: Pod[] = [];
    for (const [, here] of entries) {
      if (here.length > 1) {
        unavailable++; // manage is cleaning this node up
        continue;
      }
      const p = here[0];
      if (!p) continue; // no pod yet: manage creates it
      if (isUpdated(p, hash)) {
        if (!isPodAvailable(p, minReady, nowMs)) unavailable++;
      } else if (!isPodAvailable(p, minReady, nowMs)) {
        replaceNow.push(p);
        unavailable++;
      } else if (unavailable < maxUnavailable) {
        candidates.push(p);
      }
    }
    const room = Math.min(Math.max(0, maxUnavailable - unavailable), candidates.length);
    plan.delete.push(...replaceNow, ...candidates.slice(0, room));
    return plan;
  }
  let surging = 0;
  const createNow: string[] = [];
  const candidateNodes: string[] = [];
  for (const [node, here] of entries) {
    const updated = here.filter((p) => isUpdated(p, hash));
    const old = here.filter((p) => !isUpdated(p, hash));
    if (updated.length > 1 || old.length > 1) {
      surging++;
      continue;
    }
    const oldPod = old[0];
    const newPod = updated[0];
    if (!oldPod) continue;
    if (!newPod) {
      if (!isPodAvailable(oldPod, minReady, nowMs)) createNow.push(node);
      else if (dec.get(node)?.shouldRun) candidateNodes.push(node);
      continue;
    }
    surging++;
    if (isPodAvailable(newPod, minReady, nowMs)) plan.delete.push(oldPod);
  }
  const room = Math.min(Math.max(0, maxSurge - surging), candidateNodes.length);
  plan.create.push(...createNow, ...candidateNodes.slice(0, room));
  return plan;
}

/** Kubernetes' updateDaemonSetStatus counts (observedGeneration and collisionCount are the caller's). */
export function computeStatus(ds: DaemonSet, nodes: readonly Node[], pods: readonly Pod[], hash: string, nowMs: number): DaemonSetStatus {
  const dec = decisions(ds, nodes);
  const byNode = podsByNode(pods);
  const minReady = ds.spec.minReadySeconds ?? 0;
  const s = { desiredNumberScheduled: 0, currentNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0, updatedNumberScheduled: 0, numberAvailable: 0, numberUnavailable: 0 };
  for (const [node, d] of dec) {
    const here = byNode.get(node);
    if (d.shouldRun) {
      s.desiredNumberScheduled++;
      if (!here || here.length === 0) continue;
      s.currentNumberScheduled++;
      const p = here[0]!;
      if (isPodReady(p)) {
        s.numberReady++;
        if (isPodAvailable(p, minReady, nowMs)) s.numberAvailable++;
      }
      // the oldest pod only, as Kubernetes: while a surge pod runs beside an old
      // one the node is not updated yet, so a rollout is not reported complete
      // before the old pod is gone
      if (isUpdated(p, hash)) s.updatedNumberScheduled++;
    } else if (here && here.length > 0) {
      s.numberMisscheduled++;
    }
  }
  s.numberUnavailable = Math.max(0, s.desiredNumberScheduled - s.numberAvailable);
  return s;
}
