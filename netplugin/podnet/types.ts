// The pod network seam (CNI 1.0 shaped): the node agent's sandbox manager calls
// add/check/del with the pod's pinned network namespace; the bridge + host-local
// IPAM implementation sits beside it, and `flotilla-cni` exposes the same calls
// as a standalone CNI plugin binary.

export interface PodNetworkAttachment {
  /** The sandbox id (CNI_CONTAINERID): the key of the IP allocation. */
  containerId: string;
  /** Path of the pod's pinned network namespace (CNI_NETNS). */
  netnsPath: string;
  /** Interface name inside the pod (CNI_IFNAME), normally eth0. */
  ifName: string;
  podName?: string;
  podNamespace?: string;
  podUid?: string;
}

export interface PodNetworkResult {
  /** The pod's IPv4 address on ifName. */
  ip: string;
  prefixLen: number;
  gateway: string;
  /** MAC address of ifName inside the pod. */
  mac: string;
  mtu: number;
  ifName: string;
  /** Host side of the veth pair. */
  hostIfName: string;
}

export interface PodNetwork {
  /** Attaches the pod (idempotent for the same containerId: returns the same IP). */
  add(a: PodNetworkAttachment): Promise<PodNetworkResult>;
  /** Checks the attachment is still as add left it; throws a typed error naming what is wrong. */
  check(a: PodNetworkAttachment): Promise<void>;
  /** Detaches and frees the IP; idempotent (a missing netns or link is not an error). */
  del(a: PodNetworkAttachment): Promise<void>;
}
