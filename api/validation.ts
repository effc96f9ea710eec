// Validation of untrusted objects: metadata for every kind, then the kind's
// own validator from its descriptor (api/kinds/). Every field is type-checked
// before use, so garbage produces field errors, never a TypeError. Errors read
// like Kubernetes: `spec.containers[0].image: Required value`, gathered into
// InvalidError `Pod "web" is invalid: …`.
import { BadRequestError, type FieldCause } from './errors.js';
import { plainValue } from './quote.js';
import { isPlainObject } from './helpers.js';
import { resourceForObject } from './resources.js';
import { FieldErrors, invalidError, validateMetadata, validateMetadataUpdate } from './validation-core.js';

export { FieldErrors, formatCause, formatFieldValue, invalidError, type FieldErrorReason } from './validation-core.js';
export { POD_SPEC_UPDATE_FORBIDDEN } from './kinds/pod.js';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------- entry points

/**
 * Validates an object of any registered kind; with `old`, also the rules of an
 * update (immutable fields). Returns every cause found, empty when valid.
 * Throws BadRequestError when `obj` is not a mapping or its kind/apiVersion is
 * missing or not registered (a 400, not a 422).
 */
export function validateObject(obj: unknown, old?: unknown): FieldCause[] {
  const res = resourceForObject(obj);
  const o = obj as Obj;
  const e = new FieldErrors();
  const md = validateMetadata(e, o, res, res.nameRule);
  res.validate(e, o, md);
  if (old !== undefined && old !== null) {
    if (!isPlainObject(old)) throw new BadRequestError('the existing object is not a mapping');
    if (old.kind !== undefined && old.kind !== o.kind) e.invalid('kind', o.kind, 'field is immutable');
    const oldMd = isPlainObject(old.metadata) ? old.metadata : {};
    validateMetadataUpdate(e, md, oldMd);
    res.validateUpdate?.(e, o, old);
  }
  return e.causes;
}

/** Like validateObject, but throws InvalidError `Pod "web" is invalid: …` when anything is wrong. */
export function assertValid(obj: unknown, old?: unknown): void {
  const causes = validateObject(obj, old);
  if (causes.length === 0) return;
  const o = obj as Obj;
  const md = isPlainObject(o.metadata) ? o.metadata : {};
  const name = typeof md.name === 'string' ? md.name : typeof md.generateName === 'string' ? md.generateName : '';
  throw invalidError(plainValue(o.kind), name, causes, resourceForObject(obj).group);
}
