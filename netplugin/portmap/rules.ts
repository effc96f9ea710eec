// Pure planning for host ports, as the CNI portmap plugin does them: the
// mappings of every pod on the node → the whole text of our own nftables
// table, written in one `nft -f` transaction. Nothing here runs a process.
import { InvalidError, type Pod } from '../../api/index.js';
import { parseCidr } from '../cidr.js';

/** Our table, in the `ip` family (pod IPs are IPv4). No other table is ever touched. */
export const HOSTPORT_TABLE = 'flotilla-hostport';
export const HOSTPORT_FAMILY = 'ip';

export type HostPortProtocol = 'TCP' | 'UDP' | 'SCTP';

/** One `hostIP:hostPort/protocol` → `podIP:containerPort` forward. */
export interface HostPortMapping {
  /** Empty or absent: any local address of the node. */
  hostIP?: string;
  hostPort: number;
  protocol: HostPortProtocol;
  podIP: string;
  containerPort: number;
}

/** The mappings of one sandbox, and who it belongs to (shown in rule comments). */
export interface SandboxHostPorts {
  /** The sandbox id. */
  sandboxId: string;
  /** `namespace/name` of the pod. */
  pod: string;
  mappings: HostPortMapping[];
  /**
   * Host side of the pod's veth on the bridge: hairpin mode goes on there, since
   * with br_netfilter (bridge-nf-call-iptables=1) a DNATed frame is bridged back
   * out of the port it came in on, which a bridge does only in hairpin mode.
   */
  hostIfName?: string;
}

export interface HostPortTableOptions {
  /** The node's pod subnet: DNATed traffic from it is masqueraded (hairpin, pod → another pod's host port on this node). Absent: only the pod itself. */
  podSubnet?: string;
}

/** The host ports a pod asks for (app and init containers; hostNetwork pods need none), once the pod has PODIP. */
export function podHostPortMappings(pod: Pod, podIP: string): HostPortMapping[] {
  if (pod.spec.hostNetwork === true) return [];
  const out: HostPortMapping[] = [];
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      const m: HostPortMapping = { hostPort: p.hostPort, protocol: (p.protocol ?? 'TCP') as HostPortProtocol, podIP, containerPort: p.containerPort };
      // 0.0.0.0 means any address, as with an empty hostIP.
      if (p.hostIP && p.hostIP !== '0.0.0.0') m.hostIP = p.hostIP;
      out.push(m);
    }
  }
  return out;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PROTO: Record<HostPortProtocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

function checkMapping(m: HostPortMapping): void {
  const bad = (what: string) => new InvalidError(`host port mapping ${JSON.stringify(m)}: ${what}`);
  if (!IPV4.test(m.podIP)) throw bad('podIP must be an IPv4 address');
  if (m.hostIP !== undefined && m.hostIP !== '' && !IPV4.test(m.hostIP)) throw bad('hostIP must be an IPv4 address (IPv6 host ports are not supported)');
  for (const [k, v] of [['hostPort', m.hostPort], ['containerPort', m.containerPort]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw bad(`${k} must be between 1 and 65535`);
  }
  if (!(m.protocol in PROTO)) throw bad('protocol must be TCP, UDP or SCTP');
}

/** A comment nft accepts: no quotes or backslashes, at most 128 bytes. */
function comment(s: string): string {
  return `comment "${s.replace(/["\\\n]/g, '_').slice(0, 120)}"`;
}

/** Mappings in a stable order (by host port, protocol, host IP, sandbox), so the table text is deterministic. */
function ordered(sandboxes: SandboxHostPorts[]): { sb: SandboxHostPorts; m: HostPortMapping }[] {
  const all = sandboxes.flatMap((sb) => sb.mappings.map((m) => ({ sb, m })));
  const key = (x: { sb: SandboxHostPorts; m: HostPortMapping }) =>
    `${String(x.m.hostPort).padStart(5, '0')}/${x.m.protocol}/${x.m.hostIP ?? ''}/${x.sb.sandboxId}/${x.m.containerPort}`;
  return all.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * The `nft -f` input that replaces our table with one forwarding exactly
 * SANDBOXES' mappings, or removes it when there is none. Creating the table
 * empty and deleting it first makes the replace one atomic transaction that
 * works whether the table exists or not.
 */
export function hostPortScript(sandboxes: SandboxHostPorts[], opts: HostPortTableOptions = {}): string {
  const t = `${HOSTPORT_FAMILY} ${HOSTPORT_TABLE}`;
  const lines = [`table ${t} {}`, `delete table ${t}`];
  const all = ordered(sandboxes);
  if (all.length === 0) return `${lines.join('\n')}\n`;
  if (opts.podSubnet) parseCidr(opts.podSubnet, 'pod subnet');
  for (const { m } of all) checkMapping(m);

  const dnat: string[] = [];
  const masq: string[] = [];
  const seenMasq = new Set<string>();
  for (const { sb, m } of all) {
    const proto = PROTO[m.protocol];
    const who = `${sb.pod} ${m.hostIP || '*'}:${m.hostPort}/${m.protocol} (sandbox ${sb.sandboxId.slice(0, 12)})`;
    const daddr = m.hostIP ? `ip daddr ${m.hostIP} ` : '';
    dnat.push(`${daddr}${proto} dport ${m.hostPort} dnat to ${m.podIP}:${m.containerPort} ${comment(who)}`);
    const target = `ip daddr ${m.podIP} ${proto} dport ${m.containerPort}`;
    if (seenMasq.has(target)) continue;
    seenMasq.add(target);
    // Hairpin: the pod (or a neighbour on the bridge) reaching a host port that leads back onto
    // the bridge would get the answer straight from the pod, bypassing the DNAT: masquerade.
    masq.push(`${target} ip saddr ${opts.podSubnet ?? m.podIP} masquerade ${comment(`${sb.pod} hairpin`)}`);
    // From the node itself (a local source address): the answer must come back through the node.
    masq.push(`${target} fib saddr type local masquerade ${comment(`${sb.pod} from the node`)}`);
  }

  const out = [...lines, `table ${t} {`];
  const chain = (name: string, body: string[]) => {
    out.push(`\tchain ${name} {`);
    for (const b of body) out.push(`\t\t${b}`);
    out.push('\t}');
  };
  // Only traffic to an address of this node (not 127/8: a pod answering to loopback cannot route) is forwarded.
  const toNode = 'fib daddr type local ip daddr != 127.0.0.0/8 jump hostports';
  chain('prerouting', ['type nat hook prerouting priority dstnat; policy accept;', toNode]);
  // -100 is dstnat: nft 1.0.6 takes that name in prerouting only.
  chain('output', ['type nat hook output priority -100; policy accept;', toNode]);
  chain('hostports', dnat);
  chain('postrouting', ['type nat hook postrouting priority srcnat; policy accept;', 'ct status dnat jump hostports-snat']);
  chain('hostports-snat', masq);
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** Mappings of OLD that NEW no longer has (by host side), for conntrack clean-up. */
export function removedMappings(old: HostPortMapping[], now: HostPortMapping[]): HostPortMapping[] {
  const k = (m: HostPortMapping) => `${m.hostIP ?? ''}|${m.hostPort}|${m.protocol}|${m.podIP}|${m.containerPort}`;
  const keep = new Set(now.map(k));
  return old.filter((m) => !keep.has(k(m)));
}
