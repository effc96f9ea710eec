// Internal entry of controller/etcd: the managed etcd child process.
export { ManagedEtcd, etcdArgs, freePort, scrubEtcdEnv, type ManagedEtcdOptions, type ManagedEtcdState } from './managed-etcd.js';
export { etcdHealthy } from './health.js';
