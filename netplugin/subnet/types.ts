// Subnet leases, Flannel style: each node holds one subnet of the cluster CIDR.
// The lease value carries the node's underlay IP and, opaque to everyone but the
// backend, the backend's data (the VTEP MAC for VXLAN).

export interface NetworkConfig {
  /** Cluster pod CIDR, e.g. 10.244.0.0/16. */
  network: string;
  /** Prefix length of each node's subnet, e.g. 24. */
  subnetLen: number;
  backend: { type: 'vxlan'; vni: number; port: number };
}

/**
 * The backend's part of a lease, as Flannel carries it: which backend, and data
 * that only that backend reads (the VXLAN backend's VTEP MAC). Everyone else
 * passes it along untouched and compares it as a whole.
 */
export interface LeaseBackend {
  type: string;
  data?: unknown;
}

export interface SubnetLease {
  /** The node's pod subnet, e.g. 10.244.3.0/24. */
  subnet: string;
  nodeName: string;
  /** Underlay (public) IP of the node. */
  publicIP: string;
  backend: LeaseBackend;
  /** Milliseconds since the epoch when the lease lapses unless renewed. */
  expiration: number;
}

export interface LeaseAttrs {
  publicIP: string;
  backend: LeaseBackend;
}

/** What a lease watch delivers: incremental changes or, after compaction/re-list, a full snapshot. */
export type LeaseWatchResult =
  | { kind: 'events'; events: { type: 'added' | 'removed'; lease: SubnetLease }[] }
  | { kind: 'snapshot'; leases: SubnetLease[] };

/** What consumers see: one shape for both, so they never care which arrived. */
export interface LeaseBatch {
  added: SubnetLease[];
  removed: SubnetLease[];
}

export interface SubnetManager {
  getNetworkConfig(): Promise<NetworkConfig>;
  /** Acquires (or re-acquires: same node → same subnet) this node's lease. */
  acquireLease(nodeName: string, attrs: LeaseAttrs): Promise<SubnetLease>;
  renewLease(lease: SubnetLease): Promise<SubnetLease>;
  releaseLease(nodeName: string): Promise<void>;
  watchLeases(signal: AbortSignal): AsyncIterable<LeaseWatchResult>;
}
