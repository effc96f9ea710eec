// Pulling images into the content store, and `ensureImage(ref, policy)`, the
// entry point the pod runtime calls. A pull resolves the reference to a
// manifest (choosing linux/amd64 out of an index), verifies every digest, and
// fetches only the blobs the store lacks, so pulling a cached image transfers
// manifests only. Concurrent pulls of the same reference share one flight.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { realClock, silentLogger, type Clock, type Logger } from '../../api/index.js';
import { ContentStore, sha256Digest } from './content-store.js';
import { DigestMismatchError, ImageError, isImageError } from './errors.js';
import {
  DEFAULT_PLATFORM,
  MEDIA_TYPE,
  manifestKind,
  selectPlatformManifest,
  validateConfig,
  validateIndex,
  validateManifest,
  type Descriptor,
  type ImageConfigFile,
  type ImageManifest,
  type Platform,
} from './media-types.js';
import { formatReference, parseReference, type ImageReference } from './reference.js';
import { credentialsTag, type RegistryClient, type RegistryCredentials } from './registry-client.js';

/** The credentials for a registry host (a pod's imagePullSecrets: pull-secrets.ts), or none. */
export type PullCredentials = (registry: string) => RegistryCredentials | undefined;

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface PullProgress {
  ref: string;
  /** Bytes of layers and config present so far (cached ones count as done). */
  bytesDone: number;
  bytesTotal: number;
  /** Bytes actually transferred from the registry by this pull. */
  bytesTransferred: number;
  layersDone: number;
  layersTotal: number;
  done: boolean;
}

export type ProgressListener = (p: PullProgress) => void;

export interface ImageInfo {
  /** The normalised reference the record is stored under. */
  name: string;
  manifestDigest: string;
  manifest: ImageManifest;
  configDigest: string;
  config: ImageConfigFile;
  /** Layer descriptors, bottom first. */
  layers: Descriptor[];
  /** Uncompressed layer digests, bottom first (config rootfs.diff_ids). */
  diffIds: string[];
  /** Sum of the compressed layer sizes. */
  size: number;
}

export interface ImagePullerOptions {
  store: ContentStore;
  client: RegistryClient;
  platform?: Platform;
  log?: Logger;
  clock?: Clock;
  /** Layers fetched at once. */
  concurrency?: number;
  /** Attempts per blob when the transfer breaks off (network errors only). */
  blobAttempts?: number;
}

/**
 * Kubernetes' default imagePullPolicy for an image: Always for `:latest` (written
 * or implied) without a digest, IfNotPresent otherwise.
 */
export function defaultPullPolicy(ref: string): PullPolicy {
  const r = parseReference(ref);
  return !r.digest && r.tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Prefixes an image error with the reference it is about, keeping its kind. */
function inContext(e: unknown, ref: string): unknown {
  if (isImageError(e) && !e.message.startsWith('failed to pull image')) e.message = `failed to pull image "${ref}": ${e.message}`;
  return e;
}

export class ImagePuller {
  readonly store: ContentStore;
  private readonly client: RegistryClient;
  private readonly platform: Platform;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly flights = new Map<string, { promise: Promise<ImageInfo>; listeners: Set<ProgressListener> }>();

  constructor(private readonly opts: ImagePullerOptions) {
    this.store = opts.store;
    this.client = opts.client;
    this.platform = opts.platform ?? DEFAULT_PLATFORM;
    this.log = opts.log ?? silentLogger();
    this.clock = opts.clock ?? realClock;
  }

  /**
   * Makes sure the image is in the store, as the pull policy says:
   * Never → only what is there (ErrImageNeverPull otherwise), IfNotPresent →
   * pull only when missing, Always → resolve the reference at the registry
   * (blobs already present are not transferred again).
   */
  async ensureImage(ref: string, policy: PullPolicy = 'IfNotPresent', onProgress?: ProgressListener, credentials?: PullCredentials): Promise<ImageInfo> {
    const name = formatReference(parseReference(ref));
    if (policy !== 'Always') {
      const local = await this.resolveLocal(name);
      if (local) return local;
      if (policy === 'Never') {
        throw new ImageError('ImageNotPresent', `container image "${name}" is not present with pull policy of Never`);
      }
    }
    return this.pull(name, onProgress, credentials);
  }

  /** The stored image for a reference, or undefined. */
  async resolveLocal(ref: string): Promise<ImageInfo | undefined> {
    const r = parseReference(ref);
    const name = formatReference(r);
    let rec = await this.store.getImage(name);
    if (!rec && r.digest) {
      const want = r.digest;
      const repo = `${r.registry}/${r.repository}`;
      rec = (await this.store.listImages()).find(
        (x) => x.target.digest === want && (x.name.startsWith(`${repo}:`) || x.name.startsWith(`${repo}@`)),
      );
    }
    if (!rec) return undefined;
    try {
      return await this.imageInfo(rec.name, rec.target.digest);
    } catch (e) {
      // A record whose blobs are gone is as good as absent: pull again.
      if (isImageError(e) && e.kind === 'BlobUnknown') return undefined;
      throw e;
    }
  }

  /** Reads manifest and config of a stored image. */
  async imageInfo(name: string, manifestDigest: string): Promise<ImageInfo> {
    const manifest = validateManifest(await this.store.readJson(manifestDigest), name);
    const config = validateConfig(await this.store.readJson(manifest.config.digest), manifest.layers.length, name);
    for (const l of manifest.layers) {
      if (!(await this.store.has(l.digest))) throw new ImageError('BlobUnknown', `layer ${l.digest} of ${name} is missing from the content store`);
    }
    return {
      name,
      manifestDigest,
      manifest,
      configDigest: manifest.config.digest,
      config,
      layers: manifest.layers,
      diffIds: config.rootfs.diff_ids,
      size: manifest.layers.reduce((a, l) => a + l.size, 0),
    };
  }

  /** Pulls `ref` (single flight per normalised reference). */
  pull(ref: string, onProgress?: ProgressListener, credentials?: PullCredentials): Promise<ImageInfo> {
    const parsed = parseReference(ref);
    const name = formatReference(parsed);
    const creds = credentials?.(parsed.registry);
    // One flight per reference and credentials: a pull with wrong (or no) credentials never joins one with right ones.
    const key = `${name}|${credentialsTag(creds)}`;
    let flight = this.flights.get(key);
    if (!flight) {
      const listeners = new Set<ProgressListener>();
      const promise = this.doPull(name, creds, (p) => {
        for (const l of listeners) {
          try {
            l(p);
          } catch {
            /* a listener's failure is not the pull's */
          }
        }
      }).finally(() => this.flights.delete(key));
      flight = { promise, listeners };
      this.flights.set(key, flight);
    }
    if (onProgress) flight.listeners.add(onProgress);
    return flight.promise;
  }

  /** How many pulls are in flight (for tests and metrics). */
  get inFlight(): number {
    return this.flights.size;
  }

  private async doPull(name: string, creds: RegistryCredentials | undefined, emit: ProgressListener): Promise<ImageInfo> {
    const r = parseReference(name);
    const started = this.clock.now();
    this.log.info({ image: name }, 'pulling image');
    const leased: string[] = [];
    const release: (() => void)[] = [];
    const lease = (d: string) => {
      leased.push(d);
      release.push(this.store.lease([d]));
    };
    try {
      const { manifest, manifestBytes, manifestDigest, mediaType } = await this.resolveManifest(r, name, creds);
      lease(manifestDigest);
      lease(manifest.config.digest);
      for (const l of manifest.layers) lease(l.digest);
      await this.store.putBlob(manifestBytes, manifestDigest, `manifest of ${name}`);

      const blobs = [manifest.config, ...manifest.layers];
      const total = blobs.reduce((a, d) => a + d.size, 0);
      const progress: PullProgress = { ref: name, bytesDone: 0, bytesTotal: total, bytesTransferred: 0, layersDone: 0, layersTotal: manifest.layers.length, done: false };
      const missing: Descriptor[] = [];
      for (const d of blobs) {
        if (await this.store.has(d.digest)) {
          progress.bytesDone += d.size;
          if (d !== manifest.config) progress.layersDone++;
        } else missing.push(d);
      }
      emit({ ...progress });
      let lastEmit = 0;
      const queue = [...missing];
      // After a failure no new blob is started, and the pull answers only once the
      // blobs in flight have settled: nothing is still being written to the ingest area.
      let failure: { error: unknown } | undefined;
      const workers = Array.from({ length: Math.min(this.opts.concurrency ?? 3, queue.length) }, async () => {
        for (let d = failure ? undefined : queue.shift(); d; d = failure ? undefined : queue.shift()) {
          const isLayer = d !== manifest.config;
          const what = `${isLayer ? 'layer' : 'config'} ${d.digest} of ${name}`;
          try {
            await this.fetchBlob(r, d, what, creds, (delta) => {
              progress.bytesDone += delta;
              progress.bytesTransferred += delta;
              if (progress.bytesDone - lastEmit >= 256 * 1024) {
                lastEmit = progress.bytesDone;
                emit({ ...progress });
              }
            });
          } catch (e) {
            failure ??= { error: e };
            return;
          }
          if (isLayer) progress.layersDone++;
          emit({ ...progress });
        }
      });
      await Promise.all(workers);
      if (failure) throw failure.error;

      const info = await this.imageInfo(name, manifestDigest);
      await this.store.setImage(name, { mediaType, digest: manifestDigest, size: manifestBytes.length });
      progress.done = true;
      emit({ ...progress });
      this.log.info(
        { image: name, digest: manifestDigest, bytes: total, transferred: progress.bytesTransferred, ms: this.clock.now() - started },
        'pulled image',
      );
      return info;
    } catch (e) {
      this.log.warn({ image: name, err: (e as Error).message }, 'image pull failed');
      throw inContext(e, name);
    } finally {
      for (const rel of release) rel();
    }
  }

  private async resolveManifest(
    r: ImageReference,
    name: string,
    creds?: RegistryCredentials,
  ): Promise<{ manifest: ImageManifest; manifestBytes: Buffer; manifestDigest: string; mediaType: string }> {
    const first = await this.client.getManifest(r.registry, r.repository, r.digest ?? r.tag ?? 'latest', creds);
    const firstDigest = sha256Digest(first.body);
    if (r.digest && firstDigest !== r.digest) throw new DigestMismatchError(`manifest of ${name}`, r.digest, firstDigest);
    if (!r.digest && first.digestHeader?.startsWith('sha256:') && first.digestHeader !== firstDigest) {
      throw new DigestMismatchError(`manifest of ${name} (Docker-Content-Digest)`, first.digestHeader, firstDigest);
    }
    const parsed = parseJson(first.body, `manifest of ${name}`);
    const kind = manifestKind(first.contentType, parsed);
    if (kind === 'manifest') {
      return { manifest: validateManifest(parsed, name), manifestBytes: first.body, manifestDigest: firstDigest, mediaType: mediaTypeOf(first.contentType, parsed) };
    }
    const index = validateIndex(parsed, name);
    const desc = selectPlatformManifest(index, this.platform);
    const second = await this.client.getManifest(r.registry, r.repository, desc.digest, creds);
    const digest = sha256Digest(second.body);
    if (digest !== desc.digest) throw new DigestMismatchError(`manifest ${desc.digest} of ${name}`, desc.digest, digest);
    const body = parseJson(second.body, `manifest ${desc.digest} of ${name}`);
    if (manifestKind(second.contentType, body) !== 'manifest') throw new ImageError('InvalidImage', `${name}: index entry ${desc.digest} is not an image manifest`);
    return { manifest: validateManifest(body, name), manifestBytes: second.body, manifestDigest: digest, mediaType: desc.mediaType ?? mediaTypeOf(second.contentType, body) };
  }

  private async fetchBlob(r: ImageReference, d: Descriptor, what: string, creds: RegistryCredentials | undefined, onDelta: (n: number) => void): Promise<void> {
    const attempts = this.opts.blobAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      let counted = 0;
      // The request itself is retried by the client; here only a body that breaks off is.
      const res = await this.client.getBlob(r.registry, r.repository, d.digest, creds);
      try {
        if (!res.body) throw new ImageError('RegistryError', `${what}: empty response body`);
        const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
        await this.store.writeBlob(d.digest, body, {
          size: d.size,
          what,
          onProgress: (n) => {
            onDelta(n - counted);
            counted = n;
          },
        });
        return;
      } catch (e) {
        onDelta(-counted);
        // A transfer that broke off is worth another go; wrong content is not.
        const transient = !isImageError(e) || e.kind === 'RegistryUnavailable';
        if (!transient || attempt >= attempts) {
          if (!isImageError(e)) throw new ImageError('RegistryUnavailable', `${what}: transfer failed: ${(e as Error).message}`, { cause: e });
          throw e;
        }
        this.log.debug({ blob: d.digest, attempt, err: (e as Error).message }, 'blob transfer failed; retrying');
        await this.clock.sleep(200 * 2 ** (attempt - 1));
      }
    }
  }
}

function parseJson(buf: Buffer, what: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new ImageError('InvalidImage', `${what} is not valid JSON`, { cause: e });
  }
}

function mediaTypeOf(contentType: string, body: unknown): string {
  const own = (body as { mediaType?: unknown }).mediaType;
  if (typeof own === 'string' && own) return own;
  const h = contentType.split(';')[0]!.trim();
  return h || MEDIA_TYPE.ociManifest;
}
