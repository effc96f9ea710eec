// The node's name server as the agent runs it: the kube-dns IP put on the
// node's flotilla-dns interface, the server bound there on port 53, the
// upstreams read from the host's resolv.conf. Stop undoes what start did.
import { componentLogger, type Logger } from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import { RtnetlinkClient } from '../../netplugin/index.js';
import type { ServiceCatalog } from '../services/catalog.js';
import { Forwarder, type Upstream } from './forwarder.js';
import { DNS_INTERFACE, ensureDnsInterface, removeDnsInterface, type DnsLinkClient } from './interface.js';
import { DnsMetrics } from './metrics.js';
import { DnsServer } from './server.js';
import { hostUpstreams } from './upstreams.js';
import { ClusterZone, DEFAULT_CLUSTER_DOMAIN } from './zone.js';

/** The kube-dns Service IP the kubelet's --cluster-dns names by default in a 10.96.0.0/16 service CIDR. */
export const DEFAULT_CLUSTER_DNS = '10.96.0.10';

export interface NodeDnsOptions {
  catalog: ServiceCatalog;
  /** Where pods send queries: the kube-dns Service IP (default 10.96.0.10). */
  clusterDNS?: string;
  clusterDomain?: string;
  /** Default 53. */
  port?: number;
  /** Default true: put clusterDNS on the flotilla-dns interface first. False: clusterDNS must already be local (tests on loopback). */
  manageInterface?: boolean;
  interfaceName?: string;
  /** Default: the host's /etc/resolv.conf nameservers, minus clusterDNS. */
  upstreams?: Upstream[];
  upstreamTimeoutMs?: number;
  metrics?: MetricsRegistry;
  log?: Logger;
  /** The namespace's rtnetlink client (default: a socket in the agent's own namespace). */
  netlink?: () => Promise<DnsLinkClient & { close(): void }>;
}

export class NodeDns {
  readonly clusterDNS: string;
  private readonly log: Logger;
  private zone: ClusterZone | undefined;
  private server: DnsServer | undefined;
  private interfaceMade = false;
  port = 0;

  constructor(private readonly opts: NodeDnsOptions) {
    this.clusterDNS = opts.clusterDNS ?? DEFAULT_CLUSTER_DNS;
    this.log = opts.log ?? componentLogger('dns');
  }

  async start(): Promise<void> {
    const o = this.opts;
    if (o.manageInterface !== false) {
      await this.withNetlink((nl) => ensureDnsInterface(nl, this.clusterDNS, o.interfaceName ?? DNS_INTERFACE));
      this.interfaceMade = true;
    }
    try {
      const upstreams = o.upstreams ?? hostUpstreams([this.clusterDNS]);
      this.zone = new ClusterZone(o.catalog, { domain: o.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN });
      this.server = new DnsServer({
        zone: this.zone,
        ...(upstreams.length > 0 ? { forwarder: new Forwarder({ upstreams, ...(o.upstreamTimeoutMs ? { timeoutMs: o.upstreamTimeoutMs } : {}) }) } : {}),
        ...(o.metrics ? { metrics: new DnsMetrics(o.metrics) } : {}),
        log: this.log,
      });
      this.port = await this.server.listen(this.clusterDNS, o.port ?? 53);
      this.log.info({ address: this.clusterDNS, port: this.port, domain: this.zone.domain, upstreams: upstreams.map((u) => u.host) }, 'serving cluster DNS on this node');
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    this.zone?.close();
    this.zone = undefined;
    if (this.interfaceMade) {
      await this.withNetlink((nl) => removeDnsInterface(nl, this.opts.interfaceName ?? DNS_INTERFACE)).catch((e: unknown) =>
        this.log.warn({ err: (e as Error).message }, 'could not remove the DNS interface'),
      );
      this.interfaceMade = false;
    }
  }

  private async withNetlink<T>(fn: (nl: DnsLinkClient) => Promise<T>): Promise<T> {
    const nl = this.opts.netlink ? await this.opts.netlink() : await RtnetlinkClient.open();
    try {
      return await fn(nl);
    } finally {
      nl.close();
    }
  }
}
