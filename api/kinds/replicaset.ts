// ReplicaSet (apps/v1): keeps `replicas` pods matching its selector, run by the
// replicaset controller (controller/replicaset/). Defaults, validation wording
// and printer columns are kube-apiserver's and kubectl's. The helpers shared
// with Deployment (printer cells, the scale subresource's accessors) live here.
import type { KubeObject } from '../meta.js';
import type { PodSpec } from '../types.js';
import { isPlainObject, jsonEqual } from '../helpers.js';
import { ANY, column, defineKind, type ScaleAccessors } from '../kind.js';
import { age } from '../printers/age.js';
import { formatLabelSelector, labelSelectorFromObject, type LabelSelector } from '../label-selector.js';
import { FieldErrors, int, obj } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { podKind } from './pod.js';
import { checkSelectorMatchesTemplate, defaultPodTemplateSpec, validateLabelSelector, validatePodTemplateSpec } from './pod-template.js';

type Obj = Record<string, unknown>;

export interface WorkloadPodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}

export interface WorkloadCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastUpdateTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface ReplicaSetSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector: LabelSelector;
  template: WorkloadPodTemplate;
}

export interface ReplicaSetStatus {
  replicas: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: WorkloadCondition[];
}

export interface ReplicaSet extends KubeObject {
  apiVersion?: 'apps/v1';
  kind?: 'ReplicaSet';
  spec: ReplicaSetSpec;
  status?: ReplicaSetStatus;
}

/** `spec.selector` as kubectl prints it (`app=web`), `<none>` when absent. */
export function workloadSelectorText(sel: unknown): string {
  if (!isPlainObject(sel)) return '<none>';
  try {
    const s = formatLabelSelector(labelSelectorFromObject(sel as LabelSelector));
    return s === '' ? '<none>' : s;
  } catch {
    return '<invalid>';
  }
}

/** The containers of a pod template's spec. */
function templateContainers(template: unknown): Obj[] {
  const ps = isPlainObject(template) && isPlainObject(template.spec) ? template.spec : {};
  return Array.isArray(ps.containers) ? (ps.containers.filter(isPlainObject) as Obj[]) : [];
}

/** The containers of `spec.template.spec` (for the CONTAINERS and IMAGES columns). */
export function workloadContainers(o: Obj): Obj[] {
  return templateContainers(isPlainObject(o.spec) ? o.spec.template : undefined);
}

/**
 * The `-o wide` cells every workload ends its row with — CONTAINERS, IMAGES,
 * SELECTOR — from a spec that holds `template` and `selector` (a CronJob
 * passes its jobTemplate's spec), so the kinds cannot drift apart.
 */
export function workloadWideCells(spec: unknown): [string, string, string] {
  const s = isPlainObject(spec) ? spec : {};
  const cs = templateContainers(s.template);
  return [cs.map((c) => String(c.name ?? '')).join(','), cs.map((c) => String(c.image ?? '')).join(','), workloadSelectorText(s.selector)];
}

/** The rules ReplicaSet and Deployment share: replicas, minReadySeconds, selector, template (restartPolicy Always). */
export function validateReplicatedSpec(e: FieldErrors, spec: Obj): void {
  const replicas = int(e, spec, 'replicas', 'spec.replicas');
  if (replicas !== undefined && replicas < 0) e.invalid('spec.replicas', replicas, 'must be greater than or equal to 0');
  const mrs = int(e, spec, 'minReadySeconds', 'spec.minReadySeconds');
  if (mrs !== undefined && mrs < 0) e.invalid('spec.minReadySeconds', mrs, 'must be greater than or equal to 0');
  const sel = validateLabelSelector(e, spec, 'selector', 'spec.selector', true);
  const template = obj(e, spec, 'template', 'spec.template');
  validatePodTemplateSpec(e, template, 'spec.template', ['Always']);
  checkSelectorMatchesTemplate(e, sel, template, 'spec.selector', 'spec.template', 'deployment');
  const tspec = isPlainObject(template?.spec) ? template!.spec : undefined;
  if (tspec && tspec.activeDeadlineSeconds !== undefined && tspec.activeDeadlineSeconds !== null) {
    e.forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in ReplicaSet is not Supported');
  }
}

/** apps/v1: the selector of a ReplicaSet or Deployment never changes. */
export function validateSelectorImmutable(e: FieldErrors, o: Obj, old: Obj): void {
  const sel = isPlainObject(o.spec) ? o.spec.selector : undefined;
  const oldSel = isPlainObject(old.spec) ? old.spec.selector : undefined;
  if (!jsonEqual(sel ?? null, oldSel ?? null)) e.invalid('spec.selector', sel ?? null, 'field is immutable');
}

export const replicatedScale: ScaleAccessors = {
  specReplicas: (o) => (isPlainObject(o.spec) && typeof o.spec.replicas === 'number' ? o.spec.replicas : 1),
  statusReplicas: (o) => (isPlainObject(o.status) && typeof o.status.replicas === 'number' ? o.status.replicas : 0),
  selector: (o) => {
    const s = isPlainObject(o.spec) ? workloadSelectorText(o.spec.selector) : '<none>';
    return s === '<none>' || s === '<invalid>' ? '' : s;
  },
  setSpecReplicas: (o, n) => {
    if (!isPlainObject(o.spec)) o.spec = {};
    (o.spec as Obj).replicas = n;
  },
};

export const templateSchema = { metadata: ANY, spec: (podKind.schema.spec ?? ANY) as never };

export const replicaSetKind = defineKind(
  {
    group: 'apps',
    version: 'v1',
    kind: 'ReplicaSet',
    plural: 'replicasets',
    shortNames: ['rs'],
    namespaced: true,
    categories: ['all'],
    subresources: ['status', 'scale'],
    scale: replicatedScale,
    defaults(o) {
      if (!isPlainObject(o.spec)) return;
      o.spec.replicas ??= 1;
      defaultPodTemplateSpec(o.spec.template);
    },
    validate(e, o) {
      const spec = obj(e, o, 'spec', 'spec', true);
      if (spec) validateReplicatedSpec(e, spec);
    },
    validateUpdate: validateSelectorImmutable,
    schema: {
      spec: { replicas: ANY, minReadySeconds: ANY, selector: ANY, template: templateSchema },
      status: ANY,
    },
    mergeKeys: { ...podKind.mergeKeys },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Desired', { type: 'integer' }),
        column('Current', { type: 'integer' }),
        column('Ready', { type: 'integer' }),
        column('Age'),
        column('Containers', { priority: 1 }),
        column('Images', { priority: 1 }),
        column('Selector', { priority: 1 }),
      ],
      cells: (o, now) => {
        const md = (o.metadata ?? {}) as Obj;
        const spec = isPlainObject(o.spec) ? o.spec : {};
        const st = isPlainObject(o.status) ? o.status : {};
        const n = (k: string) => (typeof st[k] === 'number' ? st[k] : 0);
        return [
          md.name ?? '',
          typeof spec.replicas === 'number' ? spec.replicas : 0,
          n('replicas'),
          n('readyReplicas'),
          age(md.creationTimestamp as string | undefined, now),
          ...workloadWideCells(spec),
        ];
      },
    },
  },
  FALLBACK,
);
