// `describe` layouts of the workloads — Deployment, ReplicaSet, DaemonSet, Job,
// CronJob — in the order and wording of kubectl's describers, sharing the pod
// template, label and event sections with the Pod describer. Pure functions:
// the command fetches the related objects (ReplicaSets, pods) and passes them in.
import {
  jsonEqual,
  workloadSelectorText,
  type CronJob,
  type DaemonSet,
  type Deployment,
  type Event,
  type Job,
  type KubeObject,
  type Pod,
  type ReplicaSet,
} from '../../api/index.js';
import { humanDuration } from './age.js';
import { annotationLines, describeTime, eventsSection, Lines, mapLines, podTemplateLines } from './describe.js';

export interface PodPhaseCounts {
  running: number;
  waiting: number;
  succeeded: number;
  failed: number;
}

/** Pods by phase, as kubectl's `Pods Status:` counts them (Pending is Waiting). */
export function podPhaseCounts(pods: Pod[]): PodPhaseCounts {
  const c: PodPhaseCounts = { running: 0, waiting: 0, succeeded: 0, failed: 0 };
  for (const p of pods) {
    const phase = p.status?.phase ?? 'Pending';
    if (phase === 'Running') c.running++;
    else if (phase === 'Pending') c.waiting++;
    else if (phase === 'Succeeded') c.succeeded++;
    else if (phase === 'Failed') c.failed++;
  }
  return c;
}

const phaseText = (c: PodPhaseCounts) => `${c.running} Running / ${c.waiting} Waiting / ${c.succeeded} Succeeded / ${c.failed} Failed`;

/** Whether `obj` names `owner` as its controller (the uid decides, as the controllers match). */
export function isControlledBy(obj: KubeObject, owner: KubeObject): boolean {
  return obj.metadata.ownerReferences?.some((r) => r.controller === true && r.uid === owner.metadata.uid) === true;
}

/** `Deployment/web` of the controller owner, or undefined. */
function controlledBy(obj: KubeObject): string | undefined {
  const ref = obj.metadata.ownerReferences?.find((r) => r.controller === true);
  return ref ? `${ref.kind}/${ref.name}` : undefined;
}

function envelope(out: Lines, obj: KubeObject): void {
  out.add(0, 'Name:', obj.metadata.name ?? '');
  out.add(0, 'Namespace:', obj.metadata.namespace ?? '');
}

/**
 * The `Type Status Reason` table of a Deployment or ReplicaSet. The type cell
 * carries a trailing space, as kubectl writes it, which widens the column by one.
 */
function conditionLines(out: Lines, conditions: { type: string; status: string; reason?: string }[]): void {
  if (conditions.length === 0) return;
  out.add(0, 'Conditions:');
  out.add(1, 'Type', 'Status', 'Reason');
  out.add(1, '----', '------', '------');
  for (const c of conditions) out.add(1, `${c.type} `, c.status, c.reason ?? '');
}

/** The template of a ReplicaSet without the pod-template-hash label its Deployment's template lacks. */
function templateWithoutHash(rs: ReplicaSet): unknown {
  const t = structuredClone(rs.spec.template);
  if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
  return t;
}

/**
 * The Deployment's new ReplicaSet (the oldest whose template is the
 * Deployment's) and all its others, scaled down or not, oldest first — what
 * kubectl 1.33's describer lists; `sets` may hold ReplicaSets it does not control.
 */
export function deploymentReplicaSets(d: Deployment, sets: ReplicaSet[]): { newRS?: ReplicaSet; oldRSs: ReplicaSet[] } {
  const owned = sets.filter((rs) => isControlledBy(rs, d)).sort((a, b) => Date.parse(a.metadata.creationTimestamp ?? '') - Date.parse(b.metadata.creationTimestamp ?? ''));
  const newRS = owned.find((rs) => jsonEqual(templateWithoutHash(rs), d.spec.template));
  const oldRSs = owned.filter((rs) => rs !== newRS);
  return { newRS, oldRSs };
}

function replicaSetsText(sets: ReplicaSet[]): string {
  if (sets.length === 0) return '<none>';
  return sets.map((rs) => `${rs.metadata.name} (${rs.status?.replicas ?? 0}/${rs.spec.replicas ?? 1} replicas created)`).join(', ');
}

export function describeDeployment(d: Deployment, sets: ReplicaSet[], events: Event[], now: number): string {
  const out = new Lines();
  const st = d.status ?? {};
  envelope(out, d);
  out.add(0, 'CreationTimestamp:', describeTime(d.metadata.creationTimestamp));
  mapLines(out, 0, 'Labels', d.metadata.labels);
  annotationLines(out, 0, d.metadata.annotations);
  out.add(0, 'Selector:', workloadSelectorText(d.spec.selector));
  out.add(
    0,
    'Replicas:',
    `${d.spec.replicas ?? 1} desired | ${st.updatedReplicas ?? 0} updated | ${st.replicas ?? 0} total | ${st.availableReplicas ?? 0} available | ${st.unavailableReplicas ?? 0} unavailable`,
  );
  out.add(0, 'StrategyType:', d.spec.strategy?.type ?? 'RollingUpdate');
  out.add(0, 'MinReadySeconds:', String(d.spec.minReadySeconds ?? 0));
  const ru = d.spec.strategy?.rollingUpdate;
  if (ru) out.add(0, 'RollingUpdateStrategy:', `${String(ru.maxUnavailable ?? '25%')} max unavailable, ${String(ru.maxSurge ?? '25%')} max surge`);
  podTemplateLines(out, d.spec.template);
  conditionLines(out, st.conditions ?? []);
  const { newRS, oldRSs } = deploymentReplicaSets(d, sets);
  out.add(0, 'OldReplicaSets:', replicaSetsText(oldRSs));
  out.add(0, 'NewReplicaSet:', replicaSetsText(newRS ? [newRS] : []));
  out.lines.push(...eventsSection(events, now));
  return out.text();
}

/** `pods` are the ReplicaSet's own (the command filters them by selector and owner). */
export function describeReplicaSet(rs: ReplicaSet, pods: Pod[], events: Event[], now: number): string {
  const out = new Lines();
  envelope(out, rs);
  out.add(0, 'Selector:', workloadSelectorText(rs.spec.selector));
  mapLines(out, 0, 'Labels', rs.metadata.labels);
  annotationLines(out, 0, rs.metadata.annotations);
  const owner = controlledBy(rs);
  if (owner) out.add(0, 'Controlled By:', owner);
  out.add(0, 'Replicas:', `${rs.status?.replicas ?? 0} current / ${rs.spec.replicas ?? 1} desired`);
  out.add(0, 'Pods Status:', phaseText(podPhaseCounts(pods)));
  podTemplateLines(out, rs.spec.template);
  conditionLines(out, rs.status?.conditions ?? []);
  out.lines.push(...eventsSection(events, now));
  return out.text();
}

/** `a=b,c=d` of a node selector, `<none>` when empty (labels.FormatLabels). */
function nodeSelectorText(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return keys.length === 0 ? '<none>' : keys.map((k) => `${k}=${m![k]}`).join(',');
}

export function describeDaemonSet(ds: DaemonSet, pods: Pod[], events: Event[], now: number): string {
  const out = new Lines();
  const st = ds.status;
  envelope(out, ds);
  out.add(0, 'Selector:', workloadSelectorText(ds.spec.selector));
  out.add(0, 'Node-Selector:', nodeSelectorText(ds.spec.template?.spec?.nodeSelector));
  mapLines(out, 0, 'Labels', ds.metadata.labels);
  annotationLines(out, 0, ds.metadata.annotations);
  // kubectl writes these counts without a tab: they stay out of the aligned block
  out.add(0, `Desired Number of Nodes Scheduled: ${st?.desiredNumberScheduled ?? 0}`);
  out.add(0, `Current Number of Nodes Scheduled: ${st?.currentNumberScheduled ?? 0}`);
  out.add(0, `Number of Nodes Scheduled with Up-to-date Pods: ${st?.updatedNumberScheduled ?? 0}`);
  out.add(0, `Number of Nodes Scheduled with Available Pods: ${st?.numberAvailable ?? 0}`);
  out.add(0, `Number of Nodes Misscheduled: ${st?.numberMisscheduled ?? 0}`);
  out.add(0, 'Pods Status:', phaseText(podPhaseCounts(pods)));
  podTemplateLines(out, ds.spec.template);
  out.lines.push(...eventsSection(events, now));
  return out.text();
}

/** Completed indexes of an Indexed Job, cut at 50 characters as kubectl does. */
function indexesText(s: string | undefined): string {
  if (!s) return '<none>';
  if (s.length <= 50) return s;
  const cut = s.slice(0, 50);
  return `${cut.slice(0, cut.lastIndexOf(',') > 0 ? cut.lastIndexOf(',') : 50)},...`;
}

export function describeJob(job: Job, events: Event[], now: number): string {
  const out = new Lines();
  const spec = job.spec;
  const st = job.status ?? {};
  envelope(out, job);
  out.add(0, 'Selector:', workloadSelectorText(spec.selector));
  mapLines(out, 0, 'Labels', job.metadata.labels);
  annotationLines(out, 0, job.metadata.annotations);
  const owner = controlledBy(job);
  if (owner) out.add(0, 'Controlled By:', owner);
  if (spec.parallelism !== undefined) out.add(0, 'Parallelism:', String(spec.parallelism));
  out.add(0, 'Completions:', spec.completions !== undefined && spec.completions !== null ? String(spec.completions) : '<unset>');
  if (spec.completionMode) out.add(0, 'Completion Mode:', spec.completionMode);
  if (spec.suspend !== undefined) out.add(0, 'Suspend:', String(spec.suspend));
  if (spec.backoffLimit !== undefined) out.add(0, 'Backoff Limit:', String(spec.backoffLimit));
  if (spec.ttlSecondsAfterFinished !== undefined) out.add(0, 'TTL Seconds After Finished:', String(spec.ttlSecondsAfterFinished));
  if (st.startTime) out.add(0, 'Start Time:', describeTime(st.startTime));
  if (st.completionTime) out.add(0, 'Completed At:', describeTime(st.completionTime));
  if (st.startTime && st.completionTime) out.add(0, 'Duration:', humanDuration(Date.parse(st.completionTime) - Date.parse(st.startTime)));
  if (spec.activeDeadlineSeconds !== undefined) out.add(0, 'Active Deadline Seconds:', `${spec.activeDeadlineSeconds}s`);
  const active = st.ready === undefined ? `${st.active ?? 0} Active` : `${st.active ?? 0} Active (${st.ready} Ready)`;
  out.add(0, 'Pods Statuses:', `${active} / ${st.succeeded ?? 0} Succeeded / ${st.failed ?? 0} Failed`);
  if (spec.completionMode === 'Indexed') out.add(0, 'Completed Indexes:', indexesText(st.completedIndexes));
  podTemplateLines(out, spec.template);
  out.lines.push(...eventsSection(events, now));
  return out.text();
}

const boolOrUnset = (v: boolean | undefined) => (v === undefined ? '<unset>' : v ? 'True' : 'False');
const numberOrUnset = (v: number | undefined | null, unit = '') => (v === undefined || v === null ? '<unset>' : `${v}${unit}`);

export function describeCronJob(cj: CronJob, events: Event[], now: number): string {
  const out = new Lines();
  const spec = cj.spec;
  const js = spec.jobTemplate?.spec;
  envelope(out, cj);
  mapLines(out, 0, 'Labels', cj.metadata.labels);
  annotationLines(out, 0, cj.metadata.annotations);
  out.add(0, 'Schedule:', spec.schedule ?? '');
  out.add(0, 'Concurrency Policy:', spec.concurrencyPolicy ?? 'Allow');
  out.add(0, 'Suspend:', boolOrUnset(spec.suspend));
  out.add(0, 'Successful Job History Limit:', numberOrUnset(spec.successfulJobsHistoryLimit));
  out.add(0, 'Failed Job History Limit:', numberOrUnset(spec.failedJobsHistoryLimit));
  out.add(0, 'Starting Deadline Seconds:', numberOrUnset(spec.startingDeadlineSeconds, 's'));
  // the job template: its selector and sizes, then its pod template
  out.add(0, 'Selector:', js?.selector ? workloadSelectorText(js.selector) : '<unset>');
  out.add(0, 'Parallelism:', numberOrUnset(js?.parallelism));
  out.add(0, 'Completions:', numberOrUnset(js?.completions));
  if (js?.activeDeadlineSeconds !== undefined) out.add(0, 'Active Deadline Seconds:', `${js.activeDeadlineSeconds}s`);
  podTemplateLines(out, js?.template);
  out.add(0, 'Last Schedule Time:', cj.status?.lastScheduleTime ? describeTime(cj.status.lastScheduleTime) : '<unset>');
  const active = (cj.status?.active ?? []).map((r) => r.name ?? '').filter((n) => n !== '');
  out.add(0, 'Active Jobs:', active.length === 0 ? '<none>' : active.join(', '));
  out.lines.push(...eventsSection(events, now));
  return out.text();
}
