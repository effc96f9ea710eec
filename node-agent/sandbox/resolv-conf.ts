// A pod's /etc/resolv.conf from its dnsPolicy and dnsConfig, as the kubelet
// builds it (pkg/kubelet/network/dns): ClusterFirst points at the cluster DNS
// with the namespace's search path and ndots:5; Default copies the node's;
// None starts empty; dnsConfig is merged on top; then the limits are applied.
import type { Pod } from '../../api/index.js';
import { MAX_DNS_NAMESERVERS, MAX_DNS_SEARCH_LIST_CHARS, MAX_DNS_SEARCH_PATHS } from '../../api/index.js';
import { formatResolvConf, parseResolvConf, type ResolvConf } from '../dns/index.js';

export interface PodDnsSettings {
  /** The kubelet's --cluster-dns (the kube-dns Service IP); empty: ClusterFirst falls back to Default, as the kubelet does. */
  clusterDNS: string[];
  /** The kubelet's --cluster-domain. */
  clusterDomain: string;
  /** The node's resolv.conf text. */
  hostResolvConf: string;
}

type DnsType = 'cluster' | 'host' | 'none';

/** getPodDNSType: which base a pod starts from. */
function podDnsType(pod: Pod, s: PodDnsSettings): DnsType {
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  const hostNetwork = pod.spec.hostNetwork === true;
  if (policy === 'None') return 'none';
  if (policy === 'Default') return 'host';
  // ClusterFirst on the host network means the node's resolver: only ClusterFirstWithHostNet says otherwise.
  if (policy === 'ClusterFirst' && hostNetwork) return 'host';
  return s.clusterDNS.length > 0 ? 'cluster' : 'host';
}

const unique = (xs: string[]): string[] => [...new Set(xs)];

/** mergeDNSOptions: by option name, a later one replaces an earlier one in its place. */
function mergeOptions(base: string[], extra: { name?: string; value?: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const o of base) byName.set(o.split(':')[0]!, o);
  for (const o of extra) {
    if (!o.name) continue;
    byName.set(o.name, o.value !== undefined && o.value !== '' ? `${o.name}:${o.value}` : o.name);
  }
  return [...byName.values()];
}

/** The search list within the kubelet's limits (32 paths, 2048 characters): the first ones are kept. */
function fitSearches(searches: string[]): string[] {
  const out: string[] = [];
  let chars = -1;
  for (const s of searches) {
    if (out.length >= MAX_DNS_SEARCH_PATHS || chars + 1 + s.length > MAX_DNS_SEARCH_LIST_CHARS) break;
    out.push(s);
    chars += 1 + s.length;
  }
  return out;
}

/** The parts of the pod's resolv.conf. */
export function podResolvConf(pod: Pod, s: PodDnsSettings): ResolvConf {
  const host = parseResolvConf(s.hostResolvConf);
  const ns = pod.metadata.namespace ?? 'default';
  let conf: ResolvConf;
  switch (podDnsType(pod, s)) {
    case 'cluster':
      conf = {
        nameservers: [...s.clusterDNS],
        searches: [`${ns}.svc.${s.clusterDomain}`, `svc.${s.clusterDomain}`, s.clusterDomain, ...host.searches],
        options: ['ndots:5'],
      };
      break;
    case 'host':
      conf = host;
      break;
    case 'none':
      conf = { nameservers: [], searches: [], options: [] };
  }
  const extra = pod.spec.dnsConfig;
  if (extra) {
    conf = {
      nameservers: unique([...conf.nameservers, ...(extra.nameservers ?? [])]),
      searches: unique([...conf.searches, ...(extra.searches ?? [])]),
      options: mergeOptions(conf.options, extra.options ?? []),
    };
  }
  return { nameservers: conf.nameservers.slice(0, MAX_DNS_NAMESERVERS), searches: fitSearches(unique(conf.searches)), options: conf.options };
}

/** The text of the pod's /etc/resolv.conf. */
export function podResolvConfText(pod: Pod, s: PodDnsSettings): string {
  return formatResolvConf(podResolvConf(pod, s));
}
