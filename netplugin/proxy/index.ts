// The service proxy: Service ports → one nftables table of our own, kept in sync atomically.
export * from './model.js';
export * from './rules.js';
export * from './state.js';
export * from './proxy.js';
