// The overlay snapshotter. Every layer is unpacked once, keyed by its diffID,
// into `snapshots/<hex>/fs` and shared read-only by every container of every
// image that has it. A container's rootfs is an overlay of its image's layer
// directories (top layer first) plus its own upper and work directories under
// `rootfs/<containerId>/`. `rootfsMount` decides the mount as data (pure, unit
// tested); `prepareRootfs`/`removeRootfs` carry it out through NativeOps.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../api/index.js';
import { ContentStore, digestHex } from './content-store.js';
import { ImageError, isImageError } from './errors.js';
import { layerCompression } from './media-types.js';
import { MNT_DETACH, type NativeOps } from './native-ops.js';
import type { ImageInfo } from './puller.js';
import { unpackLayer } from './unpack.js';

export interface Mount {
  type: string;
  source: string;
  /** Where to mount (the container's rootfs). */
  target: string;
  options: string[];
}

export interface RootfsRecord {
  containerId: string;
  image: string;
  manifestDigest: string;
  diffIds: string[];
  rootfs: string;
  mount: Mount;
}

export interface SnapshotterOptions {
  /** Holds `snapshots/` and `rootfs/`. */
  stateDir: string;
  store: ContentStore;
  native: NativeOps;
  log?: Logger;
  /** Where mounts are listed (tests may point elsewhere). */
  mountsFile?: string;
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The overlay mount for a rootfs: pure, from directories to mount data. */
export function rootfsMount(layerDirsBottomFirst: string[], upper: string, work: string, target: string): Mount {
  if (layerDirsBottomFirst.length === 0) throw new ImageError('InvalidImage', 'an image without layers cannot be a rootfs');
  for (const d of [...layerDirsBottomFirst, upper, work]) {
    if (/[,:]/.test(d)) throw new ImageError('RootfsFailed', `overlay directory ${JSON.stringify(d)} contains ',' or ':'`);
  }
  const lower = [...layerDirsBottomFirst].reverse().join(':');
  return { type: 'overlay', source: 'overlay', target, options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`] };
}

export class Snapshotter {
  readonly snapshotsDir: string;
  readonly rootfsDir: string;
  private readonly store: ContentStore;
  private readonly native: NativeOps;
  private readonly log: Logger;
  private readonly mountsFile: string;
  /** Unpacks in flight, per diffID (single flight). */
  private readonly unpacking = new Map<string, Promise<string>>();

  constructor(opts: SnapshotterOptions) {
    this.snapshotsDir = join(opts.stateDir, 'snapshots');
    this.rootfsDir = join(opts.stateDir, 'rootfs');
    this.store = opts.store;
    this.native = opts.native;
    this.log = opts.log ?? silentLogger();
    this.mountsFile = opts.mountsFile ?? '/proc/self/mounts';
  }

  async init(): Promise<void> {
    await mkdir(this.snapshotsDir, { recursive: true });
    await mkdir(this.rootfsDir, { recursive: true });
  }

  snapshotDir(diffId: string): string {
    return join(this.snapshotsDir, digestHex(diffId), 'fs');
  }

  /** DiffIDs that are unpacked, or being unpacked right now. */
  async listSnapshots(): Promise<string[]> {
    const names = await readdir(this.snapshotsDir).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  isUnpacking(diffId: string): boolean {
    return this.unpacking.has(diffId);
  }

  /** Unpacks every layer of the image that is not unpacked yet; returns layer dirs bottom first. */
  async ensureLayers(image: ImageInfo): Promise<string[]> {
    const dirs: string[] = [];
    for (let i = 0; i < image.layers.length; i++) {
      dirs.push(await this.ensureLayer(image, i));
    }
    return dirs;
  }

  private ensureLayer(image: ImageInfo, i: number): Promise<string> {
    const diffId = image.diffIds[i]!;
    let p = this.unpacking.get(diffId);
    if (!p) {
      p = this.unpackOnce(image, i).finally(() => this.unpacking.delete(diffId));
      this.unpacking.set(diffId, p);
    }
    return p;
  }

  private async unpackOnce(image: ImageInfo, i: number): Promise<string> {
    const layer = image.layers[i]!;
    const diffId = image.diffIds[i]!;
    const final = join(this.snapshotsDir, digestHex(diffId));
    if (await exists(join(final, 'fs'))) return join(final, 'fs');
    const tmp = join(this.snapshotsDir, `tmp-${randomBytes(6).toString('hex')}`);
    await mkdir(join(tmp, 'fs'), { recursive: true, mode: 0o755 });
    const release = this.store.lease([layer.digest]);
    try {
      const what = `layer ${i + 1}/${image.layers.length} (${layer.digest}) of ${image.name}`;
      const r = await unpackLayer({
        source: this.store.openBlob(layer.digest),
        compression: layerCompression(layer.mediaType),
        root: join(tmp, 'fs'),
        native: this.native,
        expectedDiffId: diffId,
        what,
      });
      await writeFile(join(tmp, 'layer.json'), JSON.stringify({ diffId, digest: layer.digest, mediaType: layer.mediaType, entries: r.entries }));
      try {
        await rename(tmp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        await rm(tmp, { recursive: true, force: true }); // someone else finished it first
      }
      this.log.info({ diffId, layer: layer.digest, entries: r.entries, whiteouts: r.whiteouts }, 'unpacked layer');
      return join(final, 'fs');
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      if (isImageError(e)) throw e;
      throw new ImageError('LayerUnpackFailed', `unpacking layer ${layer.digest} of ${image.name}: ${(e as Error).message}`, { cause: e });
    } finally {
      release();
    }
  }

  async removeSnapshot(diffId: string): Promise<void> {
    await rm(join(this.snapshotsDir, digestHex(diffId)), { recursive: true, force: true });
  }

  /** Leftover `tmp-*` directories from a crash; removes those older than `olderThanMs`. */
  async cleanTemp(olderThanMs: number, now = Date.now()): Promise<number> {
    let n = 0;
    for (const name of await readdir(this.snapshotsDir).catch(() => [] as string[])) {
      if (!name.startsWith('tmp-')) continue;
      const st = await stat(join(this.snapshotsDir, name)).catch(() => undefined);
      if (st && now - st.mtimeMs >= olderThanMs) {
        await rm(join(this.snapshotsDir, name), { recursive: true, force: true });
        n++;
      }
    }
    return n;
  }

  private containerDir(containerId: string): string {
    if (!CONTAINER_ID.test(containerId)) throw new ImageError('RootfsFailed', `bad container id ${JSON.stringify(containerId)}`);
    return join(this.rootfsDir, containerId);
  }

  isMounted(target: string): boolean {
    const text = readFileSync(this.mountsFile, 'utf8');
    return text.split('\n').some((l) => l.split(' ')[1] === target.replace(/ /g, '\\040'));
  }

  /**
   * Unpacks the image's layers if needed and mounts the container's rootfs.
   * Idempotent: a rootfs that is already mounted is returned as it is.
   */
  async prepareRootfs(containerId: string, image: ImageInfo): Promise<RootfsRecord> {
    const dir = this.containerDir(containerId);
    const layers = await this.ensureLayers(image);
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    const rootfs = join(dir, 'rootfs');
    const mount = rootfsMount(layers, upper, work, rootfs);
    const record: RootfsRecord = { containerId, image: image.name, manifestDigest: image.manifestDigest, diffIds: image.diffIds, rootfs, mount };
    for (const d of [upper, work, rootfs]) await mkdir(d, { recursive: true, mode: 0o755 });
    // The record is written before the mount so GC and removeRootfs know of it even after a crash.
    await writeFile(join(dir, 'rootfs.json'), JSON.stringify(record, null, 2));
    if (!this.isMounted(rootfs)) {
      try {
        this.native.mount(mount.source, rootfs, mount.type, 0, mount.options.join(','));
      } catch (e) {
        await rm(dir, { recursive: true, force: true }); // nothing half-made stays behind
        throw new ImageError('RootfsFailed', `mounting the rootfs of container ${containerId}: ${(e as Error).message}`, { cause: e });
      }
    }
    this.log.debug({ containerId, image: image.name, layers: layers.length }, 'rootfs mounted');
    return record;
  }

  /** Unmounts and removes the container's rootfs (upper and work dirs too). Idempotent. */
  async removeRootfs(containerId: string): Promise<void> {
    const dir = this.containerDir(containerId);
    const rootfs = join(dir, 'rootfs');
    if (this.isMounted(rootfs)) {
      try {
        this.native.umount(rootfs, 0);
      } catch (e) {
        this.log.warn({ containerId, err: (e as Error).message }, 'rootfs busy; detaching lazily');
        this.native.umount(rootfs, MNT_DETACH);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  async getRootfs(containerId: string): Promise<RootfsRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.containerDir(containerId), 'rootfs.json'), 'utf8')) as RootfsRecord;
    } catch {
      return undefined;
    }
  }

  /** Every container rootfs this snapshotter holds (the references GC keeps). */
  async listRootfs(): Promise<RootfsRecord[]> {
    const out: RootfsRecord[] = [];
    for (const id of await readdir(this.rootfsDir).catch(() => [] as string[])) {
      if (!CONTAINER_ID.test(id)) continue;
      const r = await this.getRootfs(id);
      if (r) out.push(r);
      else out.push({ containerId: id, image: '', manifestDigest: '', diffIds: [], rootfs: join(this.rootfsDir, id, 'rootfs'), mount: { type: '', source: '', target: '', options: [] } });
    }
    return out;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
