// Cluster CA, serving certificates, admin tokens, the state directory and the etcd PKI.
export * from './certs.js';
export * from './tokens.js';
export * from './state-dir.js';
export * from './encryption-keys.js';
export * from './ec-certs.js';
export * from './etcd-pki.js';
