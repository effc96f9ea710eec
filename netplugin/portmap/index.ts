// Host ports (`ports[].hostPort`): nftables DNAT on the node, as the CNI portmap plugin does.
export * from './rules.js';
export * from './portmap.js';
