// Defaulting: fills the fields Kubernetes fills before validation, so stored
// objects are complete and clients see what kubectl users expect. Runs on
// untrusted bodies before validation: each kind's `defaults` (api/kinds/) only
// touches fields whose shape is right and leaves garbage for validation to
// report. Never mutates its input.
import type { KubeObject } from './meta.js';
import { deepClone, isPlainObject } from './helpers.js';
import { kindOf } from './resources.js';

export const DEFAULT_NAMESPACE = 'default';
export {
  DEFAULT_SCHEDULER_NAME,
  DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
  DEFAULT_TERMINATION_MESSAGE_PATH,
  defaultPullPolicy,
  qosClassOf,
} from './kinds/pod.js';

/** Returns a defaulted copy of `obj` (any registered kind; unknown kinds only get copied). */
export function defaultObject<T>(obj: T): T {
  const copy = deepClone(obj);
  if (!isPlainObject(copy)) return copy;
  const out: Record<string, unknown> = copy;
  const res = kindOf(out);
  if (!res) return copy;
  if (res.namespaced) {
    if (out.metadata === undefined) out.metadata = {};
    const md = out.metadata;
    if (isPlainObject(md) && (md.namespace === undefined || md.namespace === '')) md.namespace = DEFAULT_NAMESPACE;
  }
  res.defaults?.(out);
  return copy;
}

/** Object types the defaulting knows about, for callers that want the static type back. */
export type Defaultable = KubeObject;
