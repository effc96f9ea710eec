// Internal entry of controller/election: leader election on an etcd lease.
export { LeaderElector, defaultIdentity, type LeaderCallbacks, type LeaderElectorOptions, type LeaderRecord } from './leader-elector.js';
