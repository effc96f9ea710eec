// Service allocations: ClusterIPs from the service CIDR and NodePorts, stored
// one object per value in etcd so that nothing is handed out twice.
export * from './allocator.js';
export * from './ranges.js';
export * from './service-writes.js';
export * from './config.js';
export * from './repair.js';
export * from './kubernetes-service.js';
export * from './kube-dns.js';
