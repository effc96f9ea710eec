// What `rollout` does per kind, kubectl's way: a Deployment's history is its
// ReplicaSets (revision annotation), a DaemonSet's its ControllerRevisions
// (`revision` field, `data` a patch that puts the template back). The verbs in
// rollout.ts look a kind up here; a kind missing from ROLLOUT_KINDS has no
// rollout, and each verb says so naming the kind.
import {
  formatLabelSelector,
  jsonEqual,
  labelSelectorFromObject,
  rolloutStatusMessage,
  type ControllerRevision,
  type DaemonSet,
  type Deployment,
  type KubeObject,
  type ReplicaSet,
} from '../../api/index.js';
import { CliError } from '../errors.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import type { Session } from '../session.js';

const REVISION = 'deployment.kubernetes.io/revision';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';
/** Annotations of a ReplicaSet an undo does not copy onto the deployment (kubectl's list). */
const SKIP_ANNOTATIONS = new Set([REVISION, 'deployment.kubernetes.io/revision-history', 'deployment.kubernetes.io/desired-replicas', 'deployment.kubernetes.io/max-replicas', 'kubectl.kubernetes.io/last-applied-configuration']);

export interface RolloutStatus {
  message: string;
  done: boolean;
  error?: string;
}

/** One entry of a workload's history. */
export interface Revision {
  revision: number;
  changeCause?: string;
  /** The pod template of that revision. */
  template: unknown;
}

export interface RolloutKind {
  /** Where the rollout stands, from the object alone. */
  status(obj: KubeObject): RolloutStatus;
  /** The revisions, oldest first. */
  history(s: Session, obj: KubeObject): Promise<Revision[]>;
  /** Puts revision `to` (0: the previous one) back; returns kubectl's outcome (`rolled back`, `skipped rollback (…)`). */
  undo(s: Session, ref: ResourceRef, obj: KubeObject, to: number): Promise<string>;
  /** Throws when a restart would not take effect (a paused deployment). */
  checkRestart?(obj: KubeObject, name: string): void;
  /** spec.paused exists: pause and resume apply. */
  pausable: boolean;
}

/** The objects of `resource` matching `owner`'s selector whose controller is `owner`. */
async function controlled<T extends KubeObject>(s: Session, resource: string, owner: KubeObject & { spec: { selector: unknown } }): Promise<T[]> {
  const ref = await s.resources.forArg(resource);
  const selector = formatLabelSelector(labelSelectorFromObject(owner.spec.selector as never));
  const list = await s.client.requestJson<{ items?: T[] }>('GET', resourcePath(ref, owner.metadata.namespace ?? s.namespace), { query: { labelSelector: selector } });
  return (list.items ?? []).filter((o) => o.metadata.ownerReferences?.some((r) => r.controller && r.uid === owner.metadata.uid));
}

// --- Deployment -------------------------------------------------------------

const rsRevision = (rs: ReplicaSet): number => Number(rs.metadata.annotations?.[REVISION] ?? '0') || 0;

async function replicaSetsOf(s: Session, d: Deployment): Promise<ReplicaSet[]> {
  return (await controlled<ReplicaSet>(s, 'replicasets', d)).sort((a, b) => rsRevision(a) - rsRevision(b));
}

/** A ReplicaSet's template as its deployment's would be: without the pod-template-hash label. */
function withoutHash(rs: ReplicaSet): unknown {
  const t = structuredClone(rs.spec.template);
  if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
  return t;
}

export const deploymentRollout: RolloutKind = {
  status: (obj) => rolloutStatusMessage(obj as Deployment),
  async history(s, obj) {
    return (await replicaSetsOf(s, obj as Deployment)).map((rs) => ({ revision: rsRevision(rs), changeCause: rs.metadata.annotations?.[CHANGE_CAUSE], template: rs.spec.template }));
  },
  async undo(s, ref, obj, to) {
    const d = obj as Deployment;
    const name = d.metadata.name ?? '';
    if (d.spec.paused) throw new CliError("you cannot rollback a paused deployment; resume it first with 'flotctl rollout resume' and try again");
    const sets = await replicaSetsOf(s, d);
    let rs: ReplicaSet | undefined;
    if (to > 0) {
      rs = sets.find((x) => rsRevision(x) === to);
      if (!rs) throw new CliError(`unable to find specified revision ${to} in history`);
    } else {
      const current = Math.max(0, ...sets.map(rsRevision));
      rs = sets.filter((x) => rsRevision(x) < current).pop();
      if (!rs) throw new CliError(`no rollout history found for deployment "${name}"`);
    }
    const template = withoutHash(rs);
    if (jsonEqual(template, d.spec.template)) return `skipped rollback (current template already matches revision ${rsRevision(rs)})`;
    // the deployment keeps its own bookkeeping annotations and takes the revision's others
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (SKIP_ANNOTATIONS.has(k)) annotations[k] = v;
    for (const [k, v] of Object.entries(rs.metadata.annotations ?? {})) if (!SKIP_ANNOTATIONS.has(k)) annotations[k] = v;
    await s.client.requestJson('PATCH', resourcePath(ref, s.namespace, name), {
      contentType: 'application/json-patch+json',
      body: [
        { op: 'replace', path: '/spec/template', value: template },
        { op: 'replace', path: '/metadata/annotations', value: annotations },
      ],
    });
    return 'rolled back';
  },
  checkRestart(obj, name) {
    if ((obj as Deployment).spec.paused) throw new CliError(`deployments.apps "${name}" can't restart paused deployment (run rollout resume first)`);
  },
  pausable: true,
};

// --- DaemonSet --------------------------------------------------------------

/**
 * kubectl's daemon set status: only RollingUpdate rolls out; until the
 * controller has seen the latest spec nothing is known; then every scheduled
 * node must run an updated pod, and every one of them be available.
 */
export function daemonSetRolloutStatus(ds: DaemonSet): RolloutStatus {
  const type = ds.spec.updateStrategy?.type ?? 'RollingUpdate';
  if (type !== 'RollingUpdate') return { message: '', done: true, error: 'rollout status is only available for RollingUpdate strategy type' };
  const st = ds.status;
  if ((ds.metadata.generation ?? 0) > (st?.observedGeneration ?? 0)) return { message: 'Waiting for daemon set spec update to be observed...', done: false };
  const desired = st?.desiredNumberScheduled ?? 0;
  const updated = st?.updatedNumberScheduled ?? 0;
  const available = st?.numberAvailable ?? 0;
  const name = ds.metadata.name ?? '';
  if (updated < desired) return { message: `Waiting for daemon set "${name}" rollout to finish: ${updated} out of ${desired} new pods have been updated...`, done: false };
  if (available < desired) return { message: `Waiting for daemon set "${name}" rollout to finish: ${available} of ${desired} updated pods are available...`, done: false };
  return { message: `daemon set "${name}" successfully rolled out`, done: true };
}

/** The pod template a ControllerRevision's data puts back (its `$patch: replace` directive dropped). */
export function revisionTemplate(rev: ControllerRevision): unknown {
  const spec = (rev.data as { spec?: { template?: Record<string, unknown> } } | undefined)?.spec;
  if (!spec?.template) return undefined;
  const { $patch: _directive, ...template } = spec.template;
  return template;
}

async function revisionsOf(s: Session, ds: DaemonSet): Promise<ControllerRevision[]> {
  return (await controlled<ControllerRevision>(s, 'controllerrevisions', ds)).sort((a, b) => a.revision - b.revision);
}

/** The revision an undo goes back to: `to`, or (0) the one before the newest. */
export function pickDaemonSetRevision(revisions: ControllerRevision[], to: number): ControllerRevision {
  if (to < 0) throw new CliError(`unable to find specified revision ${to} in history`);
  const sorted = [...revisions].sort((a, b) => a.revision - b.revision);
  if (to === 0) {
    if (sorted.length <= 1) throw new CliError('no last revision to roll back to');
    return sorted[sorted.length - 2]!;
  }
  const found = sorted.find((r) => r.revision === to);
  if (!found) throw new CliError(`unable to find specified revision ${to} in history`);
  return found;
}

export const daemonSetRollout: RolloutKind = {
  status: (obj) => daemonSetRolloutStatus(obj as DaemonSet),
  async history(s, obj) {
    return (await revisionsOf(s, obj as DaemonSet)).map((r) => ({ revision: r.revision, changeCause: r.metadata.annotations?.[CHANGE_CAUSE], template: revisionTemplate(r) }));
  },
  async undo(s, ref, obj, to) {
    const ds = obj as DaemonSet;
    const rev = pickDaemonSetRevision(await revisionsOf(s, ds), to);
    if (jsonEqual(revisionTemplate(rev) ?? null, ds.spec.template ?? null)) return `skipped rollback (current template already matches revision ${rev.revision})`;
    // the revision's data is the strategic merge patch that restores its template, as kubectl sends it
    await s.client.requestJson('PATCH', resourcePath(ref, s.namespace, ds.metadata.name ?? ''), { contentType: 'application/strategic-merge-patch+json', body: rev.data });
    return 'rolled back';
  },
  pausable: false,
};

/** The kinds `rollout` works on, by kind name. */
export const ROLLOUT_KINDS: Readonly<Record<string, RolloutKind>> = { Deployment: deploymentRollout, DaemonSet: daemonSetRollout };
