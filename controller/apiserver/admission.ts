// Admission: mutations the API server applies to an object on create, after
// its kind's defaults and before validation, as kube-apiserver's mutating
// admission plugins do. Generic: a list of admission functions by kind; the
// controller wires the ones it runs (controller/server.ts). The first plugin
// is Kubernetes' DefaultTolerationSeconds.
import type { KubeObject, Pod, Toleration } from '../../api/index.js';

/** Mutates a new object in place (it is the API server's own copy). */
export type AdmissionFn = (obj: KubeObject & Record<string, unknown>) => void;

/** Admission functions by kind (`Pod`, …), run in order on create. */
export class Admission {
  private readonly byKind = new Map<string, AdmissionFn[]>();

  add(kind: string, fn: AdmissionFn): this {
    this.byKind.set(kind, [...(this.byKind.get(kind) ?? []), fn]);
    return this;
  }

  admitCreate(kind: string, obj: KubeObject & Record<string, unknown>): void {
    for (const fn of this.byKind.get(kind) ?? []) fn(obj);
  }

  /** The same functions on an update of the main resource (DefaultTolerationSeconds handles both, as in Kubernetes). */
  admitUpdate(kind: string, obj: KubeObject & Record<string, unknown>): void {
    this.admitCreate(kind, obj);
  }
}

export const NOT_READY_TAINT_KEY = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT_KEY = 'node.kubernetes.io/unreachable';
export const DEFAULT_TOLERATION_SECONDS = 300;

export interface DefaultTolerationSecondsOptions {
  notReadySeconds?: number;
  unreachableSeconds?: number;
}

/**
 * Kubernetes' DefaultTolerationSeconds plugin: a pod that does not tolerate
 * the not-ready / unreachable NoExecute taints already (a toleration with that
 * key or no key, and effect NoExecute or empty) gets
 * `op=Exists, effect=NoExecute, tolerationSeconds=N` for each.
 */
export function defaultTolerationSeconds(o: DefaultTolerationSecondsOptions = {}): AdmissionFn {
  const notReady = o.notReadySeconds ?? DEFAULT_TOLERATION_SECONDS;
  const unreachable = o.unreachableSeconds ?? DEFAULT_TOLERATION_SECONDS;
  return (obj) => {
    const pod = obj as unknown as Pod;
    if (!pod.spec || typeof pod.spec !== 'object') return;
    const tols: Toleration[] = Array.isArray(pod.spec.tolerations) ? pod.spec.tolerations : [];
    const covers = (key: string) =>
      tols.some((t) => t && typeof t === 'object' && (t.effect === 'NoExecute' || !t.effect) && (t.key === key || (t.key ?? '') === ''));
    const add: Toleration[] = [];
    if (!covers(NOT_READY_TAINT_KEY)) add.push({ key: NOT_READY_TAINT_KEY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: notReady });
    if (!covers(UNREACHABLE_TAINT_KEY)) add.push({ key: UNREACHABLE_TAINT_KEY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: unreachable });
    if (add.length > 0) pod.spec.tolerations = [...tols, ...add];
  };
}

/** The admission the controller runs: DefaultTolerationSeconds on pods. */
export function controllerAdmission(o: DefaultTolerationSecondsOptions = {}): Admission {
  return new Admission().add('Pod', defaultTolerationSeconds(o));
}
