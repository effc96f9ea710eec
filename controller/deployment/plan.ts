// The pure parts of the deployment controller, table-tested in
// test/unit/deployment-plan.test.ts: maxSurge/maxUnavailable arithmetic
// (percentages: surge rounds up, unavailable rounds down, both 0 → 1
// unavailable, as Kubernetes' ResolveFenceposts), the pod-template-hash, how
// far a rolling update may scale the new ReplicaSet up and the old ones down,
// how a scaled (or paused) deployment shares spec.replicas among its active
// sets (proportional scaling), and the rollout status kubectl prints.
import { deepClone, scaleIntOrPercent, type Deployment, type IntOrString, type ReplicaSet } from '../../api/index.js';

export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';

/** Kubernetes' ResolveFenceposts: [maxSurge, maxUnavailable] for `replicas`. */
export function resolveFenceposts(maxSurge: IntOrString | undefined, maxUnavailable: IntOrString | undefined, replicas: number): [number, number] {
  const surge = scaleIntOrPercent(maxSurge ?? 0, replicas, true);
  let unavailable = scaleIntOrPercent(maxUnavailable ?? 0, replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return [surge, unavailable];
}

export function deploymentFenceposts(d: Deployment): [number, number] {
  const replicas = d.spec.replicas ?? 1;
  if (d.spec.strategy?.type === 'Recreate') return [0, replicas];
  const ru = d.spec.strategy?.rollingUpdate ?? {};
  return resolveFenceposts(ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%', replicas);
}

/** The most pods a deployment may have at once (the max-replicas annotation). */
export const maxReplicas = (d: Deployment): number => (d.spec.replicas ?? 1) + deploymentFenceposts(d)[0];

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** The pod-template-hash of a template: FNV-1a 32 of it (and the collision count), encoded as Kubernetes' SafeEncodeString. */
export function podTemplateHash(template: unknown, collisionCount = 0): string {
  let h = 0x811c9dc5;
  const text = canonical(normalizeTemplate(template)) + (collisionCount > 0 ? String(collisionCount) : '');
  for (const b of Buffer.from(text)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

/**
 * A template as compared by value: nulls, empty objects and empty lists count
 * as absent (kubectl sends Go's zero values back: `creationTimestamp: null`,
 * `resources: {}`), as Kubernetes' semantic equality of decoded structs does.
 */
export function normalizeTemplate(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalizeTemplate);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const n = normalizeTemplate(x);
      if (n === null || n === undefined) continue;
      if (Array.isArray(n) && n.length === 0) continue;
      if (typeof n === 'object' && !Array.isArray(n) && Object.keys(n as object).length === 0) continue;
      out[k] = n;
    }
    return out;
  }
  return v;
}

/** A ReplicaSet's template without the pod-template-hash label, normalized (to compare with the deployment's). */
export function templateWithoutHash(rs: ReplicaSet): unknown {
  const t = deepClone(rs.spec.template) as { metadata?: { labels?: Record<string, string> } };
  if (t.metadata?.labels) {
    delete t.metadata.labels[POD_TEMPLATE_HASH];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return normalizeTemplate(t);
}

export const revisionOf = (rs: ReplicaSet): number => {
  const v = Number(rs.metadata.annotations?.[REVISION] ?? '0');
  return Number.isInteger(v) && v > 0 ? v : 0;
};

const specReplicas = (rs: ReplicaSet): number => rs.spec.replicas ?? 0;
const available = (rs: ReplicaSet): number => rs.status?.availableReplicas ?? 0;

/** Kubernetes' NewRSNewReplicas for a rolling update: how many replicas the new ReplicaSet may have now. */
export function newReplicaSetReplicas(d: Deployment, all: readonly ReplicaSet[], newRS: ReplicaSet | undefined): number {
  const replicas = d.spec.replicas ?? 1;
  const cur = newRS ? specReplicas(newRS) : 0;
  if (d.spec.strategy?.type === 'Recreate') return replicas;
  if (cur >= replicas) return replicas;
  const [surge] = deploymentFenceposts(d);
  const total = all.reduce((s, rs) => s + specReplicas(rs), 0) + (newRS && !all.includes(newRS) ? cur : 0);
  const maxTotal = replicas + surge;
  if (total >= maxTotal) return cur;
  return cur + Math.min(maxTotal - total, replicas - cur);
}

/**
 * Kubernetes' reconcileOldReplicaSets for a rolling update: the new spec.replicas
 * of each old ReplicaSet (by name) that must shrink — first the unhealthy
 * (unavailable) replicas, then available ones while minAvailable holds, oldest first.
 */
export function oldReplicaSetScaleDown(d: Deployment, newRS: ReplicaSet | undefined, olds: readonly ReplicaSet[]): Map<string, number> {
  const out = new Map<string, number>();
  const oldCount = olds.reduce((s, rs) => s + specReplicas(rs), 0);
  if (oldCount === 0) return out;
  const replicas = d.spec.replicas ?? 1;
  const [, maxUnavailable] = deploymentFenceposts(d);
  const minAvailable = replicas - maxUnavailable;
  const all = newRS ? [newRS, ...olds] : [...olds];
  const allCount = all.reduce((s, rs) => s + specReplicas(rs), 0);
  const newUnavailable = newRS ? Math.max(0, specReplicas(newRS) - available(newRS)) : 0;
  const maxScaledDown = allCount - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return out;
  const next = new Map(olds.map((rs) => [rs.metadata.name ?? '', specReplicas(rs)]));
  const oldest = [...olds].sort((a, b) => revisionOf(a) - revisionOf(b) || Date.parse(a.metadata.creationTimestamp ?? '') - Date.parse(b.metadata.creationTimestamp ?? ''));
  // 1. unhealthy replicas of old sets go first
  let budget = maxScaledDown;
  let cleaned = 0;
  for (const rs of oldest) {
    if (budget <= 0) break;
    const n = next.get(rs.metadata.name ?? '') ?? 0;
    const unhealthy = Math.max(0, n - available(rs));
    const cut = Math.min(budget, unhealthy);
    if (cut > 0) {
      next.set(rs.metadata.name ?? '', n - cut);
      budget -= cut;
      cleaned += cut;
    }
  }
  // 2. then available ones, while minAvailable holds
  const availableCount = all.reduce((s, rs) => s + available(rs), 0);
  let scaleDown = Math.min(availableCount - minAvailable, maxScaledDown - cleaned);
  for (const rs of oldest) {
    if (scaleDown <= 0) break;
    const n = next.get(rs.metadata.name ?? '') ?? 0;
    const cut = Math.min(n, scaleDown);
    next.set(rs.metadata.name ?? '', n - cut);
    scaleDown -= cut;
  }
  for (const rs of olds) {
    const n = next.get(rs.metadata.name ?? '') ?? 0;
    if (n !== specReplicas(rs)) out.set(rs.metadata.name ?? '', n);
  }
  return out;
}

// ---- scaling (Kubernetes' sync.go scale()): what each set gets when spec.replicas changes ----

const nameOf = (rs: ReplicaSet): string => rs.metadata.name ?? '';
const createdMs = (rs: ReplicaSet): number => Date.parse(rs.metadata.creationTimestamp ?? '') || 0;
const activeSets = (sets: readonly ReplicaSet[]): ReplicaSet[] => sets.filter((rs) => specReplicas(rs) > 0);

/** An integer annotation of a set, or undefined when absent or not a number (as Kubernetes' getIntFromAnnotation). */
function intAnnotation(rs: ReplicaSet, key: string): number | undefined {
  const v = rs.metadata.annotations?.[key];
  return v !== undefined && /^[+-]?\d+$/.test(v) ? Number(v) : undefined;
}

/** Kubernetes' ReplicaSetsByCreationTimestamp: older first, equal times by name. */
export function olderFirst(a: ReplicaSet, b: ReplicaSet): number {
  return createdMs(a) - createdMs(b) || (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0);
}

// Who takes the rounding leftovers: the largest set; among equals the newest
// when growing (new pods go to the newer template) and the oldest when
// shrinking (old pods go first) — Kubernetes' ReplicaSetsBySizeNewer/Older.
const largestNewerFirst = (a: ReplicaSet, b: ReplicaSet): number => specReplicas(b) - specReplicas(a) || olderFirst(b, a);
const largestOlderFirst = (a: ReplicaSet, b: ReplicaSet): number => specReplicas(b) - specReplicas(a) || olderFirst(a, b);

/** Half away from zero, as Go's math.Round (Math.round goes up on -x.5). */
const roundHalfAway = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));

/** Kubernetes' isScalingEvent: an active set was sized (desired-replicas) for another spec.replicas than the deployment's now. */
export function isScalingEvent(d: Deployment, newRS: ReplicaSet | undefined, olds: readonly ReplicaSet[]): boolean {
  const replicas = d.spec.replicas ?? 1;
  return activeSets(newRS ? [newRS, ...olds] : olds).some((rs) => {
    const sizedFor = intAnnotation(rs, DESIRED_REPLICAS);
    return sizedFor !== undefined && sizedFor !== replicas;
  });
}

/** Kubernetes' IsSaturated: the new set is sized for, and runs, all of spec.replicas. */
export function isSaturated(d: Deployment, rs: ReplicaSet): boolean {
  const replicas = d.spec.replicas ?? 1;
  return specReplicas(rs) === replicas && intAnnotation(rs, DESIRED_REPLICAS) === replicas && available(rs) === replicas;
}

/**
 * Kubernetes' scale(): the spec.replicas each ReplicaSet (by name) gets when a
 * deployment is scaled or paused, in the order to write them. Every set named
 * is written with fresh desired-/max-replicas annotations even if its size
 * stays. One active set (or none: the new one, else the newest) simply takes
 * spec.replicas; a saturated new set leaves the old ones at 0; otherwise a
 * rolling update shares the change out in proportion. Undefined when nothing
 * applies (several active sets under Recreate): the strategy then proceeds.
 */
export function scaledReplicaSetSizes(d: Deployment, newRS: ReplicaSet | undefined, olds: readonly ReplicaSet[]): Map<string, number> | undefined {
  const replicas = d.spec.replicas ?? 1;
  const all = newRS ? [newRS, ...olds] : [...olds];
  if (all.length === 0) return undefined;
  const active = activeSets(all);
  if (active.length <= 1) {
    const target = active[0] ?? newRS ?? [...olds].sort(olderFirst)[olds.length - 1]!;
    return new Map([[nameOf(target), replicas]]);
  }
  if (newRS && isSaturated(d, newRS)) return new Map(activeSets(olds).map((rs) => [nameOf(rs), 0]));
  if (d.spec.strategy?.type === 'Recreate') return undefined;
  return proportionalSizes(d, active);
}

/**
 * The room left (replicas + maxSurge, or 0 when scaling to 0, minus what the
 * active sets have now) shared out in proportion to their sizes; what rounding
 * leaves over goes to the first in order (largest), never below 0.
 */
function proportionalSizes(d: Deployment, active: readonly ReplicaSet[]): Map<string, number> {
  const total = active.reduce((s, rs) => s + specReplicas(rs), 0);
  const allowed = (d.spec.replicas ?? 1) > 0 ? maxReplicas(d) : 0;
  const toAdd = allowed - total;
  const order = [...active].sort(toAdd > 0 ? largestNewerFirst : largestOlderFirst);
  const sizes = new Map(order.map((rs) => [nameOf(rs), specReplicas(rs)]));
  if (toAdd === 0) return sizes;
  let added = 0;
  for (const rs of order) {
    const p = proportion(d, rs, toAdd, added, total);
    sizes.set(nameOf(rs), specReplicas(rs) + p);
    added += p;
  }
  const first = nameOf(order[0]!);
  sizes.set(first, Math.max(0, (sizes.get(first) ?? 0) + toAdd - added));
  return sizes;
}

/** Kubernetes' getProportion: this set's share, never beyond what is still to add (or remove). */
function proportion(d: Deployment, rs: ReplicaSet, toAdd: number, added: number, activeTotal: number): number {
  if (specReplicas(rs) === 0 || added === toAdd) return 0;
  const share = shareOf(d, rs, activeTotal);
  const left = toAdd - added;
  return toAdd > 0 ? Math.min(share, left) : Math.max(share, left);
}

/**
 * Kubernetes' getReplicaSetFraction: how much the set grows (or shrinks) if it
 * keeps its part of the pods — its size × (replicas + maxSurge now) / the
 * max-replicas it was sized for. Without a usable annotation (an adopted set)
 * the deployment's status.replicas stands in, as in Kubernetes; when that is 0
 * too, the active sets' total (Kubernetes would divide by 0 there).
 */
function shareOf(d: Deployment, rs: ReplicaSet, activeTotal: number): number {
  if ((d.spec.replicas ?? 1) === 0) return -specReplicas(rs);
  const positive = (n: number | undefined) => (n !== undefined && n > 0 ? n : undefined);
  const sizedFor = positive(intAnnotation(rs, MAX_REPLICAS)) ?? positive(d.status?.replicas) ?? activeTotal;
  return roundHalfAway((specReplicas(rs) * maxReplicas(d)) / sizedFor) - specReplicas(rs);
}

/** The old ReplicaSets `revisionHistoryLimit` removes: zero replicas, oldest revisions first. */
export function replicaSetsToCleanUp(d: Deployment, olds: readonly ReplicaSet[]): ReplicaSet[] {
  const limit = d.spec.revisionHistoryLimit ?? 10;
  const idle = olds.filter((rs) => specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && !rs.metadata.deletionTimestamp);
  if (idle.length <= limit) return [];
  return [...idle].sort((a, b) => revisionOf(a) - revisionOf(b)).slice(0, idle.length - limit);
}

export { rolloutStatusMessage } from '../../api/index.js';
