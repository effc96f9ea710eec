// ControllerRevision (apps/v1): an immutable snapshot of a controller's pod
// template (`data`, a strategic merge patch of the owner) with its `revision`
// number. DaemonSets keep their history in them, so `kubectl rollout
// history|undo ds/X` works as against Kubernetes.
import type { KubeObject } from '../meta.js';
import { isPlainObject, jsonEqual } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import { int } from '../validation-core.js';
import { FALLBACK } from './common.js';

type Obj = Record<string, unknown>;

export interface ControllerRevision extends KubeObject {
  apiVersion?: 'apps/v1';
  kind?: 'ControllerRevision';
  /** The owner's template as a patch: `{"spec":{"template":{…,"$patch":"replace"}}}`. */
  data?: Record<string, unknown>;
  revision: number;
}

/** `daemonset.apps/name` of the controller owner, as kubectl prints it; `<none>` without one. */
function controllerOf(o: Obj): string {
  const md = isPlainObject(o.metadata) ? o.metadata : {};
  const refs = Array.isArray(md.ownerReferences) ? md.ownerReferences : [];
  const ref = refs.find((r) => isPlainObject(r) && r.controller === true) as Obj | undefined;
  if (!ref) return '<none>';
  const group = typeof ref.apiVersion === 'string' && ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
  const kind = String(ref.kind ?? '').toLowerCase();
  return `${kind}${group ? `.${group}` : ''}/${String(ref.name ?? '')}`;
}

export const controllerRevisionKind = defineKind(
  {
    group: 'apps',
    version: 'v1',
    kind: 'ControllerRevision',
    plural: 'controllerrevisions',
    namespaced: true,
    validate(e, o) {
      const rev = int(e, o, 'revision', 'revision');
      if (rev !== undefined && rev < 0) e.invalid('revision', rev, 'must be greater than or equal to 0');
      if (o.data !== undefined && o.data !== null && !isPlainObject(o.data)) e.wrongType('data', o.data, 'an object');
    },
    validateUpdate(e, o, old) {
      if (!jsonEqual(o.data ?? null, old.data ?? null)) e.invalid('data', '<value omitted>', 'field is immutable');
    },
    schema: { data: ANY, revision: ANY },
    printer: {
      columns: [column('Name', { format: 'name' }), column('Controller'), column('Revision', { type: 'integer' }), column('Age')],
      cells: (o, now) => [(o.metadata as Obj).name ?? '', controllerOf(o), o.revision ?? 0, age((o.metadata as Obj).creationTimestamp as string | undefined, now)],
    },
  },
  FALLBACK,
);
