// Pure planning for the service proxy: (Service ports, node) → the desired
// content of our own nftables table, and that content → `nft -f` text, either
// the whole table or the difference from what was applied before. Nothing
// here runs a process. The layout follows kube-proxy's nftables mode:
// verdict maps keyed by (IP . protocol . port) lead to one chain per Service
// port, which picks an endpoint chain with `numgen random` draws; the endpoint chain
// marks hairpin traffic for masquerade and DNATs.
import { createHash } from 'node:crypto';
import { InvalidError } from '../../api/index.js';
import { categorizeEndpoints, validateProxyInput, type ProxyEndpoint, type ProxyNode, type ProxyServicePort } from './model.js';

export const PROXY_FAMILY = 'ip';
export const PROXY_TABLE = 'flotilla-proxy';
const T = `${PROXY_FAMILY} ${PROXY_TABLE}`;

/** The packet mark bit that asks the postrouting chain to masquerade (kube-proxy's bit, so the two never disagree). */
export const MASQUERADE_MARK = '0x00004000';

/**
 * Chain and set names stay well under nft's 256-byte limit (NFT_NAME_MAXLEN)
 * and readable in `nft list`: a kind, a hash of the full identity (unique even
 * when the readable part is cut), then as much of the identity as fits.
 */
export const MAX_NAME_LENGTH = 96;

/** One chain: base chains carry their hook line, the others only rules. */
export interface PlannedChain {
  header?: string;
  rules: string[];
}

export interface PlannedMap {
  /** The declaration body, e.g. `type ipv4_addr . inet_proto . inet_service : verdict;`. */
  def: string;
  /** Key (`10.96.0.1 . tcp . 80`) → verdict (`goto svc-…`). */
  elements: Map<string, string>;
}

/** The whole table as we want it. Insertion order is rendering order. */
export interface ProxyPlan {
  chains: Map<string, PlannedChain>;
  /** Session affinity sets: name → declaration body. */
  sets: Map<string, string>;
  maps: Map<string, PlannedMap>;
}

export const SERVICE_IPS = 'service-ips';
export const SERVICE_NODEPORTS = 'service-nodeports';
export const NO_ENDPOINT_SERVICES = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS = 'no-endpoint-nodeports';
const REJECT_CHAIN = 'reject-chain';
const MARK_CHAIN = 'mark-for-masquerade';

const PROTO = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;
/** Traffic to an address of this node, not loopback (a DNAT from 127/8 to a pod cannot be routed). */
const TO_NODE = 'fib daddr type local ip daddr != 127.0.0.0/8';

/** `<kind>-<hash>-<identity>`, cut to MAX_NAME_LENGTH. */
export function chainName(kind: string, identity: string, hashInput = identity): string {
  const hash = createHash('sha256').update(hashInput).digest('hex').slice(0, 8);
  return `${kind}-${hash}-${identity}`.slice(0, MAX_NAME_LENGTH);
}

/** `ns/name/tcp/portName`: the identity of a Service port in chain names (only characters nft takes in a bare name). */
function identity(s: ProxyServicePort): string {
  return `${s.namespace}/${s.name}/${PROTO[s.protocol]}/${s.portName}`;
}

function endpointIdentity(s: ProxyServicePort, e: ProxyEndpoint): string {
  return `${identity(s)}__${e.ip}/${e.port}`;
}

/** The fixed part of the table: hooks, the dispatch maps, reject and masquerade. */
function basePlan(): ProxyPlan {
  const chains = new Map<string, PlannedChain>();
  const nat = (hook: string, prio: string, jump: string) => ({ header: `type nat hook ${hook} priority ${prio}; policy accept;`, rules: [`jump ${jump}`] });
  const filter = (hook: string, checks: string[]) => ({
    header: `type filter hook ${hook} priority -10; policy accept;`,
    rules: checks.map((c) => `ct state new jump ${c}`),
  });
  chains.set('nat-prerouting', nat('prerouting', 'dstnat', 'services'));
  // -100 is dstnat: nft 1.0.6 takes that name in prerouting only.
  chains.set('nat-output', nat('output', '-100', 'services'));
  chains.set('nat-postrouting', nat('postrouting', 'srcnat', 'masquerading'));
  // A Service without endpoints has no DNAT, so its packets reach the filter hooks still addressed to it.
  chains.set('filter-input', filter('input', ['nodeport-endpoints-check', 'service-endpoints-check']));
  chains.set('filter-forward', filter('forward', ['service-endpoints-check']));
  chains.set('filter-output', filter('output', ['service-endpoints-check', 'nodeport-endpoints-check']));
  chains.set('service-endpoints-check', { rules: [`ip daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES}`] });
  chains.set('nodeport-endpoints-check', { rules: [`${TO_NODE} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`] });
  // A TCP client sees "connection refused" at once, a UDP one an ICMP port unreachable.
  chains.set(REJECT_CHAIN, { rules: ['meta l4proto tcp reject with tcp reset', 'reject'] });
  chains.set('services', {
    rules: [`ip daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`, `${TO_NODE} meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`],
  });
  chains.set(MARK_CHAIN, { rules: [`meta mark set meta mark | ${MASQUERADE_MARK}`] });
  // The mark is cleared before masquerading so a packet re-entering the stack is not masqueraded twice.
  chains.set('masquerading', {
    rules: [`meta mark & ${MASQUERADE_MARK} == 0 return`, `meta mark set meta mark ^ ${MASQUERADE_MARK}`, 'masquerade fully-random'],
  });
  const ipKey = 'type ipv4_addr . inet_proto . inet_service : verdict;';
  const portKey = 'type inet_proto . inet_service : verdict;';
  const maps = new Map<string, PlannedMap>([
    [SERVICE_IPS, { def: ipKey, elements: new Map() }],
    [SERVICE_NODEPORTS, { def: portKey, elements: new Map() }],
    [NO_ENDPOINT_SERVICES, { def: ipKey, elements: new Map() }],
    [NO_ENDPOINT_NODEPORTS, { def: portKey, elements: new Map() }],
  ]);
  return { chains, sets: new Map(), maps };
}

/** Chains of one Service port, added to PLAN. */
function planServicePort(plan: ProxyPlan, s: ProxyServicePort, node: ProxyNode): void {
  if (s.clusterIP === undefined) return; // headless / ExternalName: DNS only
  const proto = PROTO[s.protocol];
  const id = identity(s);
  const { cluster, local } = categorizeEndpoints(s, node.nodeName);
  const affinity = s.sessionAffinityTimeoutSeconds;
  const el = (map: string, key: string, verdict: string) => {
    // Two Service ports claiming one address and port would silently shadow each other in the map.
    const other = map === SERVICE_IPS || map === NO_ENDPOINT_SERVICES ? [SERVICE_IPS, NO_ENDPOINT_SERVICES] : [SERVICE_NODEPORTS, NO_ENDPOINT_NODEPORTS];
    if (other.some((m) => plan.maps.get(m)!.elements.has(key))) {
      const field = map === SERVICE_NODEPORTS || map === NO_ENDPOINT_NODEPORTS ? 'spec.ports[].nodePort' : 'spec.clusterIP';
      throw new InvalidError(`service port ${s.namespace}/${s.name}:${s.portName}: ${field}: Duplicate value: "${key}" is already used by another Service port`, [
        { field, message: `Duplicate value: "${key}"`, reason: 'FieldValueDuplicate' },
      ]);
    }
    plan.maps.get(map)!.elements.set(key, verdict);
  };

  const epChain = (e: ProxyEndpoint): string => {
    const name = chainName('ep', endpointIdentity(s, e));
    if (plan.chains.has(name)) return name;
    const rules = [`ip saddr ${e.ip} jump ${MARK_CHAIN}`]; // hairpin: a pod reaching itself through its Service
    if (affinity !== undefined) rules.push(`update @${affinitySet(e)} { ip saddr }`);
    rules.push(`meta l4proto ${proto} dnat to ${e.ip}:${e.port}`);
    plan.chains.set(name, { rules });
    return name;
  };
  const affinitySet = (e: ProxyEndpoint): string => {
    // The timeout is part of the hash: a changed timeout is a new set, never an incompatible redeclaration.
    const name = chainName('aff', endpointIdentity(s, e), `${endpointIdentity(s, e)}#${affinity}`);
    plan.sets.set(name, `type ipv4_addr; flags dynamic,timeout; timeout ${affinity}s;`);
    return name;
  };
  /** A policy chain choosing among EPS: affinity first (a known client keeps its endpoint), then at random. */
  const policyChain = (kind: string, eps: ProxyEndpoint[]): string => {
    const name = chainName(kind, id);
    const rules: string[] = [];
    if (s.clusterIP) rules.push(`ip daddr ${s.clusterIP} ${proto} dport ${s.port} ip saddr != ${node.clusterCIDR} jump ${MARK_CHAIN}`);
    const targets = eps.map(epChain);
    if (affinity !== undefined) eps.forEach((e, i) => rules.push(`ip saddr @${affinitySet(e)} goto ${targets[i]}`));
    // Each rule draws again: the i-th endpoint is taken with probability 1/(n-i) of what is left, so
    // each gets 1/n. One `numgen random mod n vmap {…}` rule would do the same, but every such map is
    // an anonymous set, which the kernel names by scanning all sets of the table: a full sync of
    // 10 000 Services took 34 s that way, 5.5 s this way.
    targets.forEach((t, i) => rules.push(i === targets.length - 1 ? `goto ${t}` : `numgen random mod ${targets.length - i} == 0 goto ${t}`));
    plan.chains.set(name, { rules });
    return name;
  };

  const clusterChain = cluster.length > 0 ? policyChain('svc', cluster) : undefined;
  const needsLocal = s.internalTrafficLocal || s.externalTrafficLocal;
  const localChain = needsLocal && local.length > 0 ? policyChain('loc', local) : undefined;

  // Traffic to the ClusterIP (from pods and from the node).
  const ipKey = `${s.clusterIP} . ${proto} . ${s.port}`;
  const internal = s.internalTrafficLocal ? localChain : clusterChain;
  if (internal) el(SERVICE_IPS, ipKey, `goto ${internal}`);
  else el(NO_ENDPOINT_SERVICES, ipKey, clusterChain ? 'drop' : `goto ${REJECT_CHAIN}`); // Local with endpoints only elsewhere: dropped, as kube-proxy does

  // Traffic to a NodePort or a load-balancer IP.
  const lbKeys = (s.loadBalancerIPs ?? []).map((ip) => `${ip} . ${proto} . ${s.port}`);
  const npKey = s.nodePort !== undefined ? `${proto} . ${s.nodePort}` : undefined;
  if (npKey === undefined && lbKeys.length === 0) return;
  if (!clusterChain) {
    for (const k of lbKeys) el(NO_ENDPOINT_SERVICES, k, `goto ${REJECT_CHAIN}`);
    if (npKey) el(NO_ENDPOINT_NODEPORTS, npKey, `goto ${REJECT_CHAIN}`);
    return;
  }
  const ext = chainName('ext', id);
  plan.chains.set(ext, { rules: externalRules(s, node, clusterChain, localChain) });
  for (const k of lbKeys) el(SERVICE_IPS, k, `goto ${ext}`);
  if (npKey) el(SERVICE_NODEPORTS, npKey, `goto ${ext}`);
}

/**
 * externalTrafficPolicy Cluster: masquerade (the answer must come back through
 * this node) and use every endpoint. Local: keep the client's address and use
 * only this node's endpoints, dropping when there is none; but this node's pods
 * and the node itself are cluster traffic (they have no "outside" address to keep).
 */
function externalRules(s: ProxyServicePort, node: ProxyNode, clusterChain: string, localChain: string | undefined): string[] {
  if (!s.externalTrafficLocal) return [`jump ${MARK_CHAIN}`, `goto ${clusterChain}`];
  return [
    `ip saddr ${node.podSubnet} goto ${clusterChain}`,
    `fib saddr type local jump ${MARK_CHAIN}`,
    `fib saddr type local goto ${clusterChain}`,
    localChain ? `goto ${localChain}` : 'drop',
  ];
}

function byKey(a: ProxyServicePort, b: ProxyServicePort): number {
  const ka = identity(a);
  const kb = identity(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The desired table for SERVICES on NODE. Throws InvalidError (nothing planned) on input nft would misread. */
export function planProxy(services: readonly ProxyServicePort[], node: ProxyNode): ProxyPlan {
  validateProxyInput(services, node);
  const plan = basePlan();
  for (const s of [...services].sort(byKey)) planServicePort(plan, s, node);
  return plan;
}

function chainDecl(name: string, c: PlannedChain): string {
  return c.header ? `add chain ${T} ${name} { ${c.header} }` : `add chain ${T} ${name}`;
}

function elementLines(verb: 'add' | 'delete', map: string, items: [string, string][]): string[] {
  if (items.length === 0) return [];
  const body = items.map(([k, v]) => (verb === 'add' ? `${k} : ${v}` : k)).join(', ');
  return [`${verb} element ${T} ${map} { ${body} }`];
}

/**
 * The whole table in one transaction: declare everything (creating what is
 * missing), flush the table and its maps, delete chains and sets the kernel
 * has (STALE: names listed from it) that the plan does not, then every rule
 * and element. Works whether the table exists or not and whatever it holds.
 */
export function renderFull(plan: ProxyPlan, stale: { chains?: Iterable<string>; sets?: Iterable<string> } = {}): string {
  const out = [`add table ${T}`];
  for (const [name, c] of plan.chains) out.push(chainDecl(name, c));
  for (const [name, def] of plan.sets) out.push(`add set ${T} ${name} { ${def} }`);
  for (const [name, m] of plan.maps) out.push(`add map ${T} ${name} { ${m.def} }`);
  out.push(`flush table ${T}`);
  for (const name of plan.maps.keys()) out.push(`flush map ${T} ${name}`);
  for (const name of stale.chains ?? []) if (!plan.chains.has(name)) out.push(`delete chain ${T} ${name}`);
  for (const name of stale.sets ?? []) if (!plan.sets.has(name) && !plan.maps.has(name)) out.push(`delete set ${T} ${name}`);
  for (const [name, c] of plan.chains) for (const r of c.rules) out.push(`add rule ${T} ${name} ${r}`);
  for (const [name, m] of plan.maps) out.push(...elementLines('add', name, [...m.elements]));
  return `${out.join('\n')}\n`;
}

function sameRules(a: PlannedChain, b: PlannedChain): boolean {
  return a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}

/**
 * The transaction turning PREV (applied) into NEXT: only chains whose rules
 * changed are flushed and rewritten, map elements added or deleted one by one,
 * and vanished chains and sets deleted once nothing refers to them. '' when
 * nothing changed; undefined when the fixed part differs (a base chain's hook,
 * a map's type): then only renderFull can get there.
 */
export function renderIncremental(prev: ProxyPlan, next: ProxyPlan): string | undefined {
  for (const [name, c] of next.chains) {
    const p = prev.chains.get(name);
    if ((c.header || p?.header) && p && p.header !== c.header) return undefined;
  }
  for (const [name, c] of prev.chains) if (c.header && !next.chains.has(name)) return undefined;
  if (prev.maps.size !== next.maps.size) return undefined;
  for (const [name, m] of next.maps) if (prev.maps.get(name)?.def !== m.def) return undefined;
  for (const [name, def] of next.sets) if (prev.sets.has(name) && prev.sets.get(name) !== def) return undefined;

  const added = [...next.chains].filter(([n]) => !prev.chains.has(n));
  const changed = [...next.chains].filter(([n, c]) => prev.chains.has(n) && !sameRules(prev.chains.get(n)!, c));
  const vanished = [...prev.chains.keys()].filter((n) => !next.chains.has(n));
  const newSets = [...next.sets].filter(([n]) => !prev.sets.has(n));
  const goneSets = [...prev.sets.keys()].filter((n) => !next.sets.has(n));

  const out: string[] = [];
  for (const [name, c] of added) out.push(chainDecl(name, c));
  for (const [name, def] of newSets) out.push(`add set ${T} ${name} { ${def} }`);
  const toAdd: [string, [string, string][]][] = [];
  for (const [name, m] of next.maps) {
    const old = prev.maps.get(name)!.elements;
    // A changed verdict is a delete and an add: nft refuses to overwrite a map element.
    out.push(...elementLines('delete', name, [...old].filter(([k, v]) => m.elements.get(k) !== v)));
    toAdd.push([name, [...m.elements].filter(([k, v]) => old.get(k) !== v)]);
  }
  for (const [name] of changed) out.push(`flush chain ${T} ${name}`);
  for (const name of vanished) out.push(`flush chain ${T} ${name}`);
  for (const name of vanished) out.push(`delete chain ${T} ${name}`);
  for (const name of goneSets) out.push(`delete set ${T} ${name}`);
  for (const [name, c] of [...changed, ...added]) for (const r of c.rules) out.push(`add rule ${T} ${name} ${r}`);
  for (const [name, items] of toAdd) out.push(...elementLines('add', name, items));
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** A UDP flow target whose conntrack entries must go: packets to ORIGDST (any local address when absent):ORIGPORT NATed to ENDPOINTIP. */
export interface StaleUdpFlow {
  origDst?: string;
  origPort: number;
  endpointIP: string;
}

function udpFlows(list: readonly ProxyServicePort[], node: ProxyNode): Map<string, StaleUdpFlow> {
  const m = new Map<string, StaleUdpFlow>();
  const add = (f: StaleUdpFlow) => m.set(`${f.origDst ?? '*'}|${f.origPort}|${f.endpointIP}`, f);
  for (const s of list) {
    if (s.protocol !== 'UDP' || !s.clusterIP) continue;
    const { cluster, local } = categorizeEndpoints(s, node.nodeName);
    for (const e of [...cluster, ...local]) {
      add({ origDst: s.clusterIP, origPort: s.port, endpointIP: e.ip });
      for (const ip of s.loadBalancerIPs ?? []) add({ origDst: ip, origPort: s.port, endpointIP: e.ip });
      if (s.nodePort !== undefined) add({ origPort: s.nodePort, endpointIP: e.ip });
    }
  }
  return m;
}

/**
 * UDP flows PREV sent to endpoints that NEXT no longer uses for the same
 * address and port. UDP has no end of connection, so without deleting their
 * conntrack entries a client keeps sending to the endpoint that went away.
 */
export function staleUdpFlows(prev: readonly ProxyServicePort[], next: readonly ProxyServicePort[], node: ProxyNode): StaleUdpFlow[] {
  const now = udpFlows(next, node);
  return [...udpFlows(prev, node)].filter(([k]) => !now.has(k)).map(([, v]) => v);
}
