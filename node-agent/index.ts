// Public entry of node-agent/: join, heartbeat, pod sync loop, sandboxes,
// the OCI runtime driver, the image store, cgroups, logs and exec.
export const COMPONENT = 'node-agent';

// Container runtime layer (issue [6/8]): OCI spec builder, crun/runc driver,
// conmon monitor, cgroups, CRI logs and exec.
export * from './runtime/index.js';

// Image store (issue [5/8]): OCI content store, registry pulls, import/export,
// overlay snapshotter, GC.
export * from './images/index.js';

// Logs/exec server the controller dials (issue [6/8]).
export * from './streams/index.js';

// Pod network of the node (issue [7/8]): subnet lease, VXLAN backend, bridge PodNetwork.
export * from './network/node-network.js';
