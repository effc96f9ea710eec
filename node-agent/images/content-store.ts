// The content store: an OCI image layout (`oci-layout`, `index.json`,
// `blobs/sha256/<hex>`) in a state directory. Writes stream into `ingest/`,
// are verified (size and sha256) as they stream, and are renamed into place
// only when both match; on a mismatch the ingest file is removed and a typed
// error thrown, so a blob path that exists is always correct content.
// Committed blobs are read-only and shared by every image; image records
// (name → manifest descriptor) live in index.json under a lock.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DigestMismatchError, ImageError, SizeMismatchError } from './errors.js';
import { FileLock } from './lock.js';
import { MEDIA_TYPE, type Descriptor, type ImageIndex } from './media-types.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** Set on records we write: when the image was stored (ISO time), for GC ordering. */
export const STORED_AT_ANNOTATION = 'io.flotilla.image.stored-at';

export interface ImageRecord {
  name: string;
  target: Descriptor;
}

export interface BlobWriteOptions {
  /** Expected size in bytes; content longer than this is cut off early. */
  size?: number;
  /** Called as bytes arrive with the count so far. */
  onProgress?: (bytesDone: number) => void;
  /** What the blob is, for error messages (`layer sha256:… of busybox`). */
  what?: string;
}

const HEX = /^[a-f0-9]{64}$/;

export function digestHex(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new ImageError('InvalidImage', `unsupported digest ${JSON.stringify(digest)} (only sha256)`);
  return m[1]!;
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export class ContentStore {
  readonly root: string;
  private readonly lock: FileLock;
  /** Digests a pull or import is working with and not yet recorded: GC keeps them. */
  private readonly leases = new Map<string, number>();

  constructor(root: string) {
    this.root = root;
    this.lock = new FileLock(join(root, 'index.json.lock'));
  }

  get blobDir(): string {
    return join(this.root, 'blobs', 'sha256');
  }

  get ingestDir(): string {
    return join(this.root, 'ingest');
  }

  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true });
    await mkdir(this.ingestDir, { recursive: true });
    const layout = join(this.root, 'oci-layout');
    if (!(await exists(layout))) await writeFile(layout, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const index = join(this.root, 'index.json');
    if (!(await exists(index))) await this.writeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [] });
  }

  blobPath(digest: string): string {
    return join(this.blobDir, digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  async size(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch {
      return undefined;
    }
  }

  async readBlob(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.blobPath(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ImageError('BlobUnknown', `blob ${digest} is not in the content store`);
      throw e;
    }
  }

  async readJson<T>(digest: string): Promise<T> {
    const buf = await this.readBlob(digest);
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (e) {
      throw new ImageError('InvalidImage', `blob ${digest} is not valid JSON`, { cause: e });
    }
  }

  openBlob(digest: string): ReadStream {
    return createReadStream(this.blobPath(digest));
  }

  async listBlobs(): Promise<string[]> {
    const names = await readdir(this.blobDir).catch(() => [] as string[]);
    return names.filter((n) => HEX.test(n)).map((n) => `sha256:${n}`);
  }

  /** Protects digests from GC while a pull or import works with them. Returns the release. */
  lease(digests: string[]): () => void {
    for (const d of digests) this.leases.set(d, (this.leases.get(d) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const d of digests) {
        const n = (this.leases.get(d) ?? 1) - 1;
        if (n <= 0) this.leases.delete(d);
        else this.leases.set(d, n);
      }
    };
  }

  isLeased(digest: string): boolean {
    return this.leases.has(digest);
  }

  /** Stores a small blob from memory (manifests, configs), verifying it against `digest` when given. */
  async putBlob(data: Uint8Array, digest?: string, what?: string): Promise<Descriptor & { digest: string }> {
    const actual = sha256Digest(data);
    if (digest && digest !== actual) throw new DigestMismatchError(what ?? `blob ${digest}`, digest, actual);
    if (!(await this.has(actual))) await this.writeBlob(actual, [data], { size: data.length, what });
    return { mediaType: 'application/octet-stream', digest: actual, size: data.length };
  }

  /**
   * Streams `source` into the ingest area, hashing and counting as it goes, and
   * commits it as `digest` only when size and sha256 match. Nothing is kept on
   * failure. Committing a blob that already exists keeps the existing file.
   */
  async writeBlob(digest: string, source: Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: BlobWriteOptions = {}): Promise<void> {
    const hex = digestHex(digest);
    const what = opts.what ?? `blob ${digest}`;
    const ingest = join(this.ingestDir, `${hex}-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let n = 0;
    const out = createWriteStream(ingest, { flags: 'wx', mode: 0o600 });
    const outDone = new Promise<void>((resolve, reject) => {
      out.once('finish', resolve);
      out.once('error', reject);
      out.once('close', resolve); // destroyed without an error
    });
    outDone.catch(() => undefined); // awaited below; this only marks it handled
    try {
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        const buf = chunk instanceof Uint8Array ? chunk : Buffer.from(chunk as string);
        n += buf.length;
        if (opts.size !== undefined && n > opts.size) throw new SizeMismatchError(what, opts.size, n);
        hash.update(buf);
        if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', r));
        opts.onProgress?.(n);
      }
      out.end();
      await outDone;
      if (opts.size !== undefined && n !== opts.size) throw new SizeMismatchError(what, opts.size, n);
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) throw new DigestMismatchError(what, digest, actual);
      await chmod(ingest, 0o444);
      await rename(ingest, join(this.blobDir, hex));
    } catch (e) {
      out.destroy();
      await outDone.catch(() => undefined);
      await rm(ingest, { force: true });
      throw e;
    }
  }

  async deleteBlob(digest: string): Promise<void> {
    await unlink(this.blobPath(digest)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /** Ingest files left by a crash (older than `olderThanMs`). */
  async cleanIngest(olderThanMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const n of await readdir(this.ingestDir).catch(() => [] as string[])) {
      const p = join(this.ingestDir, n);
      const st = await stat(p).catch(() => undefined);
      if (st && now - st.mtimeMs >= olderThanMs) {
        await rm(p, { force: true, recursive: true });
        removed++;
      }
    }
    return removed;
  }

  // ---- image records (index.json) ----

  async readIndex(): Promise<ImageIndex> {
    const raw = await readFile(join(this.root, 'index.json'), 'utf8');
    const idx = JSON.parse(raw) as ImageIndex;
    if (!Array.isArray(idx.manifests)) idx.manifests = [];
    return idx;
  }

  private async writeIndex(idx: ImageIndex): Promise<void> {
    const tmp = join(this.root, `.index.json.${randomBytes(4).toString('hex')}`);
    await writeFile(tmp, JSON.stringify(idx, null, 2));
    await rename(tmp, join(this.root, 'index.json'));
  }

  async listImages(): Promise<ImageRecord[]> {
    const idx = await this.readIndex();
    return idx.manifests
      .filter((d) => d.annotations?.[REF_NAME_ANNOTATION])
      .map((d) => ({ name: d.annotations![REF_NAME_ANNOTATION]!, target: d }));
  }

  async getImage(name: string): Promise<ImageRecord | undefined> {
    return (await this.listImages()).find((r) => r.name === name);
  }

  /** Points `name` at `target` (replacing any record of that name) under the store lock. */
  async setImage(name: string, target: Descriptor, at = new Date()): Promise<void> {
    await this.updateIndex((idx) => {
      idx.manifests = idx.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== name);
      const { annotations, platform, ...rest } = target;
      idx.manifests.push({
        ...rest,
        ...(platform ? { platform } : {}),
        annotations: { ...annotations, [REF_NAME_ANNOTATION]: name, [STORED_AT_ANNOTATION]: at.toISOString() },
      });
      idx.manifests.sort((a, b) => (a.annotations?.[REF_NAME_ANNOTATION] ?? '').localeCompare(b.annotations?.[REF_NAME_ANNOTATION] ?? ''));
    });
  }

  async removeImage(name: string): Promise<boolean> {
    let removed = false;
    await this.updateIndex((idx) => {
      const before = idx.manifests.length;
      idx.manifests = idx.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== name);
      removed = idx.manifests.length !== before;
    });
    return removed;
  }

  /** Runs `fn` on index.json under the store lock and writes the result atomically. */
  async updateIndex(fn: (idx: ImageIndex) => void | Promise<void>): Promise<void> {
    await this.lock.run(async () => {
      const idx = await this.readIndex();
      await fn(idx);
      await this.writeIndex(idx);
    });
  }

  /** Runs `fn` under the store lock without touching the index (GC sweeps). */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
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
