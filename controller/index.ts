// Public entry of controller/: API server, etcd storage, scheduler, node
// lifecycle, join/CA, the agents' gRPC service and subnet lease allocation.
export const COMPONENT = 'controller';
export * from './scheduler/index.js';
export * from './events/index.js';
// storage (etcd) and the managed etcd
export { EtcdStore, createEtcdClient, type EtcdStoreOptions, type EtcdClientOptions } from './storage/etcd-store.js';
export { fromEtcdError } from './storage/etcd-errors.js';
export { keyFor, type Store, type ObjectKey, type ListOptions, type ListResult, type WatchOptions } from './storage/store.js';
export { prefixFor } from './storage/keys.js';
export { ManagedEtcd, type ManagedEtcdOptions, type ManagedEtcdState } from './etcd/index.js';
