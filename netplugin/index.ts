// Public entry of netplugin/: subnet leases, the VXLAN backend, bridge +
// host-local IPAM (CNI 1.0 shaped), masquerade rules, host ports
// (nftables DNAT) and the rtnetlink codec.
export const COMPONENT = 'netplugin';
export * from './cidr.js';
export * from './subnet/types.js';
export * from './subnet/allocator.js';
export * from './subnet/watcher.js';
export * from './subnet/lease-format.js';
export * from './ipam/host-local.js';
export * from './netlink/index.js';
export * from './podnet/types.js';
export * from './podnet/errors.js';
export * from './podnet/bridge.js';
export * from './backend/masquerade.js';
export * from './backend/vxlan/lease-data.js';
export * from './backend/vxlan/device.js';
export * from './backend/vxlan/reconcile.js';
export * from './backend/vxlan/network.js';
export * from './cni/plugin.js';
export * from './portmap/index.js';
export * from './proxy/index.js';
