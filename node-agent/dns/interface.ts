// Where the node's name server listens, as NodeLocal DNSCache does it: the
// kube-dns Service IP on an interface of the node's own network namespace, so
// a pod's query to 10.96.0.10 leaves by its default route, arrives at its own
// node and is delivered locally — no proxy rule, no cross-host hop, and it
// still answers when another node is down.
import type { RtnetlinkClient } from '../../netplugin/index.js';

export const DNS_INTERFACE = 'flotilla-dns';

/** The slice of the rtnetlink client this file uses (a fake in unit tests). */
export type DnsLinkClient = Pick<RtnetlinkClient, 'linkFind' | 'linkAdd' | 'linkDel' | 'linkSetUp' | 'addrReplace' | 'addrList'>;

/**
 * Makes NAME hold IP/32, up. A dummy link as NodeLocal DNSCache uses; where
 * the kernel has no dummy driver, a bridge without ports (addresses on it are
 * just as local). A link left by a crashed agent is taken over as it is.
 */
export async function ensureDnsInterface(nl: DnsLinkClient, ip: string, name = DNS_INTERFACE): Promise<void> {
  if (!(await nl.linkFind(name))) {
    try {
      await nl.linkAdd({ name, kind: 'dummy' });
    } catch {
      // No dummy driver (EOPNOTSUPP), or the name was taken meanwhile (then it is ours to use).
      if (!(await nl.linkFind(name))) await nl.linkAdd({ name, kind: 'bridge' });
    }
  }
  await nl.addrReplace({ link: name, address: `${ip}/32` });
  await nl.linkSetUp(name);
}

/** Removes the link (its address goes with it); absent is fine. */
export async function removeDnsInterface(nl: DnsLinkClient, name = DNS_INTERFACE): Promise<void> {
  if (await nl.linkFind(name)) await nl.linkDel(name);
}
