// The `kube-dns` Service in `kube-system`, as kubeadm's CoreDNS addon makes
// it: the tenth address of the service CIDR (10.96.0.10 by default, requested
// so the allocator reserves it), dns 53/UDP and dns-tcp 53/TCP, no selector.
// No pod serves it: every node's agent answers that address itself
// (node-agent/dns), so the annotation tells the service proxy to leave it
// alone. Made at every controller start when missing (a deleted one is back
// on the next start); an existing one is left as it is.
import { NODE_LOCAL_ANNOTATION, NODE_LOCAL_VALUE, serviceKind, toFlotillaError, type KindDescriptor, type KubeObject, type Logger, type Service } from '../../api/index.js';

export const KUBE_DNS_SERVICE = 'kube-dns';
export const KUBE_DNS_NAMESPACE = 'kube-system';

type Target = { res: KindDescriptor; namespace?: string; name?: string };

export interface KubeDnsApi {
  create(t: Target, body: unknown): Promise<KubeObject>;
}

/** The Service as it is created. */
export function kubeDnsService(clusterIP: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: KUBE_DNS_SERVICE,
      namespace: KUBE_DNS_NAMESPACE,
      // what `kubectl cluster-info` lists: kubernetes.io/cluster-service=true, named by kubernetes.io/name
      labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'Flotilla-DNS' },
      // answered on every node by its agent
      annotations: { [NODE_LOCAL_ANNOTATION]: NODE_LOCAL_VALUE },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
      ],
    },
  };
}

/**
 * Creates kube-system/kube-dns unless it exists. Any other failure (the IP
 * taken by a user's Service) is logged, not thrown: the API still comes up,
 * and the next start tries again.
 */
export async function ensureKubeDnsService(api: KubeDnsApi, clusterIP: string, log: Logger): Promise<boolean> {
  try {
    await api.create({ res: serviceKind, namespace: KUBE_DNS_NAMESPACE }, kubeDnsService(clusterIP));
    log.info({ clusterIP }, 'created the kube-dns Service');
    return true;
  } catch (e) {
    const fe = toFlotillaError(e);
    if (fe.code !== 'AlreadyExists') log.warn({ clusterIP, err: fe.message }, 'could not create the kube-dns Service: pods\' cluster DNS address has no Service');
    return false;
  }
}
