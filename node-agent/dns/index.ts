// Public entry of node-agent/dns: the node's cluster name server (zone,
// wire, forwarder and cache, server, the interface it listens on) and
// resolv.conf parsing.
export * from './zone.js';
export * from './wire.js';
export * from './cache.js';
export * from './forwarder.js';
export * from './metrics.js';
export * from './server.js';
export * from './interface.js';
export * from './upstreams.js';
export * from './resolv-conf.js';
export * from './node-dns.js';
