// The `scale` subresource (autoscaling/v1 Scale) of every kind that declares it
// (`subresources: ['scale']` plus `scale` accessors in its descriptor:
// Deployments, ReplicaSets): GET reads spec.replicas, status.replicas and the
// selector as a string; PUT and PATCH write spec.replicas of the object through
// the normal update path (validation, generation, compare-and-swap), so
// `kubectl scale` and autoscalers behave as against kube-apiserver.
import {
  BadRequestError,
  FieldErrors,
  applyJsonMergePatch,
  applyJsonPatch,
  applyStrategicMergePatch,
  invalidError,
  isPlainObject,
  type KubeObject,
} from '../../api/index.js';
import type { PatchType, ResourceApi, Target, WriteOptions } from './resource-api.js';
import { plainValue } from '../../api/quote.js';

type Obj = Record<string, unknown>;

export interface Scale {
  apiVersion: 'autoscaling/v1';
  kind: 'Scale';
  metadata: KubeObject['metadata'];
  spec: { replicas: number };
  status: { replicas: number; selector?: string };
}

function accessors(t: Target) {
  const s = t.res.scale;
  if (!s) throw new BadRequestError(`${t.res.plural} has no scale subresource`);
  return s;
}

const main = (t: Target): Target => ({ res: t.res, ...(t.namespace !== undefined ? { namespace: t.namespace } : {}), ...(t.name !== undefined ? { name: t.name } : {}) });

/** The Scale of an object. */
export function scaleOf(t: Target, obj: KubeObject): Scale {
  const s = accessors(t);
  const o = obj as unknown as Obj;
  const md = obj.metadata;
  const selector = s.selector(o);
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: md.name,
      ...(md.namespace !== undefined ? { namespace: md.namespace } : {}),
      uid: md.uid,
      resourceVersion: md.resourceVersion,
      creationTimestamp: md.creationTimestamp,
    },
    spec: { replicas: s.specReplicas(o) },
    status: { replicas: s.statusReplicas(o), ...(selector ? { selector } : {}) },
  };
}

export async function getScale(api: ResourceApi, t: Target): Promise<Scale> {
  return scaleOf(t, await api.get(main(t)));
}

/** PUT of a Scale: its spec.replicas becomes the object's (pinned to its resourceVersion when it carries one). */
export async function updateScale(api: ResourceApi, t: Target, body: unknown, opts: WriteOptions = {}): Promise<Scale> {
  if (!isPlainObject(body)) throw new BadRequestError('Object is not a JSON or YAML mapping');
  const kind = body.kind;
  if (kind !== undefined && kind !== '' && kind !== 'Scale') {
    throw new BadRequestError(`the object's kind ${plainValue(body.apiVersion ?? '')}, Kind=${plainValue(kind)} does not match the kind autoscaling/v1, Kind=Scale of the resource "${t.res.plural}/scale" on the URL`);
  }
  const md = isPlainObject(body.metadata) ? body.metadata : {};
  if (md.name !== undefined && md.name !== t.name) {
    throw new BadRequestError(`the name of the object (${plainValue(md.name)}) does not match the name on the URL (${plainValue(t.name)})`);
  }
  const e = new FieldErrors();
  const spec = isPlainObject(body.spec) ? body.spec : {};
  const replicas = spec.replicas ?? 0;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas)) e.wrongType('spec.replicas', replicas, 'an integer');
  else if (replicas < 0) e.invalid('spec.replicas', replicas, 'must be greater than or equal to 0');
  if (e.causes.length > 0) throw invalidError('Scale', t.name ?? '', e.causes, 'autoscaling');
  const rv = typeof md.resourceVersion === 'string' && md.resourceVersion !== '' ? md.resourceVersion : undefined;
  const s = accessors(t);
  const patch: Obj = { metadata: rv ? { resourceVersion: rv } : {} };
  const probe: Obj = {};
  s.setSpecReplicas(probe, replicas as number);
  Object.assign(patch, probe);
  const out = await api.patch(main(t), 'merge', patch, opts);
  return scaleOf(t, out);
}

/** PATCH of a Scale: applied to the current Scale, then written as a PUT pinned to what was read. */
export async function patchScale(api: ResourceApi, t: Target, type: PatchType, patch: unknown, opts: WriteOptions = {}): Promise<Scale> {
  const cur = await getScale(api, t);
  const base = JSON.parse(JSON.stringify(cur)) as Obj;
  const next = type === 'merge' ? applyJsonMergePatch(base, patch) : type === 'strategic' ? applyStrategicMergePatch(base, patch) : applyJsonPatch(base, patch);
  if (!isPlainObject(next)) throw new BadRequestError('the patched object is not a JSON object');
  const md = isPlainObject(next.metadata) ? next.metadata : {};
  // a patch that names no resourceVersion applies to the one just read
  if (typeof md.resourceVersion !== 'string' || md.resourceVersion === '') md.resourceVersion = cur.metadata.resourceVersion;
  next.metadata = md;
  return updateScale(api, t, next, opts);
}
