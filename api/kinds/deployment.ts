// Deployment (apps/v1): rolls a pod template out through ReplicaSets, run by
// the deployment controller (controller/deployment/). Defaults, validation
// wording and printer columns are kube-apiserver's and kubectl's.
import type { KubeObject } from '../meta.js';
import type { IntOrString } from '../types.js';
import { isPlainObject } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import type { LabelSelector } from '../label-selector.js';
import { FieldErrors, bool, int, obj } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { podKind } from './pod.js';
import { defaultPodTemplateSpec } from './pod-template.js';
import {
  replicatedScale,
  templateSchema,
  validateReplicatedSpec,
  validateSelectorImmutable,
  workloadWideCells,
  type WorkloadCondition,
  type WorkloadPodTemplate,
} from './replicaset.js';

type Obj = Record<string, unknown>;

export interface DeploymentSpec {
  replicas?: number;
  selector: LabelSelector;
  template: WorkloadPodTemplate;
  strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxUnavailable?: IntOrString; maxSurge?: IntOrString } };
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  progressDeadlineSeconds?: number;
}

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: WorkloadCondition[];
  collisionCount?: number;
}

export interface Deployment extends KubeObject {
  apiVersion?: 'apps/v1';
  kind?: 'Deployment';
  spec: DeploymentSpec;
  status?: DeploymentStatus;
}

const PERCENT_RE = /^[0-9]+%$/;

/**
 * Kubernetes' GetScaledValueFromIntOrPercent: an int as is, `N%` of `total`
 * rounded up (`roundUp`) or down. 0 for garbage (validation refuses it).
 */
export function scaleIntOrPercent(v: IntOrString | undefined, total: number, roundUp: boolean): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return Number.isInteger(v) ? v : 0;
  if (!PERCENT_RE.test(v)) return 0;
  const x = (Number(v.slice(0, -1)) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/**
 * ValidatePositiveIntOrPercent at `path`; `notOver100`: IsNotMoreThan100Percent too.
 * Returns the value when valid (int or percent), undefined otherwise.
 */
function intOrPercent(e: FieldErrors, parent: Obj, key: string, path: string, notOver100: boolean): IntOrString | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    if (!PERCENT_RE.test(v)) {
      e.invalid(path, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
      return undefined;
    }
    if (notOver100 && Number(v.slice(0, -1)) > 100) e.invalid(path, v, 'must not be greater than 100%');
    return v;
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (v < 0) e.invalid(path, v, 'must be greater than or equal to 0');
    return v;
  }
  e.wrongType(path, v, 'an integer');
  return undefined;
}

const isZero = (v: IntOrString | undefined): boolean => v === undefined || v === 0 || (typeof v === 'string' && Number(v.slice(0, -1)) === 0);

function validateDeployment(e: FieldErrors, o: Obj): void {
  const spec = obj(e, o, 'spec', 'spec', true);
  if (!spec) return;
  validateReplicatedSpec(e, spec);
  const rhl = int(e, spec, 'revisionHistoryLimit', 'spec.revisionHistoryLimit');
  if (rhl !== undefined && rhl < 0) e.invalid('spec.revisionHistoryLimit', rhl, 'must be greater than or equal to 0');
  bool(e, spec, 'paused', 'spec.paused');
  const pds = int(e, spec, 'progressDeadlineSeconds', 'spec.progressDeadlineSeconds');
  if (pds !== undefined) {
    if (pds < 0) e.invalid('spec.progressDeadlineSeconds', pds, 'must be greater than or equal to 0');
    const mrs = typeof spec.minReadySeconds === 'number' ? spec.minReadySeconds : 0;
    if (pds <= mrs) e.invalid('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds');
  }
  const st = obj(e, spec, 'strategy', 'spec.strategy');
  if (!st) return;
  const type = st.type;
  if (type !== 'Recreate' && type !== 'RollingUpdate') {
    if (type === undefined || type === null || type === '') e.required('spec.strategy.type');
    else e.notSupported('spec.strategy.type', type, ['Recreate', 'RollingUpdate']);
    return;
  }
  if (type === 'Recreate') {
    if (st.rollingUpdate !== undefined && st.rollingUpdate !== null) e.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'");
    return;
  }
  const ru = obj(e, st, 'rollingUpdate', 'spec.strategy.rollingUpdate');
  if (!ru) return;
  const p = 'spec.strategy.rollingUpdate';
  const unavailable = intOrPercent(e, ru, 'maxUnavailable', `${p}.maxUnavailable`, true);
  const surge = intOrPercent(e, ru, 'maxSurge', `${p}.maxSurge`, false);
  const bad = (v: unknown) => v !== undefined && v !== null && (typeof v === 'number' ? v < 0 || !Number.isInteger(v) : typeof v !== 'string' || !PERCENT_RE.test(v));
  if (!bad(ru.maxUnavailable) && !bad(ru.maxSurge) && isZero(unavailable) && isZero(surge)) {
    e.invalid(`${p}.maxUnavailable`, ru.maxUnavailable ?? 0, 'may not be 0 when `maxSurge` is 0');
  }
}

function defaultDeployment(o: Obj): void {
  const spec = o.spec;
  if (!isPlainObject(spec)) return;
  spec.replicas ??= 1;
  if (spec.strategy === undefined || spec.strategy === null) spec.strategy = {};
  const st = spec.strategy;
  if (isPlainObject(st)) {
    st.type ??= 'RollingUpdate';
    if (st.type === 'RollingUpdate') {
      if (st.rollingUpdate === undefined || st.rollingUpdate === null) st.rollingUpdate = {};
      if (isPlainObject(st.rollingUpdate)) {
        st.rollingUpdate.maxUnavailable ??= '25%';
        st.rollingUpdate.maxSurge ??= '25%';
      }
    }
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  defaultPodTemplateSpec(spec.template);
}

/** What `kubectl rollout status` prints for a deployment (done: the rollout finished). */
export function rolloutStatusMessage(d: Deployment): { message: string; done: boolean; error?: string } {
  const name = d.metadata.name ?? '';
  const st = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (st.observedGeneration ?? 0)) return { message: 'Waiting for deployment spec update to be observed...', done: false };
  const prog = st.conditions?.find((c) => c.type === 'Progressing');
  if (prog?.reason === 'ProgressDeadlineExceeded') return { message: '', done: false, error: `deployment "${name}" exceeded its progress deadline` };
  const replicas = d.spec.replicas ?? 1;
  const updated = st.updatedReplicas ?? 0;
  const total = st.replicas ?? 0;
  const avail = st.availableReplicas ?? 0;
  if (updated < replicas) return { message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${replicas} new replicas have been updated...`, done: false };
  if (total > updated) return { message: `Waiting for deployment "${name}" rollout to finish: ${total - updated} old replicas are pending termination...`, done: false };
  if (avail < updated) return { message: `Waiting for deployment "${name}" rollout to finish: ${avail} of ${updated} updated replicas are available...`, done: false };
  return { message: `deployment "${name}" successfully rolled out`, done: true };
}

export const deploymentKind = defineKind(
  {
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    plural: 'deployments',
    shortNames: ['deploy'],
    namespaced: true,
    categories: ['all'],
    subresources: ['status', 'scale'],
    scale: replicatedScale,
    defaults: defaultDeployment,
    validate: (e, o) => validateDeployment(e, o),
    validateUpdate: validateSelectorImmutable,
    schema: {
      spec: {
        replicas: ANY,
        selector: ANY,
        template: templateSchema,
        strategy: { type: ANY, rollingUpdate: { maxUnavailable: ANY, maxSurge: ANY } },
        minReadySeconds: ANY,
        revisionHistoryLimit: ANY,
        paused: ANY,
        progressDeadlineSeconds: ANY,
      },
      status: ANY,
    },
    mergeKeys: { ...podKind.mergeKeys },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Ready'),
        column('Up-to-date', { type: 'integer' }),
        column('Available', { type: 'integer' }),
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
          `${n('readyReplicas')}/${typeof spec.replicas === 'number' ? spec.replicas : 0}`,
          n('updatedReplicas'),
          n('availableReplicas'),
          age(md.creationTimestamp as string | undefined, now),
          ...workloadWideCells(spec),
        ];
      },
    },
  },
  FALLBACK,
);
