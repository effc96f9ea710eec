// Cluster CA, serving certificates, admin tokens and the state directory.
export * from './certs.js';
export * from './tokens.js';
export * from './state-dir.js';
export * from './encryption-keys.js';
