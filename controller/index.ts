// Public entry of controller/: API server, etcd storage, scheduler, node
// lifecycle, join/CA, the agents' gRPC service and subnet lease allocation.
export const COMPONENT = 'controller';
export * from './scheduler/index.js';
export * from './events/index.js';
// storage (etcd) and the managed etcd
export { EtcdStore, createEtcdClient, type EtcdStoreOptions, type EtcdClientOptions } from './storage/etcd-store.js';
export { fromEtcdError, isRetryable as isRetryableEtcdError } from './storage/etcd-errors.js';
export { classifyEvent as classifyWatchEvent } from './storage/etcd-store.js';
export { keyFor, type Store, type ObjectKey, type ListOptions, type ListResult, type WatchOptions } from './storage/store.js';
export { prefixFor, rangeEnd as keyRangeEnd, alreadyExistsMessage, notFoundMessage, conflictMessage, goneMessage } from './storage/keys.js';
export { ManagedEtcd, etcdArgs, scrubEtcdEnv, type ManagedEtcdOptions, type ManagedEtcdState } from './etcd/index.js';
// leader election among controller replicas
export { LeaderElector, defaultIdentity, type LeaderCallbacks, type LeaderElectorOptions, type LeaderRecord } from './election/index.js';
// benchmark baseline: raw etcd puts
export { timeRawPuts, summarize as summarizeLatencies, percentile, type LatencySummary, type RawPutOptions } from './storage/bench-support.js';
