// Image garbage collection. Above a disk-usage threshold, images that no
// container uses are removed (oldest stored first) until usage is below the
// low mark; then a sweep removes every blob and snapshot that no remaining
// image, container rootfs or pull in progress refers to. `sweep` alone is
// always safe to run.
import { statfs } from 'node:fs/promises';
import { silentLogger, type Logger } from '../../api/index.js';
import { ContentStore, STORED_AT_ANNOTATION } from './content-store.js';
import { manifestKind, type ImageIndex, type ImageManifest } from './media-types.js';
import type { Snapshotter } from './snapshotter.js';

export interface DiskUsage {
  usedBytes: number;
  totalBytes: number;
}

export interface GcOptions {
  /** Start removing images above this use of the disk holding the store (percent). */
  highThresholdPercent?: number;
  /** Stop removing images below this (percent). */
  lowThresholdPercent?: number;
  /** How full the disk is (default: statfs of the store's filesystem). */
  usage?: () => Promise<DiskUsage>;
  /** Leftover ingest and unpack directories older than this are removed. */
  staleMs?: number;
  log?: Logger;
}

export interface GcResult {
  imagesRemoved: string[];
  blobsRemoved: string[];
  snapshotsRemoved: string[];
  usedPercentBefore: number;
  usedPercentAfter: number;
}

export async function statfsUsage(path: string): Promise<DiskUsage> {
  const s = await statfs(path);
  return { usedBytes: (s.blocks - s.bfree) * s.bsize, totalBytes: s.blocks * s.bsize };
}

const percent = (u: DiskUsage) => (u.totalBytes > 0 ? (100 * u.usedBytes) / u.totalBytes : 0);

/** Blobs and diffIDs reachable from the store's image records and the containers' rootfs records. */
async function references(store: ContentStore, snapshotter: Snapshotter): Promise<{ blobs: Set<string>; diffIds: Set<string> }> {
  const blobs = new Set<string>();
  const diffIds = new Set<string>();
  const visit = async (digest: string, depth: number): Promise<void> => {
    if (blobs.has(digest) || depth > 4) return;
    blobs.add(digest);
    let json: unknown;
    try {
      json = await store.readJson(digest);
    } catch {
      return; // a record pointing at a missing blob keeps nothing else
    }
    let kind;
    try {
      kind = manifestKind(undefined, json);
    } catch {
      return;
    }
    if (kind === 'index') {
      for (const m of (json as ImageIndex).manifests) await visit(m.digest, depth + 1);
      return;
    }
    const m = json as ImageManifest;
    blobs.add(m.config.digest);
    for (const l of m.layers) blobs.add(l.digest);
    try {
      const cfg = await store.readJson<{ rootfs?: { diff_ids?: string[] } }>(m.config.digest);
      for (const d of cfg.rootfs?.diff_ids ?? []) diffIds.add(d);
    } catch {
      /* config gone: nothing more to keep */
    }
  };
  for (const rec of await store.listImages()) await visit(rec.target.digest, 0);
  for (const r of await snapshotter.listRootfs()) {
    if (r.manifestDigest) await visit(r.manifestDigest, 0);
    for (const d of r.diffIds) diffIds.add(d);
  }
  return { blobs, diffIds };
}

/** Removes blobs and snapshots nothing refers to (under the store lock). */
export async function sweep(store: ContentStore, snapshotter: Snapshotter, opts: { staleMs?: number; log?: Logger } = {}): Promise<{ blobs: string[]; snapshots: string[] }> {
  const log = opts.log ?? silentLogger();
  return store.withLock(async () => {
    const refs = await references(store, snapshotter);
    const blobs: string[] = [];
    const snapshots: string[] = [];
    for (const d of await store.listBlobs()) {
      if (refs.blobs.has(d) || store.isLeased(d)) continue;
      await store.deleteBlob(d);
      blobs.push(d);
    }
    for (const d of await snapshotter.listSnapshots()) {
      if (refs.diffIds.has(d) || snapshotter.isUnpacking(d)) continue;
      await snapshotter.removeSnapshot(d);
      snapshots.push(d);
    }
    const stale = opts.staleMs ?? 3_600_000;
    await store.cleanIngest(stale);
    await snapshotter.cleanTemp(stale);
    if (blobs.length + snapshots.length > 0) log.info({ blobs: blobs.length, snapshots: snapshots.length }, 'removed unreferenced blobs and snapshots');
    return { blobs, snapshots };
  });
}

export async function collectGarbage(store: ContentStore, snapshotter: Snapshotter, opts: GcOptions = {}): Promise<GcResult> {
  const log = opts.log ?? silentLogger();
  const usage = opts.usage ?? (() => statfsUsage(store.root));
  const high = opts.highThresholdPercent ?? 85;
  const low = opts.lowThresholdPercent ?? 80;
  const before = percent(await usage());
  const result: GcResult = { imagesRemoved: [], blobsRemoved: [], snapshotsRemoved: [], usedPercentBefore: before, usedPercentAfter: before };
  const collect = async () => {
    const s = await sweep(store, snapshotter, { ...(opts.staleMs !== undefined ? { staleMs: opts.staleMs } : {}), log });
    result.blobsRemoved.push(...s.blobs);
    result.snapshotsRemoved.push(...s.snapshots);
  };
  if (before < high) {
    return result;
  }
  const inUse = new Set<string>();
  for (const r of await snapshotter.listRootfs()) {
    if (r.image) inUse.add(r.image);
    if (r.manifestDigest) inUse.add(r.manifestDigest);
  }
  const candidates = (await store.listImages())
    .filter((rec) => !inUse.has(rec.name) && !inUse.has(rec.target.digest))
    .sort((a, b) => (a.target.annotations?.[STORED_AT_ANNOTATION] ?? '').localeCompare(b.target.annotations?.[STORED_AT_ANNOTATION] ?? ''));
  await collect();
  let now = percent(await usage());
  for (const rec of candidates) {
    if (now < low) break;
    await store.removeImage(rec.name);
    result.imagesRemoved.push(rec.name);
    log.info({ image: rec.name, usedPercent: Math.round(now) }, 'garbage-collecting unused image');
    await collect();
    now = percent(await usage());
  }
  result.usedPercentAfter = now;
  return result;
}
