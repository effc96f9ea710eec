// Public entry of node-agent/runtime/: OCI spec builder, crun/runc driver,
// conmon monitor, cgroups, logs and exec of the node's containers.
export * from './errors.js';
export * from './spec.js';
export * from './accounts.js';
export * from './oci-runtime.js';
export * from './monitor.js';
export * from './cgroups.js';
export * from './logs.js';
export * from './containers.js';
export * from './factory.js';
