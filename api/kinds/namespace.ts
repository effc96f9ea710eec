// Namespace (core/v1, cluster-scoped): the descriptor. A DELETE marks the
// namespace Terminating; the namespace controller on the leader removes what is
// in it and then the namespace itself.
import { ForbiddenError } from '../errors.js';
import { rfc3339 } from '../clock.js';
import { deepClone, isPlainObject } from '../helpers.js';
import { ANY, column, defineKind, fieldPath } from '../kind.js';
import { age } from '../printers/age.js';
import type { Namespace } from '../types.js';
import { dns1123LabelErrors, qualifiedNameErrors } from '../validation-rules.js';
import { FieldErrors, obj, oneOf, stringArray } from '../validation-core.js';
import { FALLBACK } from './common.js';

type Obj = Record<string, unknown>;

/** Namespaces that exist from the start and may not be deleted. */
export const UNDELETABLE_NAMESPACES: ReadonlySet<string> = new Set(['default', 'kube-system', 'kube-public']);
/** The finalizer the namespace controller removes once a namespace is empty. */
export const NAMESPACE_FINALIZER = 'kubernetes';

function validateNamespace(e: FieldErrors, o: Obj): void {
  const spec = obj(e, o, 'spec', 'spec');
  if (spec) stringArray(e, spec, 'finalizers', 'spec.finalizers')?.forEach((f, i) => e.rule(`spec.finalizers[${i}]`, f, qualifiedNameErrors(f)));
  const status = obj(e, o, 'status', 'status');
  if (status) oneOf(e, status, 'phase', 'status.phase', ['Active', 'Terminating']);
}


export const namespaceKind = defineKind(
  {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    shortNames: ['ns'],
    namespaced: false,
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: ['status', 'finalize'],
    nameRule: dns1123LabelErrors,
    defaults(o) {
      if (o.status === undefined) o.status = {};
      if (isPlainObject(o.status)) o.status.phase ??= 'Active';
      if (o.spec === undefined) o.spec = { finalizers: [NAMESPACE_FINALIZER] };
    },
    validate: (e, o) => validateNamespace(e, o),
    schema: { spec: { finalizers: ANY }, status: { phase: ANY, conditions: ANY } },
    fieldLabels: { 'status.phase': fieldPath('status', 'phase') },
    strategy: {
      prepareForCreate(o) {
        o.status = { phase: 'Active' };
        const md = o.metadata as Obj;
        // as kube-apiserver: every namespace carries its name as a label
        md.labels = { ...(isPlainObject(md.labels) ? md.labels : {}), 'kubernetes.io/metadata.name': String(md.name ?? '') };
      },
      prepareForUpdate(next) {
        const md = next.metadata as Obj;
        md.labels = { ...(isPlainObject(md.labels) ? md.labels : {}), 'kubernetes.io/metadata.name': String(md.name ?? '') };
      },
      delete(cur, _opts, nowMs) {
        const ns = cur as unknown as Namespace;
        const name = ns.metadata.name ?? '';
        if (UNDELETABLE_NAMESPACES.has(name)) throw new ForbiddenError(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
        if (ns.status?.phase === 'Terminating') return { mark: cur };
        const next = deepClone(ns);
        next.metadata.deletionTimestamp = rfc3339(nowMs);
        next.metadata.deletionGracePeriodSeconds = 0;
        next.status = { ...next.status, phase: 'Terminating' };
        return { mark: next as unknown as Obj };
      },
      // the namespace controller removes it once it is empty (spec.finalizers)
      deletionDone: () => false,
    },
    printer: {
      columns: [column('Name', { format: 'name' }), column('Status'), column('Age')],
      cells(o, now) {
        const ns = o as unknown as Namespace;
        return [ns.metadata.name ?? '', ns.metadata.deletionTimestamp ? 'Terminating' : ns.status?.phase || 'Active', age(ns.metadata.creationTimestamp, now)];
      },
    },
  },
  FALLBACK,
);
