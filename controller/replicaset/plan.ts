// The pure parts of the replicaset controller, table-tested in
// test/unit/replicaset-plan.test.ts: slow-start batch sizes, which pods go
// first when scaling down (Kubernetes' ActivePods ordering), and the status a
// ReplicaSet reports for its pods.
import { getCondition, isTerminalPhase, labelSelectorFromObject, labelSelectorMatches, type Pod, type ReplicaSet, type ReplicaSetStatus } from '../../api/index.js';

/** Kubernetes' slowStartBatch: 1, 2, 4, … (doubling from `initial`) until `count` is reached. */
export function slowStartBatchSizes(count: number, initial = 1): number[] {
  const out: number[] = [];
  let remaining = count;
  let size = Math.min(remaining, initial);
  while (size > 0) {
    out.push(size);
    remaining -= size;
    size = Math.min(2 * size, remaining);
  }
  return out;
}

/** A pod that counts towards replicas: not finished and not being deleted. */
export function isActivePod(p: Pod): boolean {
  return !isTerminalPhase(p.status?.phase) && !p.metadata.deletionTimestamp;
}

export function isPodReady(p: Pod): boolean {
  return getCondition(p.status?.conditions, 'Ready')?.status === 'True';
}

/** Ready for at least `minReadySeconds` at `nowMs` (Kubernetes' IsPodAvailable). */
export function isPodAvailable(p: Pod, minReadySeconds: number, nowMs: number): boolean {
  const c = getCondition(p.status?.conditions, 'Ready');
  if (c?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const t = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return !Number.isNaN(t) && t + minReadySeconds * 1000 <= nowMs;
}

/** When a ready pod that is not yet available becomes available (ms), for a requeue. */
export function availableAtMs(p: Pod, minReadySeconds: number): number | undefined {
  const c = getCondition(p.status?.conditions, 'Ready');
  if (c?.status !== 'True' || minReadySeconds <= 0 || !c.lastTransitionTime) return undefined;
  return Date.parse(c.lastTransitionTime) + minReadySeconds * 1000;
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function restarts(p: Pod): number {
  return (p.status?.containerStatuses ?? []).reduce((m, s) => Math.max(m, s?.restartCount ?? 0), 0);
}

function ms(t: string | undefined): number | undefined {
  if (!t) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
}

/**
 * Negative when `a` is less valuable than `b` (deleted first), as Kubernetes'
 * ActivePods: unscheduled < scheduled, Pending < Unknown < Running, not ready
 * < ready, ready for less time < longer, more restarts < fewer, newer < older.
 */
export function compareDeletionPriority(a: Pod, b: Pod): number {
  const na = a.spec?.nodeName ? 1 : 0;
  const nb = b.spec?.nodeName ? 1 : 0;
  if (na !== nb) return na - nb;
  const pa = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
  const pb = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (pa !== pb) return pa - pb;
  const ra = isPodReady(a) ? 1 : 0;
  const rb = isPodReady(b) ? 1 : 0;
  if (ra !== rb) return ra - rb;
  if (ra === 1) {
    const ta = ms(getCondition(a.status?.conditions, 'Ready')?.lastTransitionTime);
    const tb = ms(getCondition(b.status?.conditions, 'Ready')?.lastTransitionTime);
    // ready more recently (a later transition) is less valuable; an unknown time is least valuable
    if (ta !== tb) {
      if (ta === undefined) return -1;
      if (tb === undefined) return 1;
      return tb - ta;
    }
  }
  const xa = restarts(a);
  const xb = restarts(b);
  if (xa !== xb) return xb - xa;
  const ca = ms(a.metadata.creationTimestamp);
  const cb = ms(b.metadata.creationTimestamp);
  if (ca !== cb) {
    if (ca === undefined) return -1;
    if (cb === undefined) return 1;
    return cb - ca;
  }
  return 0;
}

/** The `n` pods to delete first. */
export function podsToDelete(pods: readonly Pod[], n: number): Pod[] {
  return [...pods].sort(compareDeletionPriority).slice(0, Math.max(0, n));
}

/** status.replicas, fullyLabeledReplicas, readyReplicas, availableReplicas from the RS's active pods. */
export function replicaSetCounts(rs: ReplicaSet, active: readonly Pod[], nowMs: number): Omit<ReplicaSetStatus, 'observedGeneration' | 'conditions'> {
  const templateLabels = rs.spec.template?.metadata?.labels ?? {};
  const full = labelSelectorFromObject({ matchLabels: templateLabels });
  const mrs = rs.spec.minReadySeconds ?? 0;
  let fully = 0;
  let ready = 0;
  let available = 0;
  for (const p of active) {
    if (labelSelectorMatches(full, p.metadata.labels ?? {})) fully++;
    if (isPodReady(p)) {
      ready++;
      if (isPodAvailable(p, mrs, nowMs)) available++;
    }
  }
  return { replicas: active.length, fullyLabeledReplicas: fully, readyReplicas: ready, availableReplicas: available };
}
