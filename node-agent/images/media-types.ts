// OCI and Docker media types, and the choice of one manifest out of an index.
import { ImageError } from './errors.js';

export const MEDIA_TYPE = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The Accept header of a manifest request: every manifest kind we can use. */
export const MANIFEST_ACCEPT = [MEDIA_TYPE.ociIndex, MEDIA_TYPE.ociManifest, MEDIA_TYPE.dockerList, MEDIA_TYPE.dockerManifest].join(', ');

export type ManifestKind = 'index' | 'manifest';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfigFile {
  architecture?: string;
  os?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, unknown>;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: string; diff_ids: string[] };
  history?: unknown[];
  created?: string;
}

/**
 * Classifies a manifest by its media type (header first, then the body's own
 * `mediaType`, then its shape). Schema 1 and unknown types are refused.
 */
export function manifestKind(contentType: string | null | undefined, body: unknown): ManifestKind {
  const header = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const own = typeof body === 'object' && body !== null && typeof (body as { mediaType?: unknown }).mediaType === 'string'
    ? ((body as { mediaType: string }).mediaType)
    : '';
  for (const t of [header, own]) {
    if (t === MEDIA_TYPE.ociIndex || t === MEDIA_TYPE.dockerList) return 'index';
    if (t === MEDIA_TYPE.ociManifest || t === MEDIA_TYPE.dockerManifest) return 'manifest';
    if (t === MEDIA_TYPE.dockerSchema1Signed || t === 'application/vnd.docker.distribution.manifest.v1+json') {
      throw new ImageError('UnsupportedMediaType', `manifest media type ${t} (Docker schema 1) is not supported`);
    }
  }
  if (typeof body === 'object' && body !== null) {
    if (Array.isArray((body as { manifests?: unknown }).manifests)) return 'index';
    if (Array.isArray((body as { layers?: unknown }).layers)) return 'manifest';
  }
  throw new ImageError('UnsupportedMediaType', `unsupported manifest media type ${JSON.stringify(header || own || 'none')}`);
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/**
 * Picks the manifest for `want` out of an index: exact os/architecture, the
 * variant when asked for, and among several candidates the one without a
 * variant or the first. Attestation manifests (platform unknown/unknown) never match.
 */
export function selectPlatformManifest(index: ImageIndex, want: Platform = DEFAULT_PLATFORM): Descriptor {
  const candidates = (index.manifests ?? []).filter(
    (d) =>
      (d.mediaType === MEDIA_TYPE.ociManifest || d.mediaType === MEDIA_TYPE.dockerManifest || d.mediaType === undefined) &&
      d.platform !== undefined &&
      d.platform.os === want.os &&
      d.platform.architecture === want.architecture &&
      (want.variant === undefined || d.platform.variant === want.variant),
  );
  if (candidates.length === 0) {
    const have = (index.manifests ?? [])
      .map((d) => (d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}` : 'unknown'))
      .join(', ');
    throw new ImageError('NoMatchingPlatform', `no manifest for platform ${want.os}/${want.architecture} in the index (has: ${have || 'none'})`);
  }
  return candidates.find((d) => !d.platform?.variant) ?? candidates[0]!;
}

export type LayerCompression = 'gzip' | 'none' | 'zstd';

export function layerCompression(mediaType: string): LayerCompression {
  switch (mediaType) {
    case MEDIA_TYPE.ociLayerGzip:
    case MEDIA_TYPE.ociLayerNondistGzip:
    case MEDIA_TYPE.dockerLayerGzip:
    case MEDIA_TYPE.dockerForeignLayerGzip:
      return 'gzip';
    case MEDIA_TYPE.ociLayer:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    case MEDIA_TYPE.ociLayerZstd:
      return 'zstd';
    default:
      throw new ImageError('UnsupportedMediaType', `unsupported layer media type ${JSON.stringify(mediaType)}`);
  }
}

/** Checks the fields the puller and unpacker rely on; throws InvalidImage otherwise. */
export function validateManifest(m: unknown, what: string): ImageManifest {
  const x = m as Partial<ImageManifest>;
  if (!x || x.schemaVersion !== 2 || !x.config || !Array.isArray(x.layers)) {
    throw new ImageError('InvalidImage', `${what}: not a schema 2 image manifest`);
  }
  for (const d of [x.config, ...x.layers]) validateDescriptor(d, what);
  return x as ImageManifest;
}

export function validateIndex(m: unknown, what: string): ImageIndex {
  const x = m as Partial<ImageIndex>;
  if (!x || x.schemaVersion !== 2 || !Array.isArray(x.manifests)) throw new ImageError('InvalidImage', `${what}: not a schema 2 image index`);
  for (const d of x.manifests) validateDescriptor(d, what);
  return x as ImageIndex;
}

export function validateConfig(c: unknown, layers: number, what: string): ImageConfigFile {
  const x = c as Partial<ImageConfigFile>;
  if (!x || !x.rootfs || !Array.isArray(x.rootfs.diff_ids)) throw new ImageError('InvalidImage', `${what}: image config has no rootfs.diff_ids`);
  if (x.rootfs.diff_ids.length !== layers) {
    throw new ImageError('InvalidImage', `${what}: image config lists ${x.rootfs.diff_ids.length} diff_ids for ${layers} layers`);
  }
  for (const d of x.rootfs.diff_ids) {
    if (typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d)) throw new ImageError('InvalidImage', `${what}: bad diff_id ${JSON.stringify(d)}`);
  }
  return x as ImageConfigFile;
}

function validateDescriptor(d: unknown, what: string): void {
  const x = d as Partial<Descriptor>;
  if (!x || typeof x.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(x.digest) || typeof x.size !== 'number' || x.size < 0 || !Number.isSafeInteger(x.size)) {
    throw new ImageError('InvalidImage', `${what}: bad descriptor ${JSON.stringify(d)?.slice(0, 200)}`);
  }
}
