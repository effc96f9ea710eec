// Binding a pod to a node: set spec.nodeName with compare-and-swap, only if the
// pod is still the same pod, still unbound and not being deleted. The decision
// (`applyBinding`) is pure and shared with the API server's pods/binding
// subresource, so both refuse a double binding with the same message.
import { ConflictError, rfc3339, type Clock, type Pod, type PodCondition } from '../../api/index.js';
import type { Store } from '../storage/store.js';

export interface PodBinding {
  namespace: string;
  name: string;
  /** When set, the binding applies only to the pod with this uid. */
  uid?: string;
  nodeName: string;
}

export interface Binder {
  /**
   * Binds or throws (ConflictError when already bound/deleting/replaced, NotFoundError when gone).
   * `known` is the pod as the caller last saw it: when it is still current the bind is one
   * compare-and-swap write, no read.
   */
  bind(binding: PodBinding, known?: Pod): Promise<void>;
}

const iso = rfc3339;

/** Sets (or replaces) one condition, keeping lastTransitionTime when the status does not change. */
export function setPodCondition(conditions: readonly PodCondition[] | undefined, next: PodCondition): PodCondition[] {
  const out = [...(conditions ?? [])];
  const i = out.findIndex((c) => c.type === next.type);
  if (i < 0) return [...out, next];
  const prev = out[i]!;
  out[i] = prev.status === next.status && prev.lastTransitionTime ? { ...next, lastTransitionTime: prev.lastTransitionTime } : next;
  return out;
}

/** The pod after binding it to `binding.nodeName`; ConflictError when it may not be bound. */
export function applyBinding(current: Pod, binding: PodBinding, nowMs: number): Pod {
  const name = current.metadata.name ?? binding.name;
  if (binding.uid && current.metadata.uid && binding.uid !== current.metadata.uid) {
    throw new ConflictError(`Operation cannot be fulfilled on pods/binding "${name}": the UID in the precondition (${binding.uid}) does not match the UID in record (${current.metadata.uid}). The object might have been deleted and then recreated`);
  }
  if (current.spec?.nodeName) {
    throw new ConflictError(`pod ${name} is already assigned to node "${current.spec.nodeName}"`);
  }
  if (current.metadata.deletionTimestamp) {
    throw new ConflictError(`pod ${name} is being deleted, cannot be assigned to a host`);
  }
  const conditions = setPodCondition(current.status?.conditions, {
    type: 'PodScheduled',
    status: 'True',
    lastProbeTime: null,
    lastTransitionTime: iso(nowMs),
  });
  return { ...current, spec: { ...current.spec, nodeName: binding.nodeName }, status: { ...current.status, conditions } };
}

/**
 * The pod with PodScheduled=False/Unschedulable and the message, or undefined
 * when nothing would change (already so) or it no longer applies (bound meanwhile).
 */
export function applyUnschedulableCondition(current: Pod, message: string, nowMs: number): Pod | undefined {
  if (current.spec?.nodeName) return undefined;
  const prev = current.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (prev && prev.status === 'False' && prev.reason === 'Unschedulable' && prev.message === message) return undefined;
  const conditions = setPodCondition(current.status?.conditions, {
    type: 'PodScheduled',
    status: 'False',
    lastProbeTime: null,
    lastTransitionTime: iso(nowMs),
    reason: 'Unschedulable',
    message,
  });
  return { ...current, status: { ...current.status, phase: current.status?.phase ?? 'Pending', conditions } };
}

class Refused extends Error {
  constructor(readonly conflict: ConflictError) {
    super(conflict.message);
  }
}

/** Binds by writing the pod through the Store (guaranteedUpdate: re-reads and retries on conflict). */
export class StoreBinder implements Binder {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async bind(binding: PodBinding, known?: Pod): Promise<void> {
    if (known?.metadata.resourceVersion && !known.spec?.nodeName && !known.metadata.deletionTimestamp) {
      try {
        await this.store.update<Pod>('pods', applyBinding(known, binding, this.clock.now()));
        return;
      } catch (e) {
        // A conflict means our copy was stale: decide on the stored pod below. (A pod
        // that is gone is NotFound either way.)
        if (!(e instanceof ConflictError)) throw e;
      }
    }
    // A refusal is carried out of guaranteedUpdate wrapped, so the store's
    // retry-on-conflict never mistakes it for a lost compare-and-swap.
    try {
      await this.store.guaranteedUpdate<Pod>({ resource: 'pods', namespace: binding.namespace, name: binding.name }, (current) => {
        try {
          return applyBinding(current, binding, this.clock.now());
        } catch (err) {
          throw new Refused(err as ConflictError);
        }
      });
    } catch (err) {
      if (err instanceof Refused) throw err.conflict;
      throw err;
    }
  }
}
