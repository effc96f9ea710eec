// Starts the service proxy of a real node (flotilla-agent run): the nftables
// applier in the agent's network namespace, driven by a ProxyRunner over the
// agent's ServiceCatalog, with its events on the Node and its metrics on the
// agent's /metrics. Stopping it leaves the table in place (see proxy-runner.ts).
import { componentLogger, InvalidError, type Logger } from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import { writeSysctl } from '../../netplugin/netlink/sysctl.js';
import { ServiceProxy } from '../../netplugin/proxy/index.js';
import type { ServiceCatalog } from './catalog.js';
import { ProxyRunner, type NodeEventSink } from './proxy-runner.js';

export interface ServiceProxyHost {
  nodeName: string;
  serviceCatalog: ServiceCatalog;
  nodeEvent(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface StartServiceProxyOptions {
  agent: ServiceProxyHost;
  clusterCIDR: string;
  podSubnet: string;
  /** `--proxy-resync-period`: `30s`, `500ms`, `1m`. */
  resyncPeriod: string;
  metrics: MetricsRegistry;
  log: Logger;
}

/** A Go-style duration of ms, s or m (`--proxy-resync-period`), in milliseconds; at least 100 ms. */
export function parseResyncPeriod(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(v.trim());
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000) : NaN;
  if (!Number.isFinite(ms) || ms < 100) throw new InvalidError(`--proxy-resync-period must be a duration of at least 100ms (e.g. 30s, 500ms, 1m), got "${v}"`);
  return ms;
}

export async function startServiceProxy(o: StartServiceProxyOptions): Promise<ProxyRunner> {
  const log = componentLogger('service-proxy', o.log);
  const resyncMs = parseResyncPeriod(o.resyncPeriod);
  // A pod reaching a Service whose endpoint sits on the same bridge gets its reply
  // bridged straight back: only with bridged traffic passing the IPv4 hooks
  // (br_netfilter) is that reply un-DNATed. Kubernetes requires it of the node too.
  try {
    writeSysctl('net/bridge/bridge-nf-call-iptables', 1);
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'br_netfilter is not available (modprobe br_netfilter): a pod reaching a Service backed by a pod on its own node gets no answer');
  }
  const event: NodeEventSink = (type, reason, message) => void o.agent.nodeEvent(type, reason, message);
  const runner = new ProxyRunner({
    catalog: o.agent.serviceCatalog,
    proxy: new ServiceProxy({ log }),
    node: { nodeName: o.agent.nodeName, clusterCIDR: o.clusterCIDR, podSubnet: o.podSubnet },
    event,
    metrics: o.metrics,
    resyncMs,
    log,
  });
  runner.start();
  log.info({ clusterCIDR: o.clusterCIDR, podSubnet: o.podSubnet, resyncMs }, 'service proxy started: programs Services once the controller has listed them');
  return runner;
}
