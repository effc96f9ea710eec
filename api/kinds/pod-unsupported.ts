// Pod spec fields Kubernetes defines that Flotilla does not carry out (yet).
// Nothing in a spec is accepted and dropped: a field on these lists is refused
// with a Forbidden cause naming it. When a feature lands, its field leaves the
// list in the same change that makes it work (and its test).
import { FieldErrors, objItems } from '../validation-core.js';

type Obj = Record<string, unknown>;

const NOT_SUPPORTED = 'not supported by Flotilla';

/** Fields of a container (app and init) that are refused when set. */
export const UNSUPPORTED_CONTAINER_FIELDS: readonly string[] = [
  'volumeDevices',
  'resizePolicy',
];

/** Fields of a pod spec that are refused when set. */
export const UNSUPPORTED_POD_SPEC_FIELDS: readonly string[] = [
  'ephemeralContainers',
  'topologySpreadConstraints',
  'hostPID',
  'hostIPC',
  'hostUsers',
  'readinessGates',
  'runtimeClassName',
  'overhead',
  'schedulingGates',
  'resourceClaims',
  'resources',
  'priorityClassName',
  'preemptionPolicy',
];

function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as Obj).length > 0;
  return true;
}

/** Adds a Forbidden cause for every unsupported field set in a pod spec (paths under `spec.`). */
export function refuseUnsupportedPodFields(e: FieldErrors, spec: Obj): void {
  for (const k of UNSUPPORTED_POD_SPEC_FIELDS) if (isSet(spec[k])) e.forbidden(`spec.${k}`, NOT_SUPPORTED);
  if (isSet(spec.os)) {
    const os = spec.os as Obj;
    if (os.name !== 'linux') e.forbidden('spec.os.name', 'Flotilla runs linux pods only');
  }
  for (const key of ['initContainers', 'containers'] as const) {
    if (!Array.isArray(spec[key])) continue;
    for (const [c, p] of objItems(new FieldErrors(), spec, key, `spec.${key}`)) {
      for (const k of UNSUPPORTED_CONTAINER_FIELDS) if (isSet(c[k])) e.forbidden(`${p}.${k}`, NOT_SUPPORTED);
      if (c.stdinOnce === true) e.forbidden(`${p}.stdinOnce`, NOT_SUPPORTED);
      for (const [m, mp] of objItems(new FieldErrors(), c, 'volumeMounts', `${p}.volumeMounts`)) {
        for (const k of ['subPathExpr', 'recursiveReadOnly']) if (isSet(m[k])) e.forbidden(`${mp}.${k}`, NOT_SUPPORTED);
        if (isSet(m.mountPropagation) && m.mountPropagation !== 'None') e.forbidden(`${mp}.mountPropagation`, NOT_SUPPORTED);
      }
    }
  }
}
