// Secret (core/v1): like a ConfigMap, base64 data, a type with its required
// keys; `stringData` is folded into `data` on write and never stored. Stored
// encrypted in etcd (controller/storage). The whole kind is this file plus its
// line in kinds/index.ts.
import type { KubeObject } from '../meta.js';
import { isPlainObject } from '../helpers.js';
import { ANY, column, defineKind, fieldPath } from '../kind.js';
import { age } from '../printers/age.js';
import { FieldErrors, bool, obj, str } from '../validation-core.js';
import { qualifiedNameErrors } from '../validation-rules.js';
import { FALLBACK } from './common.js';
import { MAX_CONFIG_BYTES, validateConfigMap, validateImmutableUpdate } from './configmap.js';

type Obj = Record<string, unknown>;

export interface Secret extends KubeObject {
  apiVersion?: 'v1';
  kind?: 'Secret';
  type?: string;
  /** Values are base64 in JSON. */
  data?: Record<string, string>;
  /** Write-only: merged into data on create and update. */
  stringData?: Record<string, string>;
  immutable?: boolean;
}

/** Keys a Secret of a well-known type must have. */
export const SECRET_TYPE_KEYS: Readonly<Record<string, readonly string[]>> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
};

function validateSecret(e: FieldErrors, o: Obj): void {
  const type = str(e, o, 'type', 'type') ?? 'Opaque';
  if (type !== '' && type !== 'Opaque') e.rule('type', type, qualifiedNameErrors(type));
  if (o.stringData !== undefined && o.stringData !== null) {
    // still here after defaulting: it was not a map of strings
    const m = obj(e, o, 'stringData', 'stringData');
    if (m) for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') e.wrongType(`stringData[${k}]`, v, 'a string');
  }
  const keys = new Set<string>();
  const size = validateConfigMap(e, o, 'data', { base64: true }, keys);
  if (size > MAX_CONFIG_BYTES) e.tooLong('data', MAX_CONFIG_BYTES);
  bool(e, o, 'immutable', 'immutable');
  for (const k of SECRET_TYPE_KEYS[type] ?? []) if (!keys.has(k)) e.required(`data[${k}]`);
  if (type === 'kubernetes.io/service-account-token') {
    const md = isPlainObject(o.metadata) ? o.metadata : {};
    const ann = isPlainObject(md.annotations) ? md.annotations : {};
    if (!ann['kubernetes.io/service-account.name']) e.required('metadata.annotations[kubernetes.io/service-account.name]');
  }
  if (type === 'kubernetes.io/basic-auth' && !keys.has('username') && !keys.has('password')) {
    e.required('data[username]', 'either username or password or both must be provided for basic-auth secrets');
  }
}

function validateSecretUpdate(e: FieldErrors, o: Obj, old: Obj): void {
  if ((o.type ?? 'Opaque') !== (old.type ?? 'Opaque')) e.invalid('type', o.type ?? '', 'field is immutable');
  validateImmutableUpdate(e, o, old, ['data']);
}

export const secretKind = defineKind(
  {
    group: '',
    version: 'v1',
    kind: 'Secret',
    plural: 'secrets',
    namespaced: true,
    defaults(o) {
      o.type ??= 'Opaque';
      const sd = o.stringData;
      // stringData wins over data for the same key, and is never stored
      if (isPlainObject(sd) && Object.values(sd).every((v) => typeof v === 'string')) {
        const data = isPlainObject(o.data) ? o.data : {};
        for (const [k, v] of Object.entries(sd)) data[k] = Buffer.from(v as string, 'utf8').toString('base64');
        o.data = data;
        delete o.stringData;
      }
    },
    validate: (e, o) => validateSecret(e, o),
    validateUpdate: validateSecretUpdate,
    schema: { type: ANY, data: ANY, stringData: ANY, immutable: ANY },
    fieldLabels: { type: fieldPath('type') },
    printer: {
      columns: [column('Name', { format: 'name' }), column('Type'), column('Data', { type: 'integer' }), column('Age')],
      cells: (o, now) => [
        (o.metadata as Obj).name ?? '',
        typeof o.type === 'string' && o.type !== '' ? o.type : 'Opaque',
        isPlainObject(o.data) ? Object.keys(o.data).length : 0,
        age((o.metadata as Obj).creationTimestamp as string | undefined, now),
      ],
    },
  },
  FALLBACK,
);
