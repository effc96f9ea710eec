// A pod's DNS settings (spec.dnsPolicy, spec.dnsConfig): the type and
// kube-apiserver's validation (validatePodDNSConfig), in its words and paths.
// The node agent writes the pod's /etc/resolv.conf from them as the kubelet does.
import { isIP } from 'node:net';
import { isPlainObject } from '../helpers.js';
import { dns1123SubdomainErrors } from '../validation-rules.js';
import { FieldErrors, objItems, str, stringArray } from '../validation-core.js';
import { INVALID_IP_MESSAGE } from './endpoints.js';

type Obj = Record<string, unknown>;

export interface PodDNSConfigOption {
  name?: string;
  value?: string;
}

export interface PodDNSConfig {
  nameservers?: string[];
  searches?: string[];
  options?: PodDNSConfigOption[];
}

/** The kubelet's and kube-apiserver's limits (glibc's resolver reads at most 3 nameservers). */
export const MAX_DNS_NAMESERVERS = 3;
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;

/** validatePodDNSConfig: paths under spec.dnsConfig; a None policy needs a config with a nameserver. */
export function validatePodDNS(e: FieldErrors, spec: Obj): void {
  const policy = spec.dnsPolicy;
  const cfg = spec.dnsConfig;
  if (policy === 'None') {
    if (cfg === undefined || cfg === null) return e.required('spec.dnsConfig', 'must provide `dnsConfig` when `dnsPolicy` is None');
    if (isPlainObject(cfg) && (!Array.isArray(cfg.nameservers) || cfg.nameservers.length === 0)) {
      return e.required('spec.dnsConfig.nameservers', 'must provide at least one DNS nameserver when `dnsPolicy` is None');
    }
  }
  if (cfg === undefined || cfg === null) return;
  if (!isPlainObject(cfg)) return e.wrongType('spec.dnsConfig', cfg, 'an object');
  const nameservers = stringArray(e, cfg, 'nameservers', 'spec.dnsConfig.nameservers') ?? [];
  if (nameservers.length > MAX_DNS_NAMESERVERS) e.invalid('spec.dnsConfig.nameservers', nameservers, `must not have more than ${MAX_DNS_NAMESERVERS} nameservers`);
  nameservers.forEach((ns, i) => {
    if (isIP(ns) === 0) e.invalid(`spec.dnsConfig.nameservers[${i}]`, ns, INVALID_IP_MESSAGE);
  });
  const searches = stringArray(e, cfg, 'searches', 'spec.dnsConfig.searches') ?? [];
  if (searches.length > MAX_DNS_SEARCH_PATHS) e.invalid('spec.dnsConfig.searches', searches, `must not have more than ${MAX_DNS_SEARCH_PATHS} search paths`);
  if (searches.join(' ').length > MAX_DNS_SEARCH_LIST_CHARS) {
    e.invalid('spec.dnsConfig.searches', searches, `must not have more than ${MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) in the search list`);
  }
  searches.forEach((s, i) => {
    // a trailing dot is fine; "." alone is the root (the relaxed DNS search validation kube-apiserver defaults to)
    if (s === '.') return;
    const name = s.endsWith('.') ? s.slice(0, -1) : s;
    e.rule(`spec.dnsConfig.searches[${i}]`, name, dns1123SubdomainErrors(name));
  });
  for (const [o, p] of objItems(e, cfg, 'options', 'spec.dnsConfig.options')) {
    const name = str(e, o, 'name', `${p}.name`);
    str(e, o, 'value', `${p}.value`);
    if (!name) e.required(p, 'Option.Name must not be empty');
  }
}
