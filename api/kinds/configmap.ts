// ConfigMap (core/v1): configuration data for pods, as env or files. The whole
// kind is this file plus its line in kinds/index.ts.
import type { KubeObject } from '../meta.js';
import { isPlainObject } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import { FieldErrors, bool, obj } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { configKeyErrors } from './config-keys.js';

type Obj = Record<string, unknown>;

export interface ConfigMap extends KubeObject {
  apiVersion?: 'v1';
  kind?: 'ConfigMap';
  data?: Record<string, string>;
  /** Values are base64 in JSON. */
  binaryData?: Record<string, string>;
  immutable?: boolean;
}

/** The most a ConfigMap or Secret may hold, as Kubernetes limits it (1 MiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The decoded bytes of a base64 string, or undefined when it is not base64 (standard alphabet, padded). */
export function decodeBase64(v: string): Buffer | undefined {
  const s = v.replace(/[\r\n]/g, '');
  return BASE64.test(s) ? Buffer.from(s, 'base64') : undefined;
}

/**
 * Checks a map of config keys (data, binaryData, stringData): keys follow the
 * config key rule, values are strings (base64 when `base64`). Returns the keys
 * seen and the size of the values (decoded for base64).
 */
export function validateConfigMap(e: FieldErrors, o: Obj, field: string, opts: { base64: boolean }, keys: Set<string>): number {
  const m = obj(e, o, field, field);
  if (!m) return 0;
  let size = 0;
  for (const [k, v] of Object.entries(m)) {
    const p = `${field}[${k}]`;
    e.rule(p, k, configKeyErrors(k));
    if (keys.has(k)) e.invalid(p, k, 'duplicate of key present in binaryData');
    keys.add(k);
    if (typeof v !== 'string') {
      e.wrongType(p, v, 'a string');
      continue;
    }
    if (opts.base64) {
      const bytes = decodeBase64(v);
      if (!bytes) e.invalid(p, '<value omitted>', 'must be base64-encoded (illegal base64 data)');
      else size += bytes.length;
    } else {
      size += Buffer.byteLength(v);
    }
  }
  return size;
}

/** An update of an immutable ConfigMap or Secret: only metadata may change. */
export function validateImmutableUpdate(e: FieldErrors, o: Obj, old: Obj, fields: readonly string[]): void {
  if (old.immutable !== true) return;
  if (o.immutable !== true) e.forbidden('immutable', 'field is immutable when `immutable` is set');
  for (const f of fields) {
    if (JSON.stringify(o[f] ?? {}) !== JSON.stringify(old[f] ?? {})) e.forbidden(f, 'field is immutable when `immutable` is set');
  }
}

function dataCount(o: Obj): number {
  const n = (v: unknown) => (isPlainObject(v) ? Object.keys(v).length : 0);
  return n(o.data) + n(o.binaryData);
}

export const configMapKind = defineKind(
  {
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    shortNames: ['cm'],
    namespaced: true,
    validate(e, o) {
      const keys = new Set<string>();
      // binaryData first, so a key in both is reported on data as Kubernetes does
      let size = validateConfigMap(e, o, 'binaryData', { base64: true }, keys);
      size += validateConfigMap(e, o, 'data', { base64: false }, keys);
      bool(e, o, 'immutable', 'immutable');
      if (size > MAX_CONFIG_BYTES) e.tooLong('', MAX_CONFIG_BYTES);
    },
    validateUpdate: (e, o, old) => validateImmutableUpdate(e, o, old, ['data', 'binaryData']),
    schema: { data: ANY, binaryData: ANY, immutable: ANY },
    printer: {
      columns: [column('Name', { format: 'name' }), column('Data', { type: 'integer' }), column('Age')],
      cells: (o, now) => [(o.metadata as Obj).name ?? '', dataCount(o), age((o.metadata as Obj).creationTimestamp as string | undefined, now)],
    },
  },
  FALLBACK,
);
