// Pushing an image from a content store (or any OCI layout directory) to a v2
// registry: blobs the registry lacks go up as monolithic uploads (POST, then
// PUT with the digest), then the manifest is PUT under the tag. Used by the
// tests, `hack/up.sh`, and to seed a lab's registry.
import { ContentStore } from './content-store.js';
import { ImageError } from './errors.js';
import { validateManifest, type ImageManifest } from './media-types.js';
import { parseReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';

export interface PushResult {
  ref: string;
  manifestDigest: string;
  /** Blobs uploaded (the others were already there). */
  uploaded: string[];
  skipped: string[];
}

/**
 * Pushes the image recorded as `sourceName` in `source` (or its only image when
 * undefined) to `targetRef` (`host:port/repo:tag`).
 */
export async function pushImage(client: RegistryClient, source: ContentStore, sourceName: string | undefined, targetRef: string): Promise<PushResult> {
  const images = await source.listImages();
  const rec = sourceName === undefined ? (images.length === 1 ? images[0] : undefined) : images.find((r) => r.name === sourceName);
  if (!rec) throw new ImageError('ImageNotPresent', `image ${JSON.stringify(sourceName ?? '(the only one)')} is not in ${source.root}`);
  const r = parseReference(targetRef);
  const manifestBytes = await source.readBlob(rec.target.digest);
  const manifest: ImageManifest = validateManifest(JSON.parse(manifestBytes.toString('utf8')), rec.name);
  const result: PushResult = { ref: targetRef, manifestDigest: rec.target.digest, uploaded: [], skipped: [] };
  for (const d of [manifest.config, ...manifest.layers]) {
    const head = await client.request({ registry: r.registry, repository: r.repository, method: 'HEAD', path: `blobs/${d.digest}`, actions: 'pull,push', okStatuses: [404] });
    if (head.status === 200) {
      result.skipped.push(d.digest);
      continue;
    }
    const start = await client.request({ registry: r.registry, repository: r.repository, method: 'POST', path: 'blobs/uploads/', actions: 'pull,push' });
    await start.arrayBuffer();
    const location = start.headers.get('location');
    if (!location) throw new ImageError('RegistryError', `${r.registry} gave no upload location for ${d.digest}`);
    const url = new URL(location, client.baseUrl(r.registry));
    url.searchParams.set('digest', d.digest);
    const put = await client.request({
      registry: r.registry,
      repository: r.repository,
      method: 'PUT',
      path: url.toString(),
      actions: 'pull,push',
      headers: { 'content-type': 'application/octet-stream' },
      body: await source.readBlob(d.digest),
    });
    await put.arrayBuffer();
    result.uploaded.push(d.digest);
  }
  const res = await client.request({
    registry: r.registry,
    repository: r.repository,
    method: 'PUT',
    path: `manifests/${r.tag ?? r.digest ?? 'latest'}`,
    actions: 'pull,push',
    headers: { 'content-type': rec.target.mediaType },
    body: manifestBytes,
  });
  await res.arrayBuffer();
  return result;
}

/** Opens an OCI layout directory (such as the one hack/test-image.mjs writes) as a store. */
export function openLayout(dir: string): ContentStore {
  return new ContentStore(dir);
}
