// Import and export of OCI image layout tars (the `docker save`/`docker load`
// path for hosts without a registry). Import unpacks the tar into a scratch
// directory inside the store, accepts only the layout's own files, and copies
// every blob in through the verifying content-store write; export writes a
// layout holding one image and tars it.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { ContentStore, REF_NAME_ANNOTATION } from './content-store.js';
import { ImageError, isImageError } from './errors.js';
import { MEDIA_TYPE, manifestKind, selectPlatformManifest, validateConfig, validateIndex, validateManifest, type Descriptor, type Platform, DEFAULT_PLATFORM } from './media-types.js';
import type { ImageInfo } from './puller.js';
import { formatReference, parseReference } from './reference.js';

/** containerd and docker put the full image name here; ref.name often holds only the tag. */
export const CONTAINERD_IMAGE_NAME = 'io.containerd.image.name';

export interface ImportOptions {
  /** Name for images whose annotations carry none (or only a tag). */
  name?: string;
  platform?: Platform;
}

const LAYOUT_FILE = /^(?:\.\/)?(?:oci-layout|index\.json|blobs\/?|blobs\/sha256\/?|blobs\/sha256\/[a-f0-9]{64})$/;

/** Imports every image of an OCI layout tar; returns the names recorded. */
export async function importLayoutTar(store: ContentStore, tarPath: string, opts: ImportOptions = {}): Promise<string[]> {
  const scratch = join(store.ingestDir, `import-${randomBytes(6).toString('hex')}`);
  await mkdir(scratch, { recursive: true });
  const release: (() => void)[] = [];
  try {
    const bad: string[] = [];
    try {
      await tar.x({
        file: tarPath,
        cwd: scratch,
        strict: true,
        preserveOwner: false,
        filter: (path, entry) => {
          const type = (entry as { type?: string }).type;
          const ok = LAYOUT_FILE.test(path) && (type === 'File' || type === 'OldFile' || type === 'Directory');
          if (!ok && !/^(?:\.\/)?(?:manifest\.json|repositories)$/.test(path) && path !== './') bad.push(path);
          return ok;
        },
      });
    } catch (e) {
      throw new ImageError('InvalidArchive', `${tarPath}: not a readable tar archive: ${(e as Error).message}`, { cause: e });
    }
    if (bad.length > 0) throw new ImageError('InvalidArchive', `${tarPath}: unexpected entries in an OCI layout: ${bad.slice(0, 5).map((b) => JSON.stringify(b)).join(', ')}`);
    let layoutVersion: string | undefined;
    try {
      layoutVersion = (JSON.parse(await readFile(join(scratch, 'oci-layout'), 'utf8')) as { imageLayoutVersion?: string }).imageLayoutVersion;
    } catch {
      throw new ImageError('InvalidArchive', `${tarPath}: no oci-layout file (only OCI image layout tars can be imported)`);
    }
    if (layoutVersion !== '1.0.0') throw new ImageError('InvalidArchive', `${tarPath}: unsupported imageLayoutVersion ${JSON.stringify(layoutVersion)}`);
    const blobFile = (d: string) => join(scratch, 'blobs', 'sha256', d.replace(/^sha256:/, ''));
    const readJsonBlob = async (d: Descriptor, what: string): Promise<{ json: unknown; bytes: Buffer }> => {
      let bytes: Buffer;
      try {
        bytes = await readFile(blobFile(d.digest));
      } catch {
        throw new ImageError('InvalidArchive', `${tarPath}: ${what} ${d.digest} is missing`);
      }
      try {
        return { json: JSON.parse(bytes.toString('utf8')), bytes };
      } catch {
        throw new ImageError('InvalidArchive', `${tarPath}: ${what} ${d.digest} is not JSON`);
      }
    };
    const copyIn = async (d: Descriptor, what: string) => {
      release.push(store.lease([d.digest]));
      if (await store.has(d.digest)) return;
      try {
        await stat(blobFile(d.digest));
      } catch {
        throw new ImageError('InvalidArchive', `${tarPath}: ${what} ${d.digest} is missing`);
      }
      await store.writeBlob(d.digest, createReadStream(blobFile(d.digest)), { size: d.size, what: `${what} ${d.digest} in ${tarPath}` });
    };

    const index = validateIndex(JSON.parse(await readFile(join(scratch, 'index.json'), 'utf8')), `${tarPath} index.json`);
    const names: string[] = [];
    for (const top of index.manifests) {
      const name = imageName(top, opts.name, tarPath);
      let desc = top;
      let { json, bytes } = await readJsonBlob(desc, 'manifest');
      if (manifestKind(desc.mediaType, json) === 'index') {
        desc = selectPlatformManifest(validateIndex(json, name), opts.platform ?? DEFAULT_PLATFORM);
        ({ json, bytes } = await readJsonBlob(desc, 'manifest'));
      }
      const manifest = validateManifest(json, name);
      await copyIn(manifest.config, 'config');
      validateConfig(await store.readJson(manifest.config.digest), manifest.layers.length, name);
      for (const l of manifest.layers) await copyIn(l, 'layer');
      release.push(store.lease([desc.digest]));
      await store.putBlob(bytes, desc.digest, `manifest of ${name}`);
      await store.setImage(name, { mediaType: desc.mediaType ?? MEDIA_TYPE.ociManifest, digest: desc.digest, size: bytes.length });
      names.push(name);
    }
    if (names.length === 0) throw new ImageError('InvalidArchive', `${tarPath}: the layout's index.json lists no images`);
    return names;
  } catch (e) {
    if (isImageError(e)) throw e;
    throw new ImageError('InvalidArchive', `importing ${tarPath}: ${(e as Error).message}`, { cause: e });
  } finally {
    for (const r of release) r();
    await rm(scratch, { recursive: true, force: true });
  }
}

function imageName(d: Descriptor, fallback: string | undefined, tarPath: string): string {
  const candidates = [d.annotations?.[CONTAINERD_IMAGE_NAME], d.annotations?.[REF_NAME_ANNOTATION], fallback];
  for (const c of candidates) {
    if (!c) continue;
    // A bare tag ("1.35") is not a name; with a fallback name it is its tag.
    if (/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(c) && !c.includes('/') && c === d.annotations?.[REF_NAME_ANNOTATION] && fallback) {
      const f = parseReference(fallback);
      return formatReference({ registry: f.registry, repository: f.repository, tag: c });
    }
    try {
      return formatReference(parseReference(c));
    } catch {
      /* try the next */
    }
  }
  throw new ImageError('InvalidArchive', `${tarPath}: image ${d.digest} has no name annotation; give a name to import it under`);
}

/** Writes `image` as an OCI layout tar at `tarPath` (replaced atomically). */
export async function exportLayoutTar(store: ContentStore, image: ImageInfo, tarPath: string): Promise<void> {
  const scratch = join(store.ingestDir, `export-${randomBytes(6).toString('hex')}`);
  const blobs = join(scratch, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const release = store.lease([image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)]);
  try {
    const manifestBytes = await store.readBlob(image.manifestDigest);
    for (const d of [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)]) {
      const dst = join(blobs, d.replace(/^sha256:/, ''));
      if (await stat(dst).then(() => true, () => false)) continue;
      await link(store.blobPath(d), dst).catch(() => copyFile(store.blobPath(d), dst));
    }
    await writeFile(join(scratch, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const mediaType = (JSON.parse(manifestBytes.toString('utf8')) as { mediaType?: string }).mediaType ?? MEDIA_TYPE.ociManifest;
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: [
        {
          mediaType,
          digest: image.manifestDigest,
          size: manifestBytes.length,
          annotations: { [REF_NAME_ANNOTATION]: image.name, [CONTAINERD_IMAGE_NAME]: image.name },
        },
      ],
    };
    await writeFile(join(scratch, 'index.json'), JSON.stringify(index));
    const tmp = `${tarPath}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await tar.c({ file: tmp, cwd: scratch, portable: true, mtime: new Date(0) }, ['oci-layout', 'index.json', 'blobs']);
      await rename(tmp, tarPath);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  } finally {
    release();
    await rm(scratch, { recursive: true, force: true });
  }
}
