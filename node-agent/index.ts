// Public entry of node-agent/: join, heartbeat, pod sync loop, sandboxes,
// the OCI runtime driver, the image store, cgroups, logs and exec.
export const COMPONENT = 'node-agent';
