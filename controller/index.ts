// Public entry of controller/: API server, etcd storage, scheduler, node
// lifecycle, join/CA, the agents' gRPC service and subnet lease allocation.
export const COMPONENT = 'controller';
export * from './scheduler/index.js';
export * from './events/index.js';
