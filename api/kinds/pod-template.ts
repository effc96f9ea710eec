// What every workload kind (ReplicaSet, Deployment, DaemonSet, Job, CronJob)
// shares: the pod template, validated and defaulted by the Pod descriptor
// itself (so a template is refused exactly where a pod would be, with the path
// under `spec.template`), and the label selector with its match against the
// template's labels.
import { isPlainObject } from '../helpers.js';
import { labelValueErrors, qualifiedNameErrors } from '../validation-rules.js';
import { FieldErrors, arr, obj, objItems, str, stringArray, stringMap, validateLabels } from '../validation-core.js';
import { labelSelectorFromObject, labelSelectorMatches, type LabelSelector } from '../label-selector.js';
import { podKind } from './pod.js';

type Obj = Record<string, unknown>;

const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** Rewrites a pod's cause path (`spec.containers[0].image`) to the template's (`spec.template.spec.containers[0].image`). */
function underTemplate(field: string, path: string): string {
  if (field === 'spec' || field.startsWith('spec.') || field.startsWith('spec[')) return `${path}.${field}`;
  if (field === 'metadata' || field.startsWith('metadata.')) return `${path}.${field}`;
  return field ? `${path}.${field}` : path;
}

/**
 * Validates `template` (a PodTemplateSpec) at `path` (e.g. `spec.template`):
 * the spec with every rule of a pod, labels and annotations of its metadata.
 * `restartPolicies` limits `spec.restartPolicy` (Deployments: Always; Jobs: OnFailure, Never).
 */
export function validatePodTemplateSpec(e: FieldErrors, template: Obj | undefined, path: string, restartPolicies?: readonly string[]): void {
  if (!template) {
    e.required(path);
    return;
  }
  const md = obj(e, template, 'metadata', `${path}.metadata`) ?? {};
  validateLabels(e, stringMap(e, md, 'labels', `${path}.metadata.labels`), `${path}.metadata.labels`);
  stringMap(e, md, 'annotations', `${path}.metadata.annotations`);
  const spec = obj(e, template, 'spec', `${path}.spec`);
  const sub = new FieldErrors();
  // a template carries no status; the pod rules see only its spec
  podKind.validate(sub, { spec: spec ?? null }, {});
  for (const c of sub.causes) e.causes.push({ ...c, field: underTemplate(c.field, path) });
  if (spec && restartPolicies) {
    const rp = spec.restartPolicy;
    if (typeof rp === 'string' && !restartPolicies.includes(rp)) e.notSupported(`${path}.spec.restartPolicy`, rp, restartPolicies);
  }
}

/** Fills a template's defaults as the API server does for a pod's spec (nothing of a pod's status). */
export function defaultPodTemplateSpec(template: unknown): void {
  if (!isPlainObject(template)) return;
  const probe: Obj = { spec: template.spec };
  podKind.defaults?.(probe);
  if (probe.spec !== undefined) template.spec = probe.spec;
}

/** Validates a metav1.LabelSelector at `path`; `required`: absent is an error. */
export function validateLabelSelector(e: FieldErrors, parent: Obj, key: string, path: string, required: boolean): LabelSelector | undefined {
  const sel = obj(e, parent, key, path, required);
  if (!sel) return undefined;
  validateLabels(e, stringMap(e, sel, 'matchLabels', `${path}.matchLabels`), `${path}.matchLabels`);
  for (const [x, p] of objItems(e, sel, 'matchExpressions', `${path}.matchExpressions`)) {
    const k = str(e, x, 'key', `${p}.key`, true);
    if (k !== undefined) e.rule(`${p}.key`, k, qualifiedNameErrors(k));
    const op = str(e, x, 'operator', `${p}.operator`, true);
    const values = stringArray(e, x, 'values', `${p}.values`) ?? [];
    if (op !== undefined) {
      if (!(SELECTOR_OPERATORS as readonly string[]).includes(op)) e.notSupported(`${p}.operator`, op, SELECTOR_OPERATORS);
      else if ((op === 'In' || op === 'NotIn') && values.length === 0) e.required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
      else if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) e.forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    }
    for (const [i, v] of values.entries()) e.rule(`${p}.values[${i}]`, v, labelValueErrors(v));
  }
  arr(e, sel, 'matchExpressions', `${path}.matchExpressions`);
  return sel as LabelSelector;
}

/** True when a selector has no requirement at all (it would select every pod of the namespace). */
export function selectorIsEmpty(sel: LabelSelector | undefined): boolean {
  if (!sel) return true;
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/**
 * Kubernetes' check for ReplicaSets, Deployments, DaemonSets and manual Job selectors:
 * `spec.template.metadata.labels: Invalid value: {...}: \`selector\` does not match template \`labels\``,
 * and `spec.selector: Invalid value: {}: empty selector is invalid for deployment`.
 */
export function checkSelectorMatchesTemplate(e: FieldErrors, sel: LabelSelector | undefined, template: Obj | undefined, selectorPath: string, templatePath: string, kindWord: string): void {
  if (!sel) return;
  if (selectorIsEmpty(sel)) {
    e.invalid(selectorPath, sel, `empty selector is invalid for ${kindWord}`);
    return;
  }
  const md = isPlainObject(template?.metadata) ? template!.metadata : {};
  const labels = isPlainObject(md.labels) ? (md.labels as Record<string, string>) : {};
  let parsed;
  try {
    parsed = labelSelectorFromObject(sel);
  } catch {
    return; // the selector's own errors were reported by validateLabelSelector
  }
  if (!labelSelectorMatches(parsed, labels)) e.invalid(`${templatePath}.metadata.labels`, labels, '`selector` does not match template `labels`');
}
