// POST pods/NAME/eviction (policy/v1 and policy/v1beta1 Eviction): deletes the
// pod gracefully (the Eviction's deleteOptions honoured) unless the
// PodDisruptionBudget selecting it has no disruption left — then 429 with
// kube-apiserver's message and a DisruptionBudget cause. The budget is
// decremented (status.disruptionsAllowed, status.disruptedPods) with
// compare-and-swap before the delete, so two concurrent evictions cannot both
// pass on the last allowed disruption; the disruption controller
// (controller/disruption/) recomputes it from the pods.
import {
  BadRequestError,
  ForbiddenError,
  InternalError,
  TooManyRequestsError,
  isPlainObject,
  isTerminalPhase,
  labelSelectorFromObject,
  labelSelectorMatches,
  podDisruptionBudgetKind,
  rfc3339,
  type Clock,
  type DeleteOptions,
  type Pod,
  type PodDisruptionBudget,
} from '../../api/index.js';
import type { Store } from '../storage/store.js';
import { plainValue } from '../../api/quote.js';
import type { ResourceApi, Target } from './resource-api.js';

export const EVICTION_VERSIONS = ['policy/v1', 'policy/v1beta1'];
/** As kube-apiserver: at most this many pods being evicted recorded per budget. */
const MAX_DISRUPTED_PODS = 2000;

export const PDB_VIOLATION_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget.";

export interface EvictionDeps {
  api: ResourceApi;
  store: Store;
  clock: Clock;
}

const isReady = (p: Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** The budgets of the pod's namespace whose selector matches it (a budget without a selector selects nothing). */
export function budgetsFor(pod: Pod, pdbs: readonly PodDisruptionBudget[]): PodDisruptionBudget[] {
  return pdbs.filter((b) => b.spec?.selector && labelSelectorMatches(labelSelectorFromObject(b.spec.selector), pod.metadata.labels ?? {}));
}

/**
 * The budget's answer to evicting `pod` (pure): `decrement` takes one
 * disruption (the returned status), `allow` lets it go without (an unhealthy
 * pod the budget does not count), or it throws kube-apiserver's error.
 */
export function checkBudget(pdb: PodDisruptionBudget, pod: Pod, nowMs: number): { status: NonNullable<PodDisruptionBudget['status']> } | 'allow' {
  const st = pdb.status ?? { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 };
  const name = pdb.metadata.name ?? '';
  if ((st.observedGeneration ?? 0) < (pdb.metadata.generation ?? 1)) {
    throw new TooManyRequestsError(PDB_VIOLATION_MESSAGE, {
      causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${name} is still being processed by the server.`, field: '' }],
      retryAfterSeconds: 10,
    });
  }
  // an unhealthy pod does not use the budget: always (AlwaysAllow), or while the budget is met (IfHealthyBudget)
  if (!isReady(pod)) {
    if (pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' || st.currentHealthy >= st.desiredHealthy) return 'allow';
  }
  if (st.disruptionsAllowed < 0) throw new ForbiddenError('pdb disruptions allowed is negative');
  if (Object.keys(st.disruptedPods ?? {}).length > MAX_DISRUPTED_PODS) throw new ForbiddenError('DisruptedPods map too big - too many evictions not confirmed by PDB controller');
  if (st.disruptionsAllowed === 0) {
    throw new TooManyRequestsError(PDB_VIOLATION_MESSAGE, {
      causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${name} needs ${st.desiredHealthy} healthy pods and has ${st.currentHealthy} currently`, field: '' }],
    });
  }
  return {
    status: {
      ...st,
      disruptionsAllowed: st.disruptionsAllowed - 1,
      disruptedPods: { ...(st.disruptedPods ?? {}), [pod.metadata.name ?? '']: rfc3339(nowMs) },
    },
  };
}

/** Checks the body of an eviction against the URL; returns its deleteOptions (still raw). */
function parseEviction(t: Target, body: unknown): unknown {
  if (!isPlainObject(body)) throw new BadRequestError('the body of an eviction must be an Eviction object');
  if (body.kind !== undefined && body.kind !== 'Eviction') throw new BadRequestError(`the body of an eviction must be an Eviction object, not ${plainValue(body.kind)}`);
  if (body.apiVersion !== undefined && !EVICTION_VERSIONS.includes(String(body.apiVersion))) {
    throw new BadRequestError(`no kind "Eviction" is registered for version "${plainValue(body.apiVersion)}"`);
  }
  const md = isPlainObject(body.metadata) ? body.metadata : {};
  if (md.name !== undefined && md.name !== '' && md.name !== t.name) throw new BadRequestError('name in URL does not match name in Eviction object');
  if (md.namespace !== undefined && md.namespace !== '' && md.namespace !== t.namespace) {
    throw new BadRequestError(`the namespace of the provided object (${plainValue(md.namespace)}) does not match the namespace sent on the request (${plainValue(t.namespace)})`);
  }
  return body.deleteOptions === null ? undefined : body.deleteOptions;
}

/** POST pods/NAME/eviction. */
export async function evictPod(d: EvictionDeps, t: Target, body: unknown, toDeleteOptions: (raw: unknown) => DeleteOptions): Promise<void> {
  const opts = toDeleteOptions(parseEviction(t, body));
  const podTarget: Target = { res: t.res, namespace: t.namespace ?? '', name: t.name ?? '' };
  const pod = (await d.api.get(podTarget)) as Pod;
  const del = (): Promise<unknown> =>
    d.api.delete(podTarget, { ...opts, preconditions: { ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}), ...(opts.preconditions ?? {}) } });
  // pods that do not count for any budget go at once, as kube-apiserver's canIgnorePDB
  if (pod.metadata.deletionTimestamp || isTerminalPhase(pod.status?.phase) || pod.status?.phase === 'Pending') {
    await del();
    return;
  }
  const pdbs = (await d.api.list({ res: podDisruptionBudgetKind, namespace: t.namespace ?? '' }, {})).items as PodDisruptionBudget[];
  const mine = budgetsFor(pod, pdbs);
  if (mine.length > 1) throw new InternalError('This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
  const pdb = mine[0];
  if (pdb) {
    // compare-and-swap on the budget: a concurrent eviction re-reads it and finds the disruption taken
    await d.store.guaranteedUpdate<PodDisruptionBudget>({ resource: 'poddisruptionbudgets', namespace: t.namespace ?? '', name: pdb.metadata.name ?? '' }, (cur) => {
      const r = checkBudget(cur, pod, d.clock.now());
      return r === 'allow' ? cur : { ...cur, status: r.status };
    });
  }
  await del();
}
