// Job (batch/v1): runs pods until `completions` of them succeed, run by the job
// controller (controller/job/). Defaults, the generated selector and labels,
// validation wording and printer columns are kube-apiserver's and kubectl's.
// The rules a CronJob's jobTemplate shares are exported (validateJobSpec).
import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../meta.js';
import { isPlainObject, jsonEqual } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age, humanDuration } from '../printers/age.js';
import type { LabelSelector } from '../label-selector.js';
import { FieldErrors, bool, int, obj, objItems, oneOf, str, arr } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { podKind } from './pod.js';
import { checkSelectorMatchesTemplate, defaultPodTemplateSpec, validateLabelSelector, validatePodTemplateSpec } from './pod-template.js';
import { workloadWideCells, type WorkloadPodTemplate } from './replicaset.js';

type Obj = Record<string, unknown>;

/** The labels the API server puts on a Job's template (and the selector's key). */
export const JOB_CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
export const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid';
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const LEGACY_JOB_NAME_LABEL = 'job-name';
/** On pods of an Indexed Job (annotation and label). */
export const JOB_COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';
/** The finalizer the job controller puts on its pods until it has counted them. */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
/** The largest `completions` of an Indexed Job. */
export const MAX_INDEXED_COMPLETIONS = 100_000;

export interface PodFailurePolicyOnExitCodesRequirement {
  containerName?: string;
  operator: 'In' | 'NotIn';
  values: number[];
}

export interface PodFailurePolicyOnPodConditionsPattern {
  type: string;
  status?: 'True' | 'False' | 'Unknown';
}

export interface PodFailurePolicyRule {
  action: 'FailJob' | 'Ignore' | 'Count' | 'FailIndex';
  onExitCodes?: PodFailurePolicyOnExitCodesRequirement;
  onPodConditions?: PodFailurePolicyOnPodConditionsPattern[];
}

export interface JobSpec {
  parallelism?: number;
  completions?: number;
  activeDeadlineSeconds?: number;
  backoffLimit?: number;
  selector?: LabelSelector;
  manualSelector?: boolean;
  template: WorkloadPodTemplate;
  ttlSecondsAfterFinished?: number;
  completionMode?: 'NonIndexed' | 'Indexed';
  suspend?: boolean;
  podFailurePolicy?: { rules: PodFailurePolicyRule[] };
  podReplacementPolicy?: 'TerminatingOrFailed' | 'Failed';
  /** Only the built-in `kubernetes.io/job-controller` is accepted (validateJobSpec). */
  managedBy?: string;
}

export interface JobCondition {
  type: 'Complete' | 'Failed' | 'Suspended' | 'FailureTarget' | 'SuccessCriteriaMet';
  status: 'True' | 'False' | 'Unknown';
  lastProbeTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface JobStatus {
  conditions?: JobCondition[];
  startTime?: string;
  completionTime?: string;
  active?: number;
  succeeded?: number;
  failed?: number;
  terminating?: number;
  ready?: number;
  completedIndexes?: string;
  uncountedTerminatedPods?: { succeeded?: string[]; failed?: string[] };
  observedGeneration?: number;
}

export interface Job extends KubeObject {
  apiVersion?: 'batch/v1';
  kind?: 'Job';
  spec: JobSpec;
  status?: JobStatus;
}

const POD_FAILURE_POLICY_ACTIONS = ['Count', 'FailIndex', 'FailJob', 'Ignore'] as const;

/**
 * Job spec fields Kubernetes has that Flotilla's job controller does not
 * implement: refused (Forbidden) rather than accepted and ignored.
 */
const UNSUPPORTED_JOB_FIELDS = ['backoffLimitPerIndex', 'maxFailedIndexes', 'successPolicy'] as const;

/** Kubernetes' default for `managedBy`: the built-in job controller. */
export const JOB_CONTROLLER_NAME = 'kubernetes.io/job-controller';

/** `Unsupported value: "x": supported values: "a", "b"` in the order Kubernetes lists them for Jobs (not sorted). */
function supportedInOrder(e: FieldErrors, path: string, value: string, supported: readonly string[]): void {
  e.add('FieldValueNotSupported', path, `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`, { v: value });
}

function nonNegativeInt(e: FieldErrors, o: Obj, key: string, path: string): number | undefined {
  const v = int(e, o, key, path);
  if (v !== undefined && v < 0) e.invalid(path, v, 'must be greater than or equal to 0');
  return v;
}

function validatePodFailurePolicy(e: FieldErrors, spec: Obj, specPath: string, template: Obj | undefined): void {
  const path = `${specPath}.podFailurePolicy`;
  const pfp = obj(e, spec, 'podFailurePolicy', path);
  if (!pfp) return;
  const tspec = isPlainObject(template?.spec) ? template!.spec : {};
  if (tspec.restartPolicy !== 'Never') {
    e.invalid(`${specPath}.template.spec.restartPolicy`, tspec.restartPolicy ?? '', 'only "Never" is supported when podFailurePolicy is specified');
  }
  const containers = new Set([...(Array.isArray(tspec.containers) ? tspec.containers : []), ...(Array.isArray(tspec.initContainers) ? tspec.initContainers : [])].filter(isPlainObject).map((c) => c.name));
  const rules = objItems(e, pfp, 'rules', `${path}.rules`);
  if (rules.length > 20) e.tooLong(`${path}.rules`, 20);
  for (const [rule, rp] of rules) {
    const action = str(e, rule, 'action', `${rp}.action`, true);
    if (action !== undefined) {
      if (!(POD_FAILURE_POLICY_ACTIONS as readonly string[]).includes(action)) e.notSupported(`${rp}.action`, action, POD_FAILURE_POLICY_ACTIONS);
      else if (action === 'FailIndex') e.forbidden(`${rp}.action`, 'the FailIndex action needs backoffLimitPerIndex, which is not supported by Flotilla');
    }
    const onExit = obj(e, rule, 'onExitCodes', `${rp}.onExitCodes`);
    const onConds = arr(e, rule, 'onPodConditions', `${rp}.onPodConditions`);
    const hasConds = onConds !== undefined && onConds.length > 0;
    if (onExit && hasConds) e.invalid(rp, '', 'specifying both OnExitCodes and OnPodConditions is not supported');
    else if (!onExit && !hasConds) e.invalid(rp, '', 'specifying one of OnExitCodes and OnPodConditions is required');
    if (onExit) {
      const ep = `${rp}.onExitCodes`;
      const cn = str(e, onExit, 'containerName', `${ep}.containerName`);
      if (cn !== undefined && !containers.has(cn)) e.invalid(`${ep}.containerName`, cn, 'must be one of the container or initContainer names in the pod template');
      const op = str(e, onExit, 'operator', `${ep}.operator`, true);
      if (op !== undefined && op !== 'In' && op !== 'NotIn') e.notSupported(`${ep}.operator`, op, ['In', 'NotIn']);
      const values = arr(e, onExit, 'values', `${ep}.values`) ?? [];
      if (values.length === 0) e.required(`${ep}.values`);
      if (values.length > 255) e.tooLong(`${ep}.values`, 255);
      const seen = new Set<number>();
      let prev: number | undefined;
      values.forEach((v, i) => {
        const vp = `${ep}.values[${i}]`;
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) return e.wrongType(vp, v, 'an integer');
        if (seen.has(v)) e.duplicate(vp, v);
        else if (prev !== undefined && v < prev) e.invalid(vp, v, 'must be ordered');
        if (op === 'In' && v === 0) e.invalid(vp, v, 'must not be 0 for the In operator');
        seen.add(v);
        prev = v;
      });
    }
    for (const [pat, pp] of objItems(e, rule, 'onPodConditions', `${rp}.onPodConditions`)) {
      str(e, pat, 'type', `${pp}.type`, true);
      oneOf(e, pat, 'status', `${pp}.status`, ['True', 'False', 'Unknown']);
    }
  }
}

/**
 * The rules of a JobSpec at `path` (`spec` for a Job, `spec.jobTemplate.spec`
 * for a CronJob). A CronJob's jobTemplate carries no selector (its Jobs get one
 * generated when they are created).
 */
export function validateJobSpec(e: FieldErrors, spec: Obj, path: string, opts: { cronJob: boolean }): void {
  const parallelism = nonNegativeInt(e, spec, 'parallelism', `${path}.parallelism`);
  const completions = nonNegativeInt(e, spec, 'completions', `${path}.completions`);
  nonNegativeInt(e, spec, 'backoffLimit', `${path}.backoffLimit`);
  const ads = int(e, spec, 'activeDeadlineSeconds', `${path}.activeDeadlineSeconds`);
  if (ads !== undefined && ads <= 0) e.invalid(`${path}.activeDeadlineSeconds`, ads, 'must be greater than 0');
  nonNegativeInt(e, spec, 'ttlSecondsAfterFinished', `${path}.ttlSecondsAfterFinished`);
  bool(e, spec, 'suspend', `${path}.suspend`);
  const manual = bool(e, spec, 'manualSelector', `${path}.manualSelector`);
  const mode = str(e, spec, 'completionMode', `${path}.completionMode`);
  if (mode !== undefined && mode !== 'NonIndexed' && mode !== 'Indexed') supportedInOrder(e, `${path}.completionMode`, mode, ['NonIndexed', 'Indexed']);
  if (mode === 'Indexed') {
    if (completions === undefined) e.required(`${path}.completions`, 'when completion mode is Indexed');
    else if (completions > MAX_INDEXED_COMPLETIONS) e.invalid(`${path}.completions`, completions, `must be less than or equal to ${MAX_INDEXED_COMPLETIONS} when completion mode is Indexed`);
    if (parallelism !== undefined && parallelism > MAX_INDEXED_COMPLETIONS) e.invalid(`${path}.parallelism`, parallelism, `must be less than or equal to ${MAX_INDEXED_COMPLETIONS} when completion mode is Indexed`);
  }
  const prp = oneOf(e, spec, 'podReplacementPolicy', `${path}.podReplacementPolicy`, ['TerminatingOrFailed', 'Failed']);
  if (prp === 'TerminatingOrFailed' && spec.podFailurePolicy !== undefined && spec.podFailurePolicy !== null) {
    e.notSupported(`${path}.podReplacementPolicy`, prp, ['Failed']);
  }
  const managedBy = str(e, spec, 'managedBy', `${path}.managedBy`);
  if (managedBy !== undefined && managedBy !== JOB_CONTROLLER_NAME) e.forbidden(`${path}.managedBy`, 'Jobs managed by another controller are not supported by Flotilla');
  for (const f of UNSUPPORTED_JOB_FIELDS) {
    if (spec[f] !== undefined && spec[f] !== null) e.forbidden(`${path}.${f}`, 'not supported by Flotilla');
  }
  const template = obj(e, spec, 'template', `${path}.template`);
  validatePodTemplateSpec(e, template, `${path}.template`);
  const rp = isPlainObject(template?.spec) ? template!.spec.restartPolicy : undefined;
  if (typeof rp === 'string' && rp !== 'OnFailure' && rp !== 'Never') supportedInOrder(e, `${path}.template.spec.restartPolicy`, rp, ['OnFailure', 'Never']);
  validatePodFailurePolicy(e, spec, path, template);
  if (opts.cronJob) {
    if (spec.selector !== undefined && spec.selector !== null) e.invalid(`${path}.selector`, spec.selector, '`selector` will be auto-generated');
    if (manual === true) e.notSupported(`${path}.manualSelector`, true, ['nil', 'false']);
    return;
  }
  // without manualSelector the API server generates the selector (generateJobSelector, on create)
  const generated = manual !== true && (spec.selector === undefined || spec.selector === null);
  if (generated) return;
  const sel = validateLabelSelector(e, spec, 'selector', `${path}.selector`, true);
  checkSelectorMatchesTemplate(e, sel, template, `${path}.selector`, `${path}.template`, 'job');
}

/** The API server's generated selector and labels of a Job without `manualSelector: true`. */
export function generateJobSelector(o: Obj): void {
  const md = isPlainObject(o.metadata) ? o.metadata : {};
  const spec = isPlainObject(o.spec) ? o.spec : undefined;
  if (!spec || spec.manualSelector === true) return;
  const uid = typeof md.uid === 'string' ? md.uid : '';
  const name = typeof md.name === 'string' ? md.name : '';
  if (!isPlainObject(spec.template)) return;
  const t = spec.template;
  if (!isPlainObject(t.metadata)) t.metadata = {};
  const tmd = t.metadata as Obj;
  const labels = isPlainObject(tmd.labels) ? (tmd.labels as Record<string, string>) : {};
  tmd.labels = { ...labels, [JOB_CONTROLLER_UID_LABEL]: uid, [JOB_NAME_LABEL]: name, [LEGACY_CONTROLLER_UID_LABEL]: uid, [LEGACY_JOB_NAME_LABEL]: name };
  // as Kubernetes: the controller-uid requirement is added to a selector the user gave (which then
  // no longer matches the template, or names another uid: both refused by validate)
  const sel = isPlainObject(spec.selector) ? spec.selector : {};
  const ml = isPlainObject(sel.matchLabels) ? (sel.matchLabels as Record<string, string>) : {};
  spec.selector = { ...sel, matchLabels: { ...ml, [JOB_CONTROLLER_UID_LABEL]: ml[JOB_CONTROLLER_UID_LABEL] ?? uid } };
}

/** Fills a JobSpec's defaults as kube-apiserver's SetDefaults_Job does. */
export function defaultJobSpec(spec: Obj): void {
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= spec.podFailurePolicy !== undefined && spec.podFailurePolicy !== null ? 'Failed' : 'TerminatingOrFailed';
  if (isPlainObject(spec.podFailurePolicy) && Array.isArray(spec.podFailurePolicy.rules)) {
    for (const r of spec.podFailurePolicy.rules) {
      if (!isPlainObject(r) || !Array.isArray(r.onPodConditions)) continue;
      for (const p of r.onPodConditions) if (isPlainObject(p)) p.status ??= 'True';
    }
  }
  defaultPodTemplateSpec(spec.template);
}

export function hasJobCondition(o: Obj, type: string): boolean {
  const st = isPlainObject(o.status) ? o.status : {};
  return Array.isArray(st.conditions) && st.conditions.some((c) => isPlainObject(c) && c.type === type && c.status === 'True');
}

/** STATUS as kubectl 1.28+ prints it. */
export function jobStatusText(o: Obj): string {
  const md = isPlainObject(o.metadata) ? o.metadata : {};
  if (hasJobCondition(o, 'Complete')) return 'Complete';
  if (hasJobCondition(o, 'Failed')) return 'Failed';
  if (md.deletionTimestamp) return 'Terminating';
  if (hasJobCondition(o, 'Suspended')) return 'Suspended';
  if (hasJobCondition(o, 'FailureTarget')) return 'FailureTarget';
  if (hasJobCondition(o, 'SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

/** COMPLETIONS as kubectl prints it: `1/3`, work queues `0/1 of 2`. */
export function jobCompletionsText(o: Obj): string {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  const st = isPlainObject(o.status) ? o.status : {};
  const succeeded = typeof st.succeeded === 'number' ? st.succeeded : 0;
  if (typeof spec.completions === 'number') return `${succeeded}/${spec.completions}`;
  const p = typeof spec.parallelism === 'number' ? spec.parallelism : 0;
  return p > 1 ? `${succeeded}/1 of ${p}` : `${succeeded}/1`;
}

/** DURATION: start to completion, or to now while running; empty before the start. */
export function jobDurationText(o: Obj, now: number): string {
  const st = isPlainObject(o.status) ? o.status : {};
  const start = typeof st.startTime === 'string' ? Date.parse(st.startTime) : NaN;
  if (Number.isNaN(start)) return '';
  const end = typeof st.completionTime === 'string' ? Date.parse(st.completionTime) : now;
  return humanDuration((Number.isNaN(end) ? now : end) - start);
}

const IMMUTABLE_JOB_FIELDS = ['completionMode', 'podFailurePolicy', 'podReplacementPolicy', 'manualSelector'] as const;

export const jobTemplateSchema = { metadata: ANY, spec: (podKind.schema.spec ?? ANY) as never };

export const jobSpecSchema = {
  parallelism: ANY,
  completions: ANY,
  activeDeadlineSeconds: ANY,
  backoffLimit: ANY,
  backoffLimitPerIndex: ANY,
  maxFailedIndexes: ANY,
  selector: ANY,
  manualSelector: ANY,
  template: jobTemplateSchema,
  ttlSecondsAfterFinished: ANY,
  completionMode: ANY,
  suspend: ANY,
  podFailurePolicy: ANY,
  podReplacementPolicy: ANY,
  successPolicy: ANY,
  managedBy: ANY,
} as const;

export const jobKind = defineKind(
  {
    group: 'batch',
    version: 'v1',
    kind: 'Job',
    plural: 'jobs',
    namespaced: true,
    categories: ['all'],
    subresources: ['status'],
    defaults(o) {
      if (isPlainObject(o.spec)) defaultJobSpec(o.spec);
    },
    strategy: {
      prepareForCreate(o) {
        delete o.status;
        // the uid is assigned here (kept by the store) so the generated selector can name it
        const md = o.metadata as Obj;
        md.uid = randomUUID();
        generateJobSelector(o);
      },
    },
    validate(e, o, md) {
      const spec = obj(e, o, 'spec', 'spec', true);
      if (!spec) return;
      if (spec.manualSelector !== true && isPlainObject(spec.selector) && typeof md.uid === 'string') {
        // a selector given without manualSelector must be the generated one
        const ml = isPlainObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
        if (ml[JOB_CONTROLLER_UID_LABEL] !== md.uid) {
          e.invalid('spec.selector', spec.selector, '`selector` not auto-generated');
        }
      }
      validateJobSpec(e, spec, 'spec', { cronJob: false });
    },
    validateUpdate(e, o, old) {
      const spec = isPlainObject(o.spec) ? o.spec : {};
      const os = isPlainObject(old.spec) ? old.spec : {};
      if (!jsonEqual(spec.selector ?? null, os.selector ?? null)) e.invalid('spec.selector', spec.selector ?? null, 'field is immutable');
      if (!jsonEqual(spec.template ?? null, os.template ?? null)) e.invalid('spec.template', spec.template ?? null, 'field is immutable');
      if (!jsonEqual(spec.completions ?? null, os.completions ?? null)) e.invalid('spec.completions', spec.completions ?? null, 'field is immutable');
      for (const f of IMMUTABLE_JOB_FIELDS) {
        if (!jsonEqual(spec[f] ?? null, os[f] ?? null)) e.invalid(`spec.${f}`, spec[f] ?? null, 'field is immutable');
      }
    },
    schema: { spec: jobSpecSchema, status: ANY },
    mergeKeys: { ...podKind.mergeKeys },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Status'),
        column('Completions'),
        column('Duration'),
        column('Age'),
        column('Containers', { priority: 1 }),
        column('Images', { priority: 1 }),
        column('Selector', { priority: 1 }),
      ],
      cells: (o, now) => {
        const md = (o.metadata ?? {}) as Obj;
        const spec = isPlainObject(o.spec) ? o.spec : {};
        return [
          md.name ?? '',
          jobStatusText(o),
          jobCompletionsText(o),
          jobDurationText(o, now),
          age(md.creationTimestamp as string | undefined, now),
          ...workloadWideCells(spec),
        ];
      },
    },
  },
  FALLBACK,
);
