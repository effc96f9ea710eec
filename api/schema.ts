// The field names of each kind, for `fieldValidation=Strict|Warn`: a typo such
// as `imagee` is an unknown field. Each kind's descriptor (api/kinds/) lists its
// fields; fields Kubernetes defines but Flotilla does not implement are known
// and opaque there only when validation refuses or ignores them knowingly.
import { BadRequestError } from './errors.js';
import { isPlainObject } from './helpers.js';
import { ANY, type Schema } from './kind.js';
import { kindOf } from './resources.js';

const OWNER_REFERENCE = { apiVersion: ANY, kind: ANY, name: ANY, uid: ANY, controller: ANY, blockOwnerDeletion: ANY };

const OBJECT_META: Schema = {
  name: ANY,
  generateName: ANY,
  namespace: ANY,
  selfLink: ANY,
  uid: ANY,
  resourceVersion: ANY,
  generation: ANY,
  creationTimestamp: ANY,
  deletionTimestamp: ANY,
  deletionGracePeriodSeconds: ANY,
  labels: ANY,
  annotations: ANY,
  ownerReferences: [OWNER_REFERENCE],
  finalizers: ANY,
  managedFields: ANY,
};

const TYPE_META = { apiVersion: ANY, kind: ANY, metadata: OBJECT_META };

function walk(v: unknown, schema: Schema, path: string, out: string[]): void {
  if (schema === ANY || v === null || v === undefined) return;
  if (Array.isArray(schema)) {
    if (!Array.isArray(v)) return; // wrong types are validation's business
    v.forEach((x, i) => walk(x, schema[0] as Schema, `${path}[${i}]`, out));
    return;
  }
  if (!isPlainObject(v)) return;
  const fields = schema as { readonly [field: string]: Schema };
  for (const [k, x] of Object.entries(v)) {
    const p = path ? `${path}.${k}` : k;
    const sub = Object.prototype.hasOwnProperty.call(fields, k) ? fields[k] : undefined;
    if (sub === undefined) out.push(p);
    else walk(x, sub, p, out);
  }
}

/**
 * Paths of the fields of `obj` that its kind does not define, e.g.
 * `spec.containers[0].imagee`. Empty for unknown kinds (they are refused elsewhere).
 */
export function findUnknownFields(obj: unknown): string[] {
  if (!isPlainObject(obj) || typeof obj.kind !== 'string') return [];
  const res = kindOf(obj);
  if (!res) return [];
  const schema: Schema = { ...TYPE_META, ...res.schema };
  const out: string[] = [];
  walk(obj, schema, '', out);
  return out;
}

/** The warning texts for unknown fields, as Kubernetes sends them in `Warning` headers. */
export function unknownFieldWarnings(obj: unknown): string[] {
  return findUnknownFields(obj).map((f) => `unknown field "${f}"`);
}

/**
 * For `fieldValidation=Strict`: throws BadRequestError
 * `strict decoding error: unknown field "spec.containers[0].imagee"` (several joined with `, `).
 */
export function assertNoUnknownFields(obj: unknown): void {
  const warnings = unknownFieldWarnings(obj);
  if (warnings.length > 0) throw new BadRequestError(`strict decoding error: ${warnings.join(', ')}`);
}
