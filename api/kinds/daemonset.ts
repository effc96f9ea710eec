// DaemonSet (apps/v1): one pod per matching node, kept by the daemonset
// controller (controller/daemonset/). Defaults, validation wording and the
// printer columns are kube-apiserver's and kubectl's.
import type { KubeObject } from '../meta.js';
import type { IntOrString, PodSpec } from '../types.js';
import { isPlainObject, jsonEqual } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import type { LabelSelector } from '../label-selector.js';
import { FieldErrors, int, obj, oneOf } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { podKind } from './pod.js';
import { checkSelectorMatchesTemplate, defaultPodTemplateSpec, validateLabelSelector, validatePodTemplateSpec } from './pod-template.js';
import { workloadWideCells } from './replicaset.js';

type Obj = Record<string, unknown>;

export interface DaemonSetSpec {
  selector: LabelSelector;
  template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { maxUnavailable?: IntOrString; maxSurge?: IntOrString } };
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
}

export interface DaemonSetCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface DaemonSetStatus {
  currentNumberScheduled: number;
  numberMisscheduled: number;
  desiredNumberScheduled: number;
  numberReady: number;
  observedGeneration?: number;
  updatedNumberScheduled?: number;
  numberAvailable?: number;
  numberUnavailable?: number;
  collisionCount?: number;
  conditions?: DaemonSetCondition[];
}

export interface DaemonSet extends KubeObject {
  apiVersion?: 'apps/v1';
  kind?: 'DaemonSet';
  spec: DaemonSetSpec;
  status?: DaemonSetStatus;
}

const PERCENT = /^(?:0|[1-9][0-9]*)%$/;

/**
 * Kubernetes' GetScaledValueFromIntOrPercent: an int as is, `N%` of `total`
 * rounded up (`roundUp`) or down. Undefined for garbage (validation refuses it).
 */
export function scaledIntOrPercent(v: IntOrString | undefined, total: number, roundUp: boolean): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return Number.isInteger(v) ? v : undefined;
  if (!PERCENT.test(v)) return undefined;
  const p = Number(v.slice(0, -1));
  const x = (p * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/** ValidatePositiveIntOrPercent + IsNotMoreThan100Percent, worded as kube-apiserver. Returns whether it is zero (absent: yes; garbage: undefined). */
function validateIntOrPercent(e: FieldErrors, parent: Obj, key: string, path: string): boolean | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return true; // absent counts as 0
  if (typeof v === 'string') {
    if (!PERCENT.test(v)) {
      e.invalid(path, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
      return undefined;
    }
    const p = Number(v.slice(0, -1));
    if (p > 100) e.invalid(path, v, 'must not be greater than 100%');
    return p === 0;
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (v < 0) e.invalid(path, v, 'must be greater than or equal to 0');
    return v === 0;
  }
  e.wrongType(path, v, 'an integer');
  return undefined;
}

function validateDaemonSetSpec(e: FieldErrors, o: Obj): void {
  const spec = obj(e, o, 'spec', 'spec', true);
  if (!spec) return;
  const sel = validateLabelSelector(e, spec, 'selector', 'spec.selector', true);
  const template = obj(e, spec, 'template', 'spec.template');
  validatePodTemplateSpec(e, template, 'spec.template', ['Always']);
  checkSelectorMatchesTemplate(e, sel, template, 'spec.selector', 'spec.template', 'daemonset');
  const tspec = isPlainObject(template?.spec) ? template!.spec : undefined;
  if (tspec && tspec.activeDeadlineSeconds !== undefined && tspec.activeDeadlineSeconds !== null) {
    e.forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in DaemonSet is not Supported');
  }
  const mrs = int(e, spec, 'minReadySeconds', 'spec.minReadySeconds');
  if (mrs !== undefined && mrs < 0) e.invalid('spec.minReadySeconds', mrs, 'must be greater than or equal to 0');
  const rhl = int(e, spec, 'revisionHistoryLimit', 'spec.revisionHistoryLimit');
  if (rhl !== undefined && rhl < 0) e.invalid('spec.revisionHistoryLimit', rhl, 'must be greater than or equal to 0');
  int(e, spec, 'templateGeneration', 'spec.templateGeneration');
  const us = obj(e, spec, 'updateStrategy', 'spec.updateStrategy');
  if (!us) return;
  const type = us.type;
  if (typeof type !== 'string' || !['OnDelete', 'RollingUpdate'].includes(type)) {
    e.notSupported('spec.updateStrategy', type ?? '', ['OnDelete', 'RollingUpdate']);
  }
  if (type !== 'RollingUpdate') return;
  const ru = obj(e, us, 'rollingUpdate', 'spec.updateStrategy.rollingUpdate');
  if (!ru) return;
  const p = 'spec.updateStrategy.rollingUpdate';
  const unavailZero = validateIntOrPercent(e, ru, 'maxUnavailable', `${p}.maxUnavailable`);
  const surgeZero = validateIntOrPercent(e, ru, 'maxSurge', `${p}.maxSurge`);
  // kube-apiserver: exactly one of the two is non-zero
  const hasUnavailable = unavailZero === false;
  const hasSurge = surgeZero === false;
  if (hasUnavailable && hasSurge) e.invalid(`${p}.maxSurge`, ru.maxSurge, 'may not be set when maxUnavailable is non-zero');
  else if (!hasUnavailable && !hasSurge && unavailZero !== undefined && surgeZero !== undefined) e.required(`${p}.maxUnavailable`, 'cannot be 0 when maxSurge is 0');
}

function defaultDaemonSet(o: Obj): void {
  const spec = o.spec;
  if (!isPlainObject(spec)) return;
  if (spec.updateStrategy === undefined) spec.updateStrategy = {};
  const us = spec.updateStrategy;
  if (isPlainObject(us)) {
    us.type ??= 'RollingUpdate';
    if (us.type === 'RollingUpdate') {
      if (us.rollingUpdate === undefined) us.rollingUpdate = {};
      if (isPlainObject(us.rollingUpdate)) {
        us.rollingUpdate.maxUnavailable ??= 1;
        us.rollingUpdate.maxSurge ??= 0;
      }
    }
  }
  spec.revisionHistoryLimit ??= 10;
  defaultPodTemplateSpec(spec.template);
}

/** The annotation kube-apiserver keeps the template generation in (1 on create, +1 on every template change); daemon pods carry it as the `pod-template-generation` label. */
export const TEMPLATE_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';

function setTemplateGeneration(o: Obj, gen: number): void {
  if (!isPlainObject(o.metadata)) return;
  const md = o.metadata;
  md.annotations = { ...(isPlainObject(md.annotations) ? md.annotations : {}), [TEMPLATE_GENERATION_ANNOTATION]: String(gen) };
}

function templateGenerationOf(o: Obj): number {
  const md = isPlainObject(o.metadata) ? o.metadata : {};
  const a = isPlainObject(md.annotations) ? md.annotations[TEMPLATE_GENERATION_ANNOTATION] : undefined;
  const n = typeof a === 'string' ? Number(a) : NaN;
  return Number.isInteger(n) && n > 0 ? n : 1;
}

function nodeSelectorText(ns: unknown): string {
  if (!isPlainObject(ns)) return '<none>';
  const keys = Object.keys(ns).sort();
  return keys.length === 0 ? '<none>' : keys.map((k) => `${k}=${String(ns[k])}`).join(',');
}

export const daemonSetKind = defineKind(
  {
    group: 'apps',
    version: 'v1',
    kind: 'DaemonSet',
    plural: 'daemonsets',
    shortNames: ['ds'],
    namespaced: true,
    categories: ['all'],
    subresources: ['status'],
    defaults: defaultDaemonSet,
    validate: (e, o) => validateDaemonSetSpec(e, o),
    validateUpdate(e, o, old) {
      const sel = isPlainObject(o.spec) ? o.spec.selector : undefined;
      const oldSel = isPlainObject(old.spec) ? old.spec.selector : undefined;
      if (!jsonEqual(sel ?? null, oldSel ?? null)) e.invalid('spec.selector', sel ?? null, 'field is immutable');
    },
    schema: {
      spec: {
        selector: ANY,
        template: { metadata: ANY, spec: (podKind.schema.spec ?? ANY) as never },
        updateStrategy: { type: ANY, rollingUpdate: { maxUnavailable: ANY, maxSurge: ANY } },
        minReadySeconds: ANY,
        revisionHistoryLimit: ANY,
        templateGeneration: ANY,
      },
      status: ANY,
    },
    mergeKeys: { ...podKind.mergeKeys },
    strategy: {
      prepareForCreate: (o) => setTemplateGeneration(o, 1),
      prepareForUpdate(next, old) {
        const tpl = (x: Obj) => (isPlainObject(x.spec) ? x.spec.template : undefined);
        const gen = templateGenerationOf(old);
        setTemplateGeneration(next, jsonEqual(tpl(next) ?? null, tpl(old) ?? null) ? gen : gen + 1);
      },
    },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Desired', { type: 'integer' }),
        column('Current', { type: 'integer' }),
        column('Ready', { type: 'integer' }),
        column('Up-to-date', { type: 'integer' }),
        column('Available', { type: 'integer' }),
        column('Node Selector'),
        column('Age'),
        column('Containers', { priority: 1 }),
        column('Images', { priority: 1 }),
        column('Selector', { priority: 1 }),
      ],
      cells: (o, now) => {
        const md = (o.metadata ?? {}) as Obj;
        const st = (isPlainObject(o.status) ? o.status : {}) as Obj;
        const spec = isPlainObject(o.spec) ? o.spec : {};
        const t = isPlainObject(spec.template) ? spec.template : {};
        const ps = isPlainObject(t.spec) ? t.spec : {};
        const n = (k: string) => (typeof st[k] === 'number' ? st[k] : 0);
        return [
          md.name ?? '',
          n('desiredNumberScheduled'),
          n('currentNumberScheduled'),
          n('numberReady'),
          n('updatedNumberScheduled'),
          n('numberAvailable'),
          nodeSelectorText(ps.nodeSelector),
          age(md.creationTimestamp as string | undefined, now),
          ...workloadWideCells(spec),
        ];
      },
    },
  },
  FALLBACK,
);
