// PodDisruptionBudget (policy/v1): how many of a set of pods must stay healthy
// during voluntary disruptions (evictions, drains). Its status is kept by the
// disruption controller (controller/disruption/) and read — and decremented
// with compare-and-swap — by the pods/eviction subresource
// (controller/apiserver/eviction.ts). Validation wording and printer columns
// are kube-apiserver's and kubectl's; the arithmetic is here, pure.
import type { KubeObject } from '../meta.js';
import type { IntOrString } from '../types.js';
import { isPlainObject } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import type { LabelSelector } from '../label-selector.js';
import { FieldErrors, obj, oneOf } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { validateLabelSelector } from './pod-template.js';

type Obj = Record<string, unknown>;

export interface PodDisruptionBudgetSpec {
  minAvailable?: IntOrString;
  maxUnavailable?: IntOrString;
  selector?: LabelSelector;
  unhealthyPodEvictionPolicy?: 'IfHealthyBudget' | 'AlwaysAllow';
}

export interface PodDisruptionBudgetStatus {
  observedGeneration?: number;
  /** Pods being evicted, by name, with the time of their eviction (the controller drops them once gone or after 2 min). */
  disruptedPods?: Record<string, string>;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  expectedPods: number;
  conditions?: { type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string; lastTransitionTime?: string; observedGeneration?: number }[];
}

export interface PodDisruptionBudget extends KubeObject {
  apiVersion?: 'policy/v1';
  kind?: 'PodDisruptionBudget';
  spec?: PodDisruptionBudgetSpec;
  status?: PodDisruptionBudgetStatus;
}

const PERCENT_RE = /^[0-9]+%$/;

/** An int or `N%` of `total`, rounded up or down (Kubernetes' GetScaledValueFromIntOrPercent). */
export function scaledValue(v: IntOrString, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (!PERCENT_RE.test(v)) return 0;
  const x = (Number(v.slice(0, -1)) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/**
 * Kubernetes' disruption arithmetic: `pods` is how many pods the selector
 * matches, `scale` the replicas their controllers want (used for
 * maxUnavailable and a percent minAvailable), `healthy` how many are Ready.
 * Percentages round up (minAvailable: more must stay; maxUnavailable: of the
 * scale, rounded up, as the disruption controller does).
 */
export function budgetStatus(
  spec: PodDisruptionBudgetSpec,
  counts: { pods: number; scale: number; healthy: number },
): { expectedPods: number; desiredHealthy: number; currentHealthy: number; disruptionsAllowed: number } {
  let expectedPods = counts.pods;
  let desiredHealthy = 0;
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
    expectedPods = counts.scale;
    desiredHealthy = Math.max(0, expectedPods - scaledValue(spec.maxUnavailable, expectedPods, true));
  } else if (spec.minAvailable !== undefined && spec.minAvailable !== null) {
    if (typeof spec.minAvailable === 'number') {
      desiredHealthy = spec.minAvailable;
    } else {
      expectedPods = counts.scale;
      desiredHealthy = scaledValue(spec.minAvailable, expectedPods, true);
    }
  }
  const disruptionsAllowed = Math.max(0, counts.healthy - desiredHealthy);
  return { expectedPods, desiredHealthy, currentHealthy: counts.healthy, disruptionsAllowed };
}

/** ValidatePositiveIntOrPercent + IsNotMoreThan100Percent at `path`. */
function intOrPercent(e: FieldErrors, parent: Obj, key: string, path: string): void {
  const v = parent[key];
  if (v === undefined || v === null) return;
  if (typeof v === 'string') {
    if (!PERCENT_RE.test(v)) {
      e.invalid(path, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
      return;
    }
    if (Number(v.slice(0, -1)) > 100) e.invalid(path, v, 'must not be greater than 100%');
    return;
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (v < 0) e.invalid(path, v, 'must be greater than or equal to 0');
    return;
  }
  e.wrongType(path, v, 'an integer');
}

function validatePdb(e: FieldErrors, o: Obj): void {
  const spec = obj(e, o, 'spec', 'spec');
  if (!spec) return;
  const has = (k: string) => spec[k] !== undefined && spec[k] !== null;
  if (has('minAvailable') && has('maxUnavailable')) e.invalid('spec', '<object>', 'minAvailable and maxUnavailable cannot be both set');
  intOrPercent(e, spec, 'minAvailable', 'spec.minAvailable');
  intOrPercent(e, spec, 'maxUnavailable', 'spec.maxUnavailable');
  validateLabelSelector(e, spec, 'selector', 'spec.selector', false);
  oneOf(e, spec, 'unhealthyPodEvictionPolicy', 'spec.unhealthyPodEvictionPolicy', ['AlwaysAllow', 'IfHealthyBudget']);
}

const cellOf = (v: unknown) => (v === undefined || v === null ? 'N/A' : String(v));

export const podDisruptionBudgetKind = defineKind(
  {
    group: 'policy',
    version: 'v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    shortNames: ['pdb'],
    namespaced: true,
    subresources: ['status'],
    validate: (e, o) => validatePdb(e, o),
    schema: { spec: { minAvailable: ANY, maxUnavailable: ANY, selector: ANY, unhealthyPodEvictionPolicy: ANY }, status: ANY },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Min Available'),
        column('Max Unavailable'),
        column('Allowed Disruptions', { type: 'integer' }),
        column('Age'),
      ],
      cells: (o, now) => {
        const md = (o.metadata ?? {}) as Obj;
        const spec = isPlainObject(o.spec) ? o.spec : {};
        const st = isPlainObject(o.status) ? o.status : {};
        return [
          md.name ?? '',
          cellOf(spec.minAvailable),
          cellOf(spec.maxUnavailable),
          typeof st.disruptionsAllowed === 'number' ? st.disruptionsAllowed : 0,
          age(md.creationTimestamp as string | undefined, now),
        ];
      },
    },
  },
  FALLBACK,
);
