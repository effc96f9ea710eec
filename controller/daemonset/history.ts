// A DaemonSet's history: one ControllerRevision per distinct pod template,
// named `<ds>-<hash>`, whose `data` is the strategic merge patch that puts the
// template back (what `kubectl rollout undo` applies) and whose `revision`
// grows with every rollout. Pure.
import type { ControllerRevision, DaemonSet } from '../../api/index.js';
import { jsonEqual } from '../../api/index.js';
import { CONTROLLER_REVISION_HASH } from './daemon-pods.js';

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** 32-bit FNV-1a of a string's UTF-8 bytes. */
function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A stable JSON text: object keys sorted, so equal templates hash alike. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The revision hash of a template (with the collision count), in Kubernetes' safe alphabet (no vowels). */
export function templateHash(template: unknown, collisionCount = 0): string {
  const h = fnv32a(canonical(template) + (collisionCount > 0 ? `/${collisionCount}` : ''));
  return [...String(h)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

/** The revision data of a DaemonSet: its template as a replacing patch. */
export function revisionData(ds: DaemonSet): Record<string, unknown> {
  return { spec: { template: { ...structuredClone(ds.spec.template), $patch: 'replace' } } };
}

export function revisionMatches(rev: ControllerRevision, ds: DaemonSet): boolean {
  return jsonEqual(rev.data ?? null, revisionData(ds));
}

/** A new ControllerRevision for the DaemonSet's current template. */
export function newRevision(ds: DaemonSet, hash: string, revision: number): ControllerRevision {
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: `${ds.metadata.name}-${hash}`,
      namespace: ds.metadata.namespace ?? 'default',
      labels: { ...(ds.spec.template.metadata?.labels ?? {}), [CONTROLLER_REVISION_HASH]: hash },
      ...(ds.metadata.annotations ? { annotations: { ...ds.metadata.annotations } } : {}),
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.metadata.name!, uid: ds.metadata.uid!, controller: true, blockOwnerDeletion: true } as never,
      ],
    },
    data: revisionData(ds),
    revision,
  };
}

/**
 * The revisions to delete so that at most `limit` old ones remain: the oldest
 * first, never the current one nor one whose hash a live pod still carries.
 */
export function revisionsToPrune(old: readonly ControllerRevision[], limit: number, liveHashes: ReadonlySet<string>): ControllerRevision[] {
  const removable = old
    .filter((r) => !liveHashes.has(r.metadata.labels?.[CONTROLLER_REVISION_HASH] ?? ''))
    .sort((a, b) => a.revision - b.revision);
  const excess = old.length - limit;
  return excess > 0 ? removable.slice(0, excess) : [];
}
