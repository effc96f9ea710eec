// Pods' ConfigMaps, Secrets and downward API on the node: where the objects
// come from (source.ts), a container's environment (env.ts), the files of
// configMap/secret volumes (volumes.ts), and the composer the agent uses (pod-config.ts).
export * from './source.js';
export * from './env.js';
export * from './volumes.js';
export * from './pod-config.js';
