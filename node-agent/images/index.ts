// Public entry of node-agent/images/: the node's image store (OCI content
// store, registry pulls, import/export, the overlay snapshotter, GC).
export { ImageService, runtimeConfig, type ImageServiceOptions, type ImageRuntimeConfig, type PreparedRootfs } from './image-service.js';
export { ContentStore, REF_NAME_ANNOTATION, sha256Digest, digestHex, type ImageRecord } from './content-store.js';
export { ImagePuller, defaultPullPolicy, type ImageInfo, type PullCredentials, type PullPolicy, type PullProgress, type ProgressListener } from './puller.js';
export { pullCredentials, registryKeyHost, secretAuths, type PullSecretProblem } from './pull-secrets.js';
export { RegistryClient, parseWwwAuthenticate, registryMessage, type RegistryClientOptions, type RegistryCredentials, type FetchLike } from './registry-client.js';
export { parseReference, formatReference, normalizeReference, type ImageReference } from './reference.js';
export { MEDIA_TYPE, MANIFEST_ACCEPT, selectPlatformManifest, manifestKind, type Descriptor, type ImageManifest, type ImageIndex, type ImageConfigFile, type Platform } from './media-types.js';
export { Snapshotter, rootfsMount, type Mount, type RootfsRecord } from './snapshotter.js';
export { unpackLayer, entryPathParts, resolveDirInRoot, type UnpackResult } from './unpack.js';
export { pushImage, openLayout, type PushResult } from './push.js';
export { importLayoutTar, exportLayoutTar } from './layout-tar.js';
export { collectGarbage, sweep, statfsUsage, type GcOptions, type GcResult, type DiskUsage } from './gc.js';
export { loadNativeOps, shellNativeOps, type NativeOps } from './native-ops.js';
export { ImageError, DigestMismatchError, SizeMismatchError, UnsafeLayerPathError, isImageError, type ImageErrorKind, type ImageErrorReason } from './errors.js';
