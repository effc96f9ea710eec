// The garbage collector's dependency graph: who points at whom, by uid, from
// the dependents' metadata.ownerReferences as the informers last saw them.
// Only objects with owner references are in it (as dependents) and the uids
// they name (as owners): a cluster of 10 000 pods with no owners costs nothing.
// Plain data, no I/O; the collector decides with it and confirms by live reads.
import type { KindDescriptor, OwnerReference } from '../../api/index.js';

/** An owner reference as the API stores it (blockOwnerDeletion included). */
export type OwnerRef = OwnerReference & { blockOwnerDeletion?: boolean };

/** Which object: its kind, namespace (none: cluster-scoped), name and uid. */
export interface Identity {
  kind: KindDescriptor;
  namespace?: string;
  name: string;
  uid: string;
}

interface DependentNode {
  id: Identity;
  refs: readonly OwnerRef[];
}

export class DependencyGraph {
  /** Dependents by their uid. */
  private readonly nodes = new Map<string, DependentNode>();
  /** Owner uid → dependent uid → that dependent's reference blocks the owner's foreground deletion. */
  private readonly byOwner = new Map<string, Map<string, boolean>>();

  /** Records (or replaces) what `id` points at; no references removes it. Returns the owner uids it no longer points at. */
  set(id: Identity, refs: readonly OwnerRef[]): string[] {
    const old = this.nodes.get(id.uid);
    const dropped: string[] = [];
    if (old) {
      for (const r of old.refs) {
        if (refs.some((n) => n.uid === r.uid)) continue;
        this.unlink(r.uid, id.uid);
        dropped.push(r.uid);
      }
    }
    if (refs.length === 0) {
      this.nodes.delete(id.uid);
      return dropped;
    }
    this.nodes.set(id.uid, { id, refs });
    for (const r of refs) {
      let deps = this.byOwner.get(r.uid);
      if (!deps) this.byOwner.set(r.uid, (deps = new Map()));
      deps.set(id.uid, r.blockOwnerDeletion === true);
    }
    return dropped;
  }

  /** Forgets a dependent that is gone; returns the references it had. */
  remove(uid: string): readonly OwnerRef[] {
    const old = this.nodes.get(uid);
    if (!old) return [];
    this.nodes.delete(uid);
    for (const r of old.refs) this.unlink(r.uid, uid);
    return old.refs;
  }

  /** The references a dependent had when last seen. */
  refsOf(uid: string): readonly OwnerRef[] {
    return this.nodes.get(uid)?.refs ?? [];
  }

  identity(uid: string): Identity | undefined {
    return this.nodes.get(uid)?.id;
  }

  hasDependents(ownerUid: string): boolean {
    return (this.byOwner.get(ownerUid)?.size ?? 0) > 0;
  }

  /** The dependents pointing at `ownerUid`; `blocking`: only those whose reference has blockOwnerDeletion. */
  dependentsOf(ownerUid: string, blocking = false): Identity[] {
    const out: Identity[] = [];
    for (const [uid, block] of this.byOwner.get(ownerUid) ?? []) {
      if (blocking && !block) continue;
      const n = this.nodes.get(uid);
      if (n) out.push(n.id);
    }
    return out;
  }

  /** Dependents recorded. */
  get size(): number {
    return this.nodes.size;
  }

  private unlink(ownerUid: string, depUid: string): void {
    const deps = this.byOwner.get(ownerUid);
    if (!deps) return;
    deps.delete(depUid);
    if (deps.size === 0) this.byOwner.delete(ownerUid);
  }
}
