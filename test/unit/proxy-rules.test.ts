// The service proxy's planner as nft reads it: the golden text of a whole
// table and of small changes to it, and each behaviour of the rules in a table
// (affinity, Local policies, no-endpoint reject, terminating fallback, bad
// input); then the drift check over `nft -j` output and the applier's
// transactions with a fake exec (the real kernel is in
// test/integration/proxy-nft.test.ts).
import { describe, expect, it } from 'vitest';
import { FlotillaError, silentLogger } from '../../api/index.js';
import {
  MAX_NAME_LENGTH,
  NO_ENDPOINT_NODEPORTS,
  NO_ENDPOINT_SERVICES,
  SERVICE_IPS,
  SERVICE_NODEPORTS,
  ServiceProxy,
  chainName,
  parseKernelTable,
  planProxy,
  renderFull,
  renderIncremental,
  staleUdpFlows,
  tableDrift,
  type Exec,
  type ProxyEndpoint,
  type ProxyPlan,
  type ProxyServicePort,
} from '../../netplugin/index.js';

const NODE = { nodeName: 'n1', clusterCIDR: '10.244.0.0/16', podSubnet: '10.244.1.0/24' };
const ep = (ip: string, more: Partial<ProxyEndpoint> = {}): ProxyEndpoint => ({ ip, port: 8080, ready: true, serving: true, terminating: false, nodeName: 'n1', ...more });
const web = (endpoints: ProxyEndpoint[], more: Partial<ProxyServicePort> = {}): ProxyServicePort => ({
  namespace: 'demo',
  name: 'web',
  portName: 'http',
  protocol: 'TCP',
  clusterIP: '10.96.0.10',
  port: 80,
  internalTrafficLocal: false,
  externalTrafficLocal: false,
  endpoints,
  ...more,
});
const text = (ls: string[]) => `${ls.join('\n')}\n`;
const A = ep('10.244.1.5');
const B = ep('10.244.2.6', { nodeName: 'n2' });
const EP_A = 'ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080';
const EP_B = 'ep-8190bd04-demo/web/tcp/http__10.244.2.6/8080';
const SVC = 'svc-05d5e123-demo/web/tcp/http';
const chain = (p: ProxyPlan, name: string) => p.chains.get(name)?.rules;
const elements = (p: ProxyPlan, map: string) => Object.fromEntries(p.maps.get(map)!.elements);
const named = (p: ProxyPlan, prefix: string) => [...p.chains.keys()].filter((n) => n.startsWith(prefix));

describe('[service proxy] the nftables table', () => {
  it('a ClusterIP with one endpoint: the whole table, created or replaced in one transaction', () => {
    expect(renderFull(planProxy([web([A])], NODE))).toBe(
      text([
        "add table ip flotilla-proxy",
        "add chain ip flotilla-proxy nat-prerouting { type nat hook prerouting priority dstnat; policy accept; }",
        "add chain ip flotilla-proxy nat-output { type nat hook output priority -100; policy accept; }",
        "add chain ip flotilla-proxy nat-postrouting { type nat hook postrouting priority srcnat; policy accept; }",
        "add chain ip flotilla-proxy filter-input { type filter hook input priority -10; policy accept; }",
        "add chain ip flotilla-proxy filter-forward { type filter hook forward priority -10; policy accept; }",
        "add chain ip flotilla-proxy filter-output { type filter hook output priority -10; policy accept; }",
        "add chain ip flotilla-proxy service-endpoints-check",
        "add chain ip flotilla-proxy nodeport-endpoints-check",
        "add chain ip flotilla-proxy reject-chain",
        "add chain ip flotilla-proxy services",
        "add chain ip flotilla-proxy mark-for-masquerade",
        "add chain ip flotilla-proxy masquerading",
        "add chain ip flotilla-proxy ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080",
        "add chain ip flotilla-proxy svc-05d5e123-demo/web/tcp/http",
        "add map ip flotilla-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }",
        "add map ip flotilla-proxy service-nodeports { type inet_proto . inet_service : verdict; }",
        "add map ip flotilla-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }",
        "add map ip flotilla-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict; }",
        "flush table ip flotilla-proxy",
        "flush map ip flotilla-proxy service-ips",
        "flush map ip flotilla-proxy service-nodeports",
        "flush map ip flotilla-proxy no-endpoint-services",
        "flush map ip flotilla-proxy no-endpoint-nodeports",
        "add rule ip flotilla-proxy nat-prerouting jump services",
        "add rule ip flotilla-proxy nat-output jump services",
        "add rule ip flotilla-proxy nat-postrouting jump masquerading",
        "add rule ip flotilla-proxy filter-input ct state new jump nodeport-endpoints-check",
        "add rule ip flotilla-proxy filter-input ct state new jump service-endpoints-check",
        "add rule ip flotilla-proxy filter-forward ct state new jump service-endpoints-check",
        "add rule ip flotilla-proxy filter-output ct state new jump service-endpoints-check",
        "add rule ip flotilla-proxy filter-output ct state new jump nodeport-endpoints-check",
        "add rule ip flotilla-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
        "add rule ip flotilla-proxy nodeport-endpoints-check fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports",
        "add rule ip flotilla-proxy reject-chain meta l4proto tcp reject with tcp reset",
        "add rule ip flotilla-proxy reject-chain reject",
        "add rule ip flotilla-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
        "add rule ip flotilla-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
        "add rule ip flotilla-proxy mark-for-masquerade meta mark set meta mark | 0x00004000",
        "add rule ip flotilla-proxy masquerading meta mark & 0x00004000 == 0 return",
        "add rule ip flotilla-proxy masquerading meta mark set meta mark ^ 0x00004000",
        "add rule ip flotilla-proxy masquerading masquerade fully-random",
        "add rule ip flotilla-proxy ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080 ip saddr 10.244.1.5 jump mark-for-masquerade",
        "add rule ip flotilla-proxy ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080 meta l4proto tcp dnat to 10.244.1.5:8080",
        "add rule ip flotilla-proxy svc-05d5e123-demo/web/tcp/http ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
        "add rule ip flotilla-proxy svc-05d5e123-demo/web/tcp/http goto ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080",
        "add element ip flotilla-proxy service-ips { 10.96.0.10 . tcp . 80 : goto svc-05d5e123-demo/web/tcp/http }",
      ]),
    );
  });

  it('a full rewrite deletes the chains and sets the kernel has and the plan does not', () => {
    const out = renderFull(planProxy([web([A])], NODE), { chains: [SVC, EP_B, 'services'], sets: ['aff-old', SERVICE_IPS] });
    expect(out).toContain(`flush map ip flotilla-proxy no-endpoint-nodeports\ndelete chain ip flotilla-proxy ${EP_B}\ndelete set ip flotilla-proxy aff-old\nadd rule`);
    expect(out).not.toContain(`delete chain ip flotilla-proxy ${SVC}`);
    expect(out).not.toContain('delete set ip flotilla-proxy service-ips');
  });

  it('an endpoint added: its chain is created and only the Service chain is rewritten', () => {
    expect(renderIncremental(planProxy([web([A])], NODE), planProxy([web([A, B])], NODE))).toBe(
      text([
        "add chain ip flotilla-proxy ep-8190bd04-demo/web/tcp/http__10.244.2.6/8080",
        "flush chain ip flotilla-proxy svc-05d5e123-demo/web/tcp/http",
        "add rule ip flotilla-proxy svc-05d5e123-demo/web/tcp/http ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
        "add rule ip flotilla-proxy svc-05d5e123-demo/web/tcp/http numgen random mod 2 == 0 goto ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080",
        "add rule ip flotilla-proxy svc-05d5e123-demo/web/tcp/http goto ep-8190bd04-demo/web/tcp/http__10.244.2.6/8080",
        "add rule ip flotilla-proxy ep-8190bd04-demo/web/tcp/http__10.244.2.6/8080 ip saddr 10.244.2.6 jump mark-for-masquerade",
        "add rule ip flotilla-proxy ep-8190bd04-demo/web/tcp/http__10.244.2.6/8080 meta l4proto tcp dnat to 10.244.2.6:8080",
      ]),
    );
  });

  it('an endpoint removed: the Service chain is rewritten before the endpoint chain is deleted', () => {
    expect(renderIncremental(planProxy([web([A, B])], NODE), planProxy([web([A])], NODE))).toBe(
      text([
        "flush chain ip flotilla-proxy svc-05d5e123-demo/web/tcp/http",
        "flush chain ip flotilla-proxy ep-8190bd04-demo/web/tcp/http__10.244.2.6/8080",
        "delete chain ip flotilla-proxy ep-8190bd04-demo/web/tcp/http__10.244.2.6/8080",
        "add rule ip flotilla-proxy svc-05d5e123-demo/web/tcp/http ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
        "add rule ip flotilla-proxy svc-05d5e123-demo/web/tcp/http goto ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080",
      ]),
    );
  });

  it('the last endpoint removed: the map element moves to the reject map after its chains are gone', () => {
    expect(renderIncremental(planProxy([web([A])], NODE), planProxy([web([])], NODE))).toBe(
      text([
        "delete element ip flotilla-proxy service-ips { 10.96.0.10 . tcp . 80 }",
        "flush chain ip flotilla-proxy ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080",
        "flush chain ip flotilla-proxy svc-05d5e123-demo/web/tcp/http",
        "delete chain ip flotilla-proxy ep-f52a8be5-demo/web/tcp/http__10.244.1.5/8080",
        "delete chain ip flotilla-proxy svc-05d5e123-demo/web/tcp/http",
        "add element ip flotilla-proxy no-endpoint-services { 10.96.0.10 . tcp . 80 : goto reject-chain }",
      ]),
    );
  });

  it('another Service changing leaves this one untouched; no change is an empty transaction', () => {
    const other = web([ep('10.244.1.9')], { name: 'api', clusterIP: '10.96.0.20' });
    const before = planProxy([web([A, B]), other], NODE);
    const after = planProxy([web([A, B]), { ...other, endpoints: [ep('10.244.1.9'), ep('10.244.1.10')] }], NODE);
    const diff = renderIncremental(before, after)!;
    expect(diff).not.toContain('demo/web/');
    expect(diff).toContain('add chain ip flotilla-proxy ep-');
    expect(diff).toMatch(/flush chain ip flotilla-proxy svc-[0-9a-f]{8}-demo\/api\/tcp\/http\n/);
    expect(renderIncremental(after, planProxy([web([A, B]), { ...other, endpoints: [ep('10.244.1.9'), ep('10.244.1.10')] }], NODE))).toBe('');
  });

  it('a changed fixed part (a base chain hook) cannot be an increment', () => {
    const p = planProxy([web([A])], NODE);
    const q = planProxy([web([A])], NODE);
    q.chains.set('nat-output', { header: 'type nat hook output priority -110; policy accept;', rules: ['jump services'] });
    expect(renderIncremental(p, q)).toBeUndefined();
  });

  it('several endpoints are chosen at random with numgen draws (1/3, then 1/2 of the rest, then the last), in address order', () => {
    const p = planProxy([web([ep('10.244.1.7'), B, A])], NODE);
    const eps = named(p, 'ep-');
    expect(eps).toHaveLength(3);
    expect(chain(p, SVC)!.slice(1)).toEqual([`numgen random mod 3 == 0 goto ${EP_A}`, `numgen random mod 2 == 0 goto ${eps[1]}`, `goto ${EP_B}`]);
    expect(eps[1]).toContain('__10.244.1.7/8080');
  });

  it('session affinity: a known client keeps its endpoint (checked before the random choice), remembered with the timeout', () => {
    const p = planProxy([web([A, B], { sessionAffinityTimeoutSeconds: 600 })], NODE);
    const sets = [...p.sets.keys()];
    expect(sets).toHaveLength(2);
    expect(p.sets.get(sets[0]!)).toBe('type ipv4_addr; flags dynamic,timeout; timeout 600s;');
    expect(chain(p, SVC)).toEqual([
      'ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
      `ip saddr @${sets[0]} goto ${EP_A}`,
      `ip saddr @${sets[1]} goto ${EP_B}`,
      `numgen random mod 2 == 0 goto ${EP_A}`,
      `goto ${EP_B}`,
    ]);
    expect(chain(p, EP_A)).toEqual(['ip saddr 10.244.1.5 jump mark-for-masquerade', `update @${sets[0]} { ip saddr }`, 'meta l4proto tcp dnat to 10.244.1.5:8080']);
    expect(renderFull(p)).toContain(`add set ip flotilla-proxy ${sets[0]} { type ipv4_addr; flags dynamic,timeout; timeout 600s; }`);
    // A new timeout is a new set (nft cannot redeclare one): the old ones go once no rule refers to them.
    const q = planProxy([web([A, B], { sessionAffinityTimeoutSeconds: 60 })], NODE);
    const diff = renderIncremental(p, q)!;
    for (const s of sets) expect(diff).toContain(`delete set ip flotilla-proxy ${s}\n`);
    expect(diff.indexOf(`flush chain ip flotilla-proxy ${SVC}`)).toBeLessThan(diff.indexOf(`delete set ip flotilla-proxy ${sets[0]}`));
    for (const s of q.sets.keys()) expect(diff).toContain(`add set ip flotilla-proxy ${s} { type ipv4_addr; flags dynamic,timeout; timeout 60s; }`);
  });

  it('a NodePort with externalTrafficPolicy Cluster: masqueraded and spread over every endpoint', () => {
    const p = planProxy([web([A, B], { nodePort: 30080, loadBalancerIPs: ['192.0.2.5'] })], NODE);
    const ext = 'ext-05d5e123-demo/web/tcp/http';
    expect(elements(p, SERVICE_NODEPORTS)).toEqual({ 'tcp . 30080': `goto ${ext}` });
    expect(elements(p, SERVICE_IPS)).toEqual({ '10.96.0.10 . tcp . 80': `goto ${SVC}`, '192.0.2.5 . tcp . 80': `goto ${ext}` });
    expect(chain(p, ext)).toEqual(['jump mark-for-masquerade', `goto ${SVC}`]);
  });

  it('externalTrafficPolicy Local: only this node’s endpoints and the client’s address kept; this node’s pods and the node itself use all', () => {
    const p = planProxy([web([A, B], { nodePort: 30080, externalTrafficLocal: true })], NODE);
    const loc = 'loc-05d5e123-demo/web/tcp/http';
    expect(chain(p, 'ext-05d5e123-demo/web/tcp/http')).toEqual([
      `ip saddr 10.244.1.0/24 goto ${SVC}`,
      'fib saddr type local jump mark-for-masquerade',
      `fib saddr type local goto ${SVC}`,
      `goto ${loc}`,
    ]);
    expect(chain(p, loc)).toEqual(['ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade', `goto ${EP_A}`]);
    // The ClusterIP still uses every endpoint.
    expect(elements(p, SERVICE_IPS)).toEqual({ '10.96.0.10 . tcp . 80': `goto ${SVC}` });
    // No endpoint on this node: dropped (not rejected: another node may serve the client).
    const none = planProxy([web([B], { nodePort: 30080, externalTrafficLocal: true })], NODE);
    expect(chain(none, 'ext-05d5e123-demo/web/tcp/http')!.at(-1)).toBe('drop');
    expect(named(none, 'loc-')).toEqual([]);
  });

  it('internalTrafficPolicy Local: the ClusterIP goes only to this node’s endpoints, and is dropped when there is none here', () => {
    const p = planProxy([web([A, B], { internalTrafficLocal: true })], NODE);
    expect(elements(p, SERVICE_IPS)).toEqual({ '10.96.0.10 . tcp . 80': 'goto loc-05d5e123-demo/web/tcp/http' });
    expect(chain(p, 'loc-05d5e123-demo/web/tcp/http')!.at(-1)).toBe(`goto ${EP_A}`);
    const elsewhere = planProxy([web([B], { internalTrafficLocal: true })], NODE);
    expect(elements(elsewhere, SERVICE_IPS)).toEqual({});
    expect(elements(elsewhere, NO_ENDPOINT_SERVICES)).toEqual({ '10.96.0.10 . tcp . 80': 'drop' });
  });

  it('a Service without usable endpoints is rejected on its ClusterIP, load-balancer IPs and NodePort, with no chain of its own', () => {
    const p = planProxy([web([ep('10.244.1.5', { ready: false, serving: false })], { nodePort: 30080, loadBalancerIPs: ['192.0.2.5'] })], NODE);
    expect(elements(p, NO_ENDPOINT_SERVICES)).toEqual({ '10.96.0.10 . tcp . 80': 'goto reject-chain', '192.0.2.5 . tcp . 80': 'goto reject-chain' });
    expect(elements(p, NO_ENDPOINT_NODEPORTS)).toEqual({ 'tcp . 30080': 'goto reject-chain' });
    expect(elements(p, SERVICE_IPS)).toEqual({});
    expect(elements(p, SERVICE_NODEPORTS)).toEqual({});
    expect([...p.chains.keys()].filter((n) => n.includes('demo/web'))).toEqual([]);
    expect(chain(p, 'reject-chain')).toEqual(['meta l4proto tcp reject with tcp reset', 'reject']);
  });

  it.each([
    ['ready endpoints only, when one is ready', [ep('10.244.1.5'), ep('10.244.1.6', { ready: false, serving: true, terminating: true })], ['10.244.1.5']],
    ['serving terminating endpoints when none is ready', [ep('10.244.1.5', { ready: false, serving: true, terminating: true }), ep('10.244.1.6', { ready: false, serving: false, terminating: true })], ['10.244.1.5']],
    ['nothing when no endpoint is ready or serving', [ep('10.244.1.5', { ready: false, serving: false, terminating: true }), ep('10.244.1.6', { ready: false, serving: true, terminating: false })], []],
  ])('endpoint choice: %s', (_what, eps, want) => {
    const p = planProxy([web(eps)], NODE);
    expect(named(p, 'ep-').map((n) => n.split('__')[1]!.split('/')[0])).toEqual(want);
  });

  it('a headless or ExternalName Service (no clusterIP) gets no rules', () => {
    const { clusterIP: _, ...headless } = web([A], { nodePort: 30080 });
    expect(renderFull(planProxy([headless], NODE))).toBe(renderFull(planProxy([], NODE)));
  });

  it('UDP and SCTP use their own protocol in the keys and the DNAT', () => {
    const p = planProxy([web([A], { protocol: 'UDP', portName: 'dns', port: 53 }), web([A], { protocol: 'SCTP', portName: 'sig', port: 9000 })], NODE);
    expect(Object.keys(elements(p, SERVICE_IPS))).toEqual(['10.96.0.10 . sctp . 9000', '10.96.0.10 . udp . 53']);
    expect(named(p, 'ep-').map((n) => chain(p, n)!.at(-1))).toEqual(['meta l4proto sctp dnat to 10.244.1.5:8080', 'meta l4proto udp dnat to 10.244.1.5:8080']);
  });

  it('chain names stay readable, bounded and distinct when the identity is long', () => {
    const long = 'a'.repeat(63);
    const p = planProxy([web([A], { namespace: long, name: long }), web([A], { namespace: long, name: `${long.slice(0, 62)}b`, clusterIP: '10.96.0.11' })], NODE);
    const names = [...p.chains.keys()].filter((n) => n.startsWith('svc-') || n.startsWith('ep-'));
    expect(names).toHaveLength(4);
    expect(new Set(names).size).toBe(4);
    for (const n of names) expect(n.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
    expect(chainName('svc', 'demo/web/tcp/http')).toBe(SVC);
  });
});

describe('[service proxy] bad input is refused, nothing rendered', () => {
  const refuse = (services: ProxyServicePort[], msg: RegExp, node = NODE) => {
    let err: unknown;
    try {
      planProxy(services, node);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).code).toBe('Invalid');
    expect((err as Error).message).toMatch(msg);
  };
  it.each([
    ['an endpoint IP', [web([ep('10.244.1.256')])], /demo\/web:http: endpoints\[0\]\.addresses\[0\]: Invalid value: "10\.244\.1\.256": must be a valid IPv4 address/],
    ['an endpoint IP with text after it', [web([ep('10.244.1.5; flush ruleset')])], /endpoints\[0\]\.addresses\[0\]: Invalid value/],
    ['a clusterIP', [web([A], { clusterIP: '10.96.0.010' })], /spec\.clusterIP: Invalid value: "10\.96\.0\.010"/],
    ['a load-balancer IP', [web([A], { loadBalancerIPs: ['fd00::1'] })], /status\.loadBalancer\.ingress\[0\]\.ip: Invalid value: "fd00::1"/],
    ['a port', [web([A], { port: 0 })], /spec\.ports\[\]\.port: Invalid value: 0: must be between 1 and 65535, inclusive/],
    ['a nodePort', [web([A], { nodePort: 70000 })], /spec\.ports\[\]\.nodePort: Invalid value: 70000/],
    ['an endpoint port', [web([{ ...A, port: 1.5 }])], /endpoints\[0\]\.port: Invalid value: 1\.5/],
    ['a protocol', [web([A], { protocol: 'ICMP' as 'TCP' })], /spec\.ports\[\]\.protocol: Unsupported value: "ICMP"/],
    ['a name nft would read as syntax', [web([A], { name: 'web }' })], /metadata\.name: Invalid value: "web }": must be a DNS-1123 label/],
    ['an affinity timeout', [web([A], { sessionAffinityTimeoutSeconds: 0 })], /timeoutSeconds: Invalid value: 0/],
    ['the same port twice', [web([A]), web([B])], /spec\.ports\[\]\.name: Duplicate value: "http"/],
    ['one ClusterIP and port for two Services', [web([A]), web([A], { name: 'api' })], /demo\/web:http: spec\.clusterIP: Duplicate value: "10\.96\.0\.10 \. tcp \. 80"/],
    ['one NodePort for two Services', [web([A], { nodePort: 30080 }), web([], { name: 'api', clusterIP: '10.96.0.20', nodePort: 30080 })], /spec\.ports\[\]\.nodePort: Duplicate value: "tcp \. 30080"/],
  ])('%s', (_what, services, msg) => refuse(services, msg));

  it('a bad node CIDR', () => refuse([web([A])], /node: clusterCIDR: Invalid value: "10\.244\.0\.0\/33"/, { ...NODE, clusterCIDR: '10.244.0.0/33' }));
});

describe('[service proxy] UDP conntrack clean-up', () => {
  it('flows to an endpoint no longer used are listed, by ClusterIP, load-balancer IP and NodePort', () => {
    const dns = (eps: ProxyEndpoint[]) => web(eps, { name: 'dns', protocol: 'UDP', portName: 'dns', port: 53, nodePort: 30053, loadBalancerIPs: ['192.0.2.5'] });
    expect(staleUdpFlows([dns([A, B]), web([A])], [dns([B]), web([])], NODE)).toEqual([
      { origDst: '10.96.0.10', origPort: 53, endpointIP: '10.244.1.5' },
      { origDst: '192.0.2.5', origPort: 53, endpointIP: '10.244.1.5' },
      { origPort: 30053, endpointIP: '10.244.1.5' },
    ]);
    expect(staleUdpFlows([dns([A])], [dns([A])], NODE)).toEqual([]);
  });
});

/** `nft -j list table` output holding exactly PLAN (what the kernel shows after applying it). */
function kernelJson(plan: ProxyPlan): string {
  const items: unknown[] = [{ metainfo: { version: '1.0.6' } }, { table: { family: 'ip', name: 'flotilla-proxy', handle: 1 } }];
  for (const name of plan.sets.keys()) items.push({ set: { family: 'ip', name, table: 'flotilla-proxy', type: 'ipv4_addr', flags: ['timeout'], timeout: 600 } });
  for (const [name, m] of plan.maps) {
    const elem = [...m.elements].map(([k, v]) => {
      const parts = k.split(' . ').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
      const [verb, target] = v.split(' ');
      return [{ concat: parts }, target ? { [verb!]: { target } } : { [verb!]: null }];
    });
    items.push({ map: { family: 'ip', name, table: 'flotilla-proxy', map: 'verdict', ...(elem.length ? { elem } : {}) } });
  }
  let handle = 10;
  for (const [name, c] of plan.chains) {
    items.push({ chain: { family: 'ip', table: 'flotilla-proxy', name, handle: handle++ } });
    for (const _ of c.rules) items.push({ rule: { family: 'ip', table: 'flotilla-proxy', chain: name, handle: handle++, expr: [] } });
  }
  return JSON.stringify({ nftables: items });
}

describe('[service proxy] the drift check', () => {
  const plan = planProxy([web([A, B], { nodePort: 30080, sessionAffinityTimeoutSeconds: 60 }), web([], { name: 'none', clusterIP: '10.96.0.11' })], NODE);

  it('a table that matches the plan has no drift', () => {
    expect(tableDrift(plan, parseKernelTable(kernelJson(plan)))).toEqual([]);
  });

  it('names each difference: a missing table, a flushed chain, a lost or retargeted element, a stray chain or set', () => {
    expect(tableDrift(plan, parseKernelTable(''))).toEqual(['table missing']);
    const j = JSON.parse(kernelJson(plan)) as { nftables: Record<string, Record<string, unknown>>[] };
    j.nftables = j.nftables.filter((o) => !(o.rule && o.rule.chain === SVC));
    const nodeports = j.nftables.find((o) => o.map?.name === SERVICE_NODEPORTS)!.map!;
    nodeports.elem = [];
    const ips = j.nftables.find((o) => o.map?.name === SERVICE_IPS)!.map!;
    ips.elem = [[{ concat: ['10.96.0.10', 6, 80] }, { goto: { target: EP_A } }]];
    const noEp = j.nftables.find((o) => o.map?.name === NO_ENDPOINT_SERVICES)!.map!;
    noEp.elem = [[{ concat: ['10.96.0.11', 'tcp', 80] }, { drop: null }]];
    j.nftables.push({ chain: { name: 'mine' } }, { set: { name: 'stray' } });
    expect(tableDrift(plan, parseKernelTable(JSON.stringify(j)))).toEqual([
      `chain ${SVC} has 0 rules, expected 5`,
      'chain mine unexpected',
      'set stray unexpected',
      `map service-ips: element 10.96.0.10 . tcp . 80 is "goto ${EP_A}", expected "goto ${SVC}"`,
      'map service-nodeports: element tcp . 30080 missing',
      'map no-endpoint-services: element 10.96.0.11 . tcp . 80 is "drop", expected "goto reject-chain"',
    ]);
  });
});

/** A fake kernel: records every command and answers `nft -j list` with what the last applied plan would show. */
function fakeNft(opts: { failIncrementalOnce?: boolean; failAll?: boolean } = {}) {
  const calls: { cmd: string; stdin?: string }[] = [];
  let shown: string | undefined;
  let failOnce = opts.failIncrementalOnce ?? false;
  const exec: Exec = async (file, args, stdin) => {
    const cmd = [file, ...args].join(' ');
    calls.push({ cmd, ...(stdin !== undefined ? { stdin } : {}) });
    if (args.includes('-j')) {
      if (shown === undefined) throw new Error('nft -j list table ip flotilla-proxy failed: Error: No such file or directory');
      return shown;
    }
    if (file === 'conntrack') throw new Error('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.');
    if (opts.failAll) throw new Error('nft -f - failed: Error: Could not process rule: No such file or directory');
    if (failOnce && stdin && !stdin.startsWith('add table')) {
      failOnce = false;
      throw new Error('nft -f - failed: Error: Could not process rule: No such file or directory');
    }
    return '';
  };
  return { calls, exec, show: (p: ProxyPlan | undefined) => (shown = p ? kernelJson(p) : undefined) };
}

describe('[service proxy] the applier', () => {
  const udp = (eps: ProxyEndpoint[]) => web(eps, { name: 'dns', protocol: 'UDP', portName: 'dns', port: 53, clusterIP: '10.96.0.53' });

  it('the first sync writes the whole table (after reading what is there); the next ones only the difference', async () => {
    const k = fakeNft();
    const proxy = new ServiceProxy({ netns: '/run/netns/x', exec: k.exec, log: silentLogger() });
    expect(await proxy.sync([web([A])], NODE)).toMatchObject({ mode: 'full' });
    expect(k.calls.map((c) => c.cmd)).toEqual([
      'nsenter --net=/run/netns/x nft -j list table ip flotilla-proxy',
      'nsenter --net=/run/netns/x nft -f -',
    ]);
    expect(k.calls[1]!.stdin).toBe(renderFull(planProxy([web([A])], NODE)));
    k.calls.length = 0;
    expect(await proxy.sync([web([A, B])], NODE)).toEqual({ mode: 'incremental', lines: 7 });
    expect(k.calls).toEqual([{ cmd: 'nsenter --net=/run/netns/x nft -f -', stdin: renderIncremental(planProxy([web([A])], NODE), planProxy([web([A, B])], NODE)) }]);
    k.calls.length = 0;
    expect(await proxy.sync([web([B, A])], NODE)).toEqual({ mode: 'none', lines: 0 });
    expect(k.calls).toEqual([]);
  });

  it('a removed UDP endpoint has its conntrack entries deleted; TCP ones are left to end by themselves', async () => {
    const k = fakeNft();
    const proxy = new ServiceProxy({ exec: k.exec, log: silentLogger() });
    await proxy.sync([udp([A, B]), web([A, B])], NODE);
    k.calls.length = 0;
    await proxy.sync([udp([B]), web([B])], NODE);
    expect(k.calls.filter((c) => c.cmd.startsWith('conntrack')).map((c) => c.cmd)).toEqual([
      'conntrack -D -p udp --orig-dst 10.96.0.53 --orig-port-dst 53 --dst-nat 10.244.1.5',
    ]);
  });

  it('a failed increment falls back to the whole table; when that fails too the error is reported and the applied plan kept', async () => {
    const k = fakeNft({ failIncrementalOnce: true });
    const proxy = new ServiceProxy({ exec: k.exec, log: silentLogger() });
    await proxy.sync([web([A])], NODE);
    expect(await proxy.sync([web([A, B])], NODE)).toMatchObject({ mode: 'full' });

    const errors: Error[] = [];
    const broken = fakeNft({ failAll: true });
    const p2 = new ServiceProxy({ exec: broken.exec, log: silentLogger(), onSyncError: (e) => errors.push(e) });
    await expect(p2.sync([web([A])], NODE)).rejects.toThrow(/Could not process rule/);
    expect(errors).toHaveLength(1);
    expect(p2.syncErrors).toBe(1);
    expect(p2.appliedPlan()).toBeUndefined();
  });

  it('input the planner refuses runs no process', async () => {
    const k = fakeNft();
    const proxy = new ServiceProxy({ exec: k.exec, log: silentLogger() });
    await expect(proxy.sync([web([ep('10.0.0.1/8')])], NODE)).rejects.toThrow(/Invalid value: "10\.0\.0\.1\/8"/);
    expect(k.calls).toEqual([]);
  });

  it('check() finds drift, rewrites the whole table, counts it and calls the hook; a clean table runs only the listing', async () => {
    const k = fakeNft();
    const seen: string[][] = [];
    const proxy = new ServiceProxy({ exec: k.exec, log: silentLogger(), onDrift: (d) => seen.push(d) });
    expect(await proxy.check()).toEqual({ drift: [], repaired: false }); // nothing applied yet: nothing to compare
    await proxy.sync([web([A])], NODE);
    const plan = planProxy([web([A])], NODE);
    k.show(plan);
    k.calls.length = 0;
    expect(await proxy.check()).toEqual({ drift: [], repaired: false });
    expect(k.calls.map((c) => c.cmd)).toEqual(['nft -j list table ip flotilla-proxy']);
    const drifted = planProxy([web([A])], NODE);
    drifted.chains.get(SVC)!.rules.pop();
    k.show(drifted);
    k.calls.length = 0;
    expect(await proxy.check()).toEqual({ drift: [`chain ${SVC} has 1 rules, expected 2`], repaired: true });
    expect(k.calls.map((c) => c.cmd)).toEqual(['nft -j list table ip flotilla-proxy', 'nft -j list table ip flotilla-proxy', 'nft -f -']);
    expect(k.calls[2]!.stdin).toBe(renderFull(plan));
    expect(proxy.driftRepairs).toBe(1);
    expect(seen).toEqual([[`chain ${SVC} has 1 rules, expected 2`]]);
  });

  it('remove() deletes the table whether it exists or not', async () => {
    const k = fakeNft();
    const proxy = new ServiceProxy({ exec: k.exec, log: silentLogger() });
    await proxy.sync([web([A])], NODE);
    await proxy.remove();
    expect(k.calls.at(-1)).toEqual({ cmd: 'nft -f -', stdin: 'table ip flotilla-proxy {}\ndelete table ip flotilla-proxy\n' });
    expect(proxy.appliedPlan()).toBeUndefined();
  });
});
