// Public entry of controller/: API server, etcd storage, scheduler, node
// lifecycle, join/CA, the agents' gRPC service and subnet lease allocation.
export const COMPONENT = 'controller';
export * from './scheduler/index.js';
export * from './events/index.js';
// storage (etcd) and the managed etcd
export { EtcdStore, EtcdHostSkippedError, createEtcdClient, type EtcdStoreOptions, type EtcdClientOptions, type EtcdClientTls } from './storage/etcd-store.js';
export { fromEtcdError, isRetryable as isRetryableEtcdError } from './storage/etcd-errors.js';
// Secrets at rest: the AES-GCM transformer inside the store, the state dir's key file, rotation
export { AesGcmTransformer, DecryptionError, AESGCM_PREFIX, type EncryptionKey } from './storage/encryption.js';
export {
  generateEncryptionKey,
  readEncryptionKeyFile,
  writeEncryptionKeyFile,
  ensureEncryptionKeyFile,
  toEncryptionKeys,
  watchEncryptionKeyFile,
  type EncryptionKeyEntry,
} from './pki/encryption-keys.js';
export { rotateEncryptionKey, type RotateEncryptionKeyOptions, type RotateEncryptionKeyResult } from './rotate-encryption-key.js';
export { classifyEvent as classifyWatchEvent } from './storage/etcd-store.js';
export { keyFor, type Store, type ObjectKey, type ListOptions, type ListResult, type WatchOptions } from './storage/store.js';
export { prefixFor, rangeEnd as keyRangeEnd, alreadyExistsMessage, notFoundMessage, conflictMessage, goneMessage } from './storage/keys.js';
export { ManagedEtcd, etcdArgs, scrubEtcdEnv, type ManagedEtcdOptions, type ManagedEtcdState } from './etcd/index.js';
// leader election among controller replicas
export { LeaderElector, defaultIdentity, type LeaderCallbacks, type LeaderElectorOptions, type LeaderRecord } from './election/index.js';
// benchmark baseline: raw etcd puts
export { timeRawPuts, summarize as summarizeLatencies, percentile, type LatencySummary, type RawPutOptions } from './storage/bench-support.js';
// API server, PKI/state dir, the run wiring, and the in-memory Store fake (unit tests only)
export {
  buildApiServer,
  parseApiPath,
  type ApiServer,
  type ApiServerOptions,
  type ApiServerHealth,
} from './apiserver/app.js';
export {
  ResourceApi,
  SYSTEM_NAMESPACES,
  type Target,
  type PatchType,
  type LogProvider,
  type ExecProvider,
  type ExecOptions,
  type ExecEvent,
  type ListQuery,
} from './apiserver/resource-api.js';
// logs and exec through the node agents' stream ports
export { createNodeStreams, issueControllerClientCert, type NodeStreams, type NodeStreamsOptions } from './streams/index.js';
// a node's image store over REST (flotctl image), through the same stream ports
export { registerNodeImageApi, exportFileName, type NodeImageApiDeps } from './flotillaapi/images.js';
export { statusFromError, successStatus, httpFor } from './apiserver/status.js';
export { toTable, wantsTable, type Table } from './apiserver/table.js';
export { EMPTY_OPENAPI_PROTOBUF, coreResourceList, versionInfo } from './apiserver/discovery.js';
export { MAX_BODY_BYTES } from './apiserver/body.js';
export {
  generateCa,
  issueServingCert,
  generateAdminToken,
  TokenAuthenticator,
  initStateDir,
  loadStateDir,
  statePaths,
  renderKubeconfig,
  DEFAULT_API_PORT,
  ensureEtcdPki,
  etcdPkiPaths,
  issueEcCert,
  readEtcdClientCredentials,
  type EtcdClientCredentials,
  type CertAndKey,
  type ClusterConfig,
  type ControllerState,
  type InitOptions,
  type InitResult,
} from './pki/index.js';
export { runController, type RunControllerOptions, type RunningController } from './server.js';
export { MemoryStore } from './storage/memory-store.js';
