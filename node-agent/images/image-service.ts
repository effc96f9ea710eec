// The image store of one node: content store + puller + snapshotter + GC,
// under one state directory:
//   <stateDir>/content/   OCI image layout (oci-layout, index.json, blobs/sha256, ingest/)
//   <stateDir>/snapshots/ one unpacked directory per layer diffID
//   <stateDir>/rootfs/    per container: upper, work, the mounted rootfs and its record
// This is what the pod runtime uses: ensureImage (pull policy), prepareRootfs /
// removeRootfs (the container's overlay mount), image config for the OCI spec.
import { join } from 'node:path';
import { realClock, silentLogger, type Clock, type Logger } from '../../api/index.js';
import { ContentStore, type ImageRecord } from './content-store.js';
import { ImageError } from './errors.js';
import { collectGarbage, sweep, type GcOptions, type GcResult } from './gc.js';
import { exportLayoutTar, importLayoutTar, type ImportOptions } from './layout-tar.js';
import type { ImageConfigFile, Platform } from './media-types.js';
import { loadNativeOps, type NativeOps } from './native-ops.js';
import { ImagePuller, type ImageInfo, type ProgressListener, type PullCredentials, type PullPolicy } from './puller.js';
import { formatReference, parseReference } from './reference.js';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';
import { Snapshotter, type RootfsRecord } from './snapshotter.js';

export interface ImageServiceOptions {
  stateDir: string;
  /** Registry transport settings (insecure registries, credentials, retries, fetch). */
  registry?: RegistryClientOptions;
  /** mount/umount/mknod/lsetxattr; default: the native addon, or its child-process fallback. */
  native?: NativeOps;
  platform?: Platform;
  log?: Logger;
  clock?: Clock;
  gc?: GcOptions;
}

/** What a container needs of its image to build its OCI spec. */
export interface ImageRuntimeConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
}

export function runtimeConfig(config: ImageConfigFile): ImageRuntimeConfig {
  const c = config.config ?? {};
  return {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env: c.Env ?? [],
    workingDir: c.WorkingDir || '/',
    user: c.User ?? '',
  };
}

export interface PreparedRootfs extends RootfsRecord {
  imageInfo: ImageInfo;
  config: ImageRuntimeConfig;
}

export class ImageService {
  readonly store: ContentStore;
  readonly client: RegistryClient;
  readonly puller: ImagePuller;
  private snapshotterValue?: Snapshotter;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private readonly opts: ImageServiceOptions) {
    this.log = opts.log ?? silentLogger();
    const clock = opts.clock ?? realClock;
    this.clock = clock;
    this.store = new ContentStore(join(opts.stateDir, 'content'));
    this.client = new RegistryClient({ log: this.log, clock, ...opts.registry });
    this.puller = new ImagePuller({ store: this.store, client: this.client, log: this.log, clock, ...(opts.platform ? { platform: opts.platform } : {}) });
  }

  get snapshotter(): Snapshotter {
    if (!this.snapshotterValue) throw new Error('ImageService.init() was not called');
    return this.snapshotterValue;
  }

  async init(): Promise<this> {
    await this.store.init();
    let native: NativeOps;
    if (this.opts.native) native = this.opts.native;
    else {
      const loaded = await loadNativeOps();
      if (loaded.source !== 'native') this.log.warn('native addon not loadable; mounting and whiteouts go through mount(8), mknod(1) and python3');
      native = loaded;
    }
    this.snapshotterValue = new Snapshotter({ stateDir: this.opts.stateDir, store: this.store, native, log: this.log });
    await this.snapshotterValue.init();
    return this;
  }

  /** Pull progress goes to `onProgress` (pod events) and, every few seconds, to the agent's log. */
  ensureImage(ref: string, policy: PullPolicy = 'IfNotPresent', onProgress?: ProgressListener, credentials?: PullCredentials): Promise<ImageInfo> {
    let lastLog = this.clock.now();
    return this.puller.ensureImage(
      ref,
      policy,
      (p) => {
      onProgress?.(p);
      if (!p.done && this.clock.now() - lastLog >= 3_000) {
        lastLog = this.clock.now();
        this.log.info({ image: p.ref, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, layersDone: p.layersDone, layersTotal: p.layersTotal }, 'pulling image: progress');
      }
      },
      credentials,
    );
  }

  pull(ref: string, onProgress?: ProgressListener): Promise<ImageInfo> {
    return this.puller.pull(ref, onProgress);
  }

  async getImage(ref: string): Promise<ImageInfo | undefined> {
    return this.puller.resolveLocal(ref);
  }

  listImages(): Promise<ImageRecord[]> {
    return this.store.listImages();
  }

  /** Removes the image record (blobs go at the next sweep); refuses while a container uses it. */
  async removeImage(ref: string): Promise<boolean> {
    const name = formatReference(parseReference(ref));
    const rec = await this.store.getImage(name);
    if (!rec) return false;
    const users = (await this.snapshotter.listRootfs()).filter((r) => r.image === name || r.manifestDigest === rec.target.digest);
    const sameDigestElsewhere = (await this.store.listImages()).some((r) => r.name !== name && r.target.digest === rec.target.digest);
    if (users.length > 0 && !sameDigestElsewhere) {
      throw new ImageError('InvalidImage', `image ${name} is in use by container ${users[0]!.containerId}`);
    }
    return this.store.removeImage(name);
  }

  /**
   * Mounts the container's rootfs from a stored image (pull it first with
   * ensureImage): layers unpacked once, an overlay with the container's own
   * upper/work dirs. Returns the mount, the rootfs path and the image config.
   */
  async prepareRootfs(containerId: string, imageRef: string): Promise<PreparedRootfs> {
    const image = await this.puller.resolveLocal(imageRef);
    if (!image) throw new ImageError('ImageNotPresent', `image "${formatReference(parseReference(imageRef))}" is not in the store`);
    const rec = await this.snapshotter.prepareRootfs(containerId, image);
    return { ...rec, imageInfo: image, config: runtimeConfig(image.config) };
  }

  removeRootfs(containerId: string): Promise<void> {
    return this.snapshotter.removeRootfs(containerId);
  }

  importImage(tarPath: string, opts: ImportOptions = {}): Promise<string[]> {
    return importLayoutTar(this.store, tarPath, { ...(this.opts.platform ? { platform: this.opts.platform } : {}), ...opts });
  }

  async exportImage(ref: string, tarPath: string): Promise<void> {
    const image = await this.puller.resolveLocal(ref);
    if (!image) throw new ImageError('ImageNotPresent', `image "${formatReference(parseReference(ref))}" is not in the store`);
    await exportLayoutTar(this.store, image, tarPath);
  }

  /** Removes unused images above the disk threshold, then unreferenced blobs and snapshots. */
  gc(opts: GcOptions = {}): Promise<GcResult> {
    return collectGarbage(this.store, this.snapshotter, { log: this.log, ...this.opts.gc, ...opts });
  }

  /** Removes only unreferenced blobs and snapshots (no image records). */
  sweep(): Promise<{ blobs: string[]; snapshots: string[] }> {
    return sweep(this.store, this.snapshotter, { log: this.log });
  }
}
