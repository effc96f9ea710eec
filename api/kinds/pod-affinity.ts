// spec.affinity of a pod (and of every pod template): its types and its
// validation, worded as kube-apiserver's. Node affinity is carried out by the
// scheduler (controller/scheduler/plugins/node-affinity.ts), inter-pod
// affinity and anti-affinity by its InterPodAffinity plugin; the parts it
// cannot carry out (a non-empty namespaceSelector, matchLabelKeys) are refused
// rather than accepted and ignored.
import { labelValueErrors, qualifiedNameErrors, dns1123SubdomainErrors } from '../validation-rules.js';
import type { LabelSelector } from '../label-selector.js';
import { FieldErrors, int, obj, objItems, str, stringArray, stringMap, validateLabels } from '../validation-core.js';

type Obj = Record<string, unknown>;

export type NodeSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface NodeSelectorRequirement {
  key: string;
  operator: NodeSelectorOperator;
  values?: string[];
}

/** Requirements ANDed; a term with neither list matches no node. */
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** Terms ORed. */
export interface NodeSelector {
  nodeSelectorTerms: NodeSelectorTerm[];
}

export interface PreferredSchedulingTerm {
  weight: number;
  preference: NodeSelectorTerm;
}

export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: NodeSelector;
  preferredDuringSchedulingIgnoredDuringExecution?: PreferredSchedulingTerm[];
}

/** Pods matching labelSelector in namespaces (default: the pod's own; `namespaceSelector: {}`: all) within topologyKey's domain. */
export interface PodAffinityTerm {
  labelSelector?: LabelSelector | null;
  namespaces?: string[];
  /** Only the empty selector (every namespace) is supported: the scheduler does not see namespace labels. */
  namespaceSelector?: LabelSelector | null;
  topologyKey: string;
}

export interface WeightedPodAffinityTerm {
  weight: number;
  podAffinityTerm: PodAffinityTerm;
}

export interface PodAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
  preferredDuringSchedulingIgnoredDuringExecution?: WeightedPodAffinityTerm[];
}

export interface Affinity {
  nodeAffinity?: NodeAffinity;
  podAffinity?: PodAffinity;
  podAntiAffinity?: PodAffinity;
}

export const NODE_SELECTOR_OPERATORS: readonly NodeSelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'];

/** The only field a node field selector may name (as Kubernetes). */
export const NODE_FIELD_METADATA_NAME = 'metadata.name';

function validateLabelRequirement(e: FieldErrors, r: Obj, p: string): void {
  const key = str(e, r, 'key', `${p}.key`, true);
  if (key !== undefined) e.rule(`${p}.key`, key, qualifiedNameErrors(key));
  const op = str(e, r, 'operator', `${p}.operator`, true);
  const values = stringArray(e, r, 'values', `${p}.values`) ?? [];
  switch (op) {
    case undefined:
      break;
    case 'In':
    case 'NotIn':
      if (values.length === 0) e.required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length > 0) e.forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
      break;
    case 'Gt':
    case 'Lt':
      if (values.length !== 1) e.required(`${p}.values`, "must be specified single value when `operator` is 'Lt' or 'Gt'");
      break;
    default:
      e.invalid(`${p}.operator`, op, 'not a valid selector operator');
  }
  for (const [i, v] of values.entries()) e.rule(`${p}.values[${i}]`, v, labelValueErrors(v));
}

function validateFieldRequirement(e: FieldErrors, r: Obj, p: string): void {
  const key = str(e, r, 'key', `${p}.key`, true);
  const op = str(e, r, 'operator', `${p}.operator`, true);
  const values = stringArray(e, r, 'values', `${p}.values`) ?? [];
  if (op === 'In' || op === 'NotIn') {
    if (values.length !== 1) e.required(`${p}.values`, "must be only one value when `operator` is 'In' or 'NotIn' for node field selector");
  } else if (op !== undefined) {
    e.invalid(`${p}.operator`, op, 'not a valid selector operator');
  }
  if (key !== undefined && key !== NODE_FIELD_METADATA_NAME) e.invalid(`${p}.key`, key, 'not a valid field selector key');
  else if (key !== undefined) for (const [i, v] of values.entries()) e.rule(`${p}.values[${i}]`, v, dns1123SubdomainErrors(v));
}

function validateTerm(e: FieldErrors, term: Obj, p: string): void {
  for (const [r, rp] of objItems(e, term, 'matchExpressions', `${p}.matchExpressions`)) validateLabelRequirement(e, r, rp);
  for (const [r, rp] of objItems(e, term, 'matchFields', `${p}.matchFields`)) validateFieldRequirement(e, r, rp);
}

const LABEL_SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

function validateLabelSelectorAt(e: FieldErrors, parent: Obj, key: string, p: string): Obj | undefined {
  const sel = obj(e, parent, key, p);
  if (!sel) return undefined;
  validateLabels(e, stringMap(e, sel, 'matchLabels', `${p}.matchLabels`), `${p}.matchLabels`);
  for (const [x, xp] of objItems(e, sel, 'matchExpressions', `${p}.matchExpressions`)) {
    const k = str(e, x, 'key', `${xp}.key`, true);
    if (k !== undefined) e.rule(`${xp}.key`, k, qualifiedNameErrors(k));
    const op = str(e, x, 'operator', `${xp}.operator`, true);
    const values = stringArray(e, x, 'values', `${xp}.values`) ?? [];
    if (op !== undefined && !LABEL_SELECTOR_OPERATORS.includes(op)) e.notSupported(`${xp}.operator`, op, LABEL_SELECTOR_OPERATORS);
    else if ((op === 'In' || op === 'NotIn') && values.length === 0) e.required(`${xp}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
    else if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) e.forbidden(`${xp}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    for (const [i, v] of values.entries()) e.rule(`${xp}.values[${i}]`, v, labelValueErrors(v));
  }
  return sel;
}

function validatePodAffinityTerm(e: FieldErrors, t: Obj, p: string): void {
  validateLabelSelectorAt(e, t, 'labelSelector', `${p}.labelSelector`);
  const nsSel = validateLabelSelectorAt(e, t, 'namespaceSelector', `${p}.namespaceSelector`);
  if (nsSel && Object.keys(nsSel).some((k) => { const v = nsSel[k]; return Array.isArray(v) ? v.length > 0 : v !== null && typeof v === 'object' && Object.keys(v).length > 0; })) {
    e.forbidden(`${p}.namespaceSelector`, 'not supported by Flotilla (only the empty selector, meaning every namespace)');
  }
  for (const [i, ns] of (stringArray(e, t, 'namespaces', `${p}.namespaces`) ?? []).entries()) e.rule(`${p}.namespaces[${i}]`, ns, dns1123SubdomainErrors(ns));
  const tk = t.topologyKey;
  if (tk === undefined || tk === null || tk === '') e.required(`${p}.topologyKey`, 'can not be empty');
  else if (typeof tk !== 'string') e.wrongType(`${p}.topologyKey`, tk, 'a string');
  else e.rule(`${p}.topologyKey`, tk, qualifiedNameErrors(tk));
  for (const k of ['matchLabelKeys', 'mismatchLabelKeys']) {
    if (Array.isArray(t[k]) && (t[k] as unknown[]).length > 0) e.forbidden(`${p}.${k}`, 'not supported by Flotilla');
  }
}

function validatePodAffinity(e: FieldErrors, aff: Obj, key: string, base: string): void {
  const pa = obj(e, aff, key, base);
  if (!pa) return;
  for (const [t, p] of objItems(e, pa, 'requiredDuringSchedulingIgnoredDuringExecution', `${base}.requiredDuringSchedulingIgnoredDuringExecution`)) validatePodAffinityTerm(e, t, p);
  for (const [w, p] of objItems(e, pa, 'preferredDuringSchedulingIgnoredDuringExecution', `${base}.preferredDuringSchedulingIgnoredDuringExecution`)) {
    const weight = int(e, w, 'weight', `${p}.weight`, true);
    if (weight !== undefined && (weight < 1 || weight > 100)) e.invalid(`${p}.weight`, weight, 'must be in the range 1-100');
    const term = obj(e, w, 'podAffinityTerm', `${p}.podAffinityTerm`, true);
    if (term) validatePodAffinityTerm(e, term, `${p}.podAffinityTerm`);
  }
}

/** Validates `spec.affinity` of a pod spec (paths under `spec.affinity`). */
export function validateAffinity(e: FieldErrors, spec: Obj): void {
  const aff = obj(e, spec, 'affinity', 'spec.affinity');
  if (!aff) return;
  for (const k of ['podAffinity', 'podAntiAffinity']) validatePodAffinity(e, aff, k, `spec.affinity.${k}`);
  const na = obj(e, aff, 'nodeAffinity', 'spec.affinity.nodeAffinity');
  if (!na) return;
  const base = 'spec.affinity.nodeAffinity';
  const req = obj(e, na, 'requiredDuringSchedulingIgnoredDuringExecution', `${base}.requiredDuringSchedulingIgnoredDuringExecution`);
  if (req) {
    const tp = `${base}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`;
    const terms = objItems(e, req, 'nodeSelectorTerms', tp);
    if (terms.length === 0) e.required(tp, 'must have at least one node selector term');
    for (const [t, p] of terms) validateTerm(e, t, p);
  }
  for (const [pt, p] of objItems(e, na, 'preferredDuringSchedulingIgnoredDuringExecution', `${base}.preferredDuringSchedulingIgnoredDuringExecution`)) {
    const w = int(e, pt, 'weight', `${p}.weight`, true);
    if (w !== undefined && (w < 1 || w > 100)) e.invalid(`${p}.weight`, w, 'must be in the range 1-100');
    const pref = obj(e, pt, 'preference', `${p}.preference`, true);
    if (pref) validateTerm(e, pref, `${p}.preference`);
  }
}
