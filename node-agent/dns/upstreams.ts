// The node's upstream resolvers, read once at start from the host's
// resolv.conf: its nameservers minus the name server's own address (the
// kube-dns IP, and loopback stubs that would forward back to us).
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import type { Upstream } from './forwarder.js';
import { parseResolvConf } from './resolv-conf.js';

/** Upstreams from resolv.conf TEXT; OWN addresses (where our server listens) are left out. */
export function upstreamsFrom(text: string, own: readonly string[]): Upstream[] {
  const skip = new Set(own);
  return parseResolvConf(text)
    .nameservers.filter((ns) => isIP(ns) !== 0 && !skip.has(ns))
    .map((host) => ({ host, port: 53 }));
}

/** Upstreams from the host's file (default /etc/resolv.conf); none when it cannot be read. */
export function hostUpstreams(own: readonly string[], path = '/etc/resolv.conf'): Upstream[] {
  try {
    return upstreamsFrom(fs.readFileSync(path, 'utf8'), own);
  } catch {
    return [];
  }
}
