// The decisions of the VXLAN backend, kept pure so they are table-tested:
// which route/neighbour/FDB entries a set of remote leases calls for, what a
// lease batch changes, and how the kernel's actual entries differ from the
// desired ones. The run loop (network.ts) reads the kernel and carries plans out.
import { formatIPv4, parseCidr, parseIPv4 } from '../../cidr.js';
import type { LeaseBatch, SubnetLease } from '../../subnet/types.js';
import { VXLAN_BACKEND, vxlanData } from './lease-data.js';

/** A route to a remote subnet via its .0, onlink over the VXLAN device. */
export interface OverlayRoute {
  dst: string;
  gateway: string;
}
/** A permanent neighbour: the remote .0 answers with the remote VTEP MAC. */
export interface OverlayNeigh {
  ip: string;
  mac: string;
}
/** An FDB entry: frames for the remote VTEP MAC go to the remote underlay IP. */
export interface OverlayFdb {
  mac: string;
  dst: string;
}

export interface OverlayEntries {
  routes: OverlayRoute[];
  neighs: OverlayNeigh[];
  fdbs: OverlayFdb[];
}

/** What to do to the kernel: deletions first, then additions (add = replace, so it also updates). */
export interface OverlayPlan {
  del: OverlayEntries;
  add: OverlayEntries;
  /** Leases that cannot be turned into entries, with the reason (logged, never fatal). */
  invalid: { lease: SubnetLease; reason: string }[];
}

export function emptyEntries(): OverlayEntries {
  return { routes: [], neighs: [], fdbs: [] };
}

export function isEmptyPlan(p: OverlayPlan): boolean {
  const n = (e: OverlayEntries) => e.routes.length + e.neighs.length + e.fdbs.length;
  return n(p.del) === 0 && n(p.add) === 0;
}

const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** The three entries one remote lease calls for, or the reason it is unusable. */
export function leaseEntries(lease: SubnetLease): { route: OverlayRoute; neigh: OverlayNeigh; fdb: OverlayFdb } | { invalid: string } {
  let base: number;
  let prefix: number;
  try {
    ({ base, prefix } = parseCidr(lease.subnet, 'lease subnet'));
  } catch (e) {
    return { invalid: (e as Error).message };
  }
  try {
    parseIPv4(lease.publicIP ?? '', 'lease publicIP');
  } catch (e) {
    return { invalid: (e as Error).message };
  }
  if (lease.backend?.type !== VXLAN_BACKEND) return { invalid: `backend type "${lease.backend?.type ?? ''}" is not vxlan` };
  const given = vxlanData(lease.backend)?.vtepMAC ?? '';
  const mac = given.toLowerCase();
  if (!MAC_RE.test(mac)) return { invalid: `vtepMAC "${given}" is not a MAC address` };
  const gw = formatIPv4(base);
  return {
    route: { dst: `${gw}/${prefix}`, gateway: gw },
    neigh: { ip: gw, mac },
    fdb: { mac, dst: lease.publicIP },
  };
}

/** The entries the remote leases call for (own lease excluded by the caller). */
export function desiredEntries(leases: Iterable<SubnetLease>): { entries: OverlayEntries; invalid: OverlayPlan['invalid'] } {
  const entries = emptyEntries();
  const invalid: OverlayPlan['invalid'] = [];
  for (const lease of leases) {
    const e = leaseEntries(lease);
    if ('invalid' in e) {
      invalid.push({ lease, reason: e.invalid });
      continue;
    }
    entries.routes.push(e.route);
    entries.neighs.push(e.neigh);
    entries.fdbs.push(e.fdb);
  }
  return { entries, invalid };
}

/** A batch from the lease tracker: removed leases lose exactly their entries, added ones gain theirs. */
export function planBatch(batch: LeaseBatch): OverlayPlan {
  const removed = desiredEntries(batch.removed);
  const added = desiredEntries(batch.added);
  const plan: OverlayPlan = { del: removed.entries, add: added.entries, invalid: [...removed.invalid, ...added.invalid] };
  // A changed lease arrives as removed(old) + added(new). An entry the new lease keeps
  // under the same key is replaced in place by the addition; deleting it first would
  // open a gap in which packets to that subnet are dropped.
  const addRoute = new Set(plan.add.routes.map((r) => r.dst));
  const addNeigh = new Set(plan.add.neighs.map((n) => n.ip));
  const addFdb = new Set(plan.add.fdbs.map((f) => `${f.mac} ${f.dst}`));
  plan.del.routes = plan.del.routes.filter((r) => !addRoute.has(r.dst));
  plan.del.neighs = plan.del.neighs.filter((n) => !addNeigh.has(n.ip));
  plan.del.fdbs = plan.del.fdbs.filter((f) => !addFdb.has(`${f.mac} ${f.dst}`));
  return plan;
}

/**
 * Desired vs actual: entries missing or different are added (replace), entries
 * that no lease calls for are deleted. `actual` holds only what lives on our
 * VXLAN device (gateway routes, permanent neighbours, FDB entries with a
 * destination), so nothing else on the host is ever touched.
 */
export function diffOverlay(desired: OverlayEntries, actual: OverlayEntries): OverlayPlan {
  const plan: OverlayPlan = { del: emptyEntries(), add: emptyEntries(), invalid: [] };
  const actRoute = new Map(actual.routes.map((r) => [r.dst, r]));
  const desRoute = new Map(desired.routes.map((r) => [r.dst, r]));
  for (const r of desired.routes) if (actRoute.get(r.dst)?.gateway !== r.gateway) plan.add.routes.push(r);
  for (const r of actual.routes) if (!desRoute.has(r.dst)) plan.del.routes.push(r);

  const actNeigh = new Map(actual.neighs.map((n) => [n.ip, n]));
  const desNeigh = new Map(desired.neighs.map((n) => [n.ip, n]));
  for (const n of desired.neighs) if (actNeigh.get(n.ip)?.mac !== n.mac) plan.add.neighs.push(n);
  for (const n of actual.neighs) if (!desNeigh.has(n.ip)) plan.del.neighs.push(n);

  // A MAC may have several destinations in a VXLAN FDB: compare (mac, dst) pairs.
  const key = (f: OverlayFdb) => `${f.mac} ${f.dst}`;
  const actFdb = new Set(actual.fdbs.map(key));
  const desFdb = new Set(desired.fdbs.map(key));
  for (const f of desired.fdbs) if (!actFdb.has(key(f))) plan.add.fdbs.push(f);
  for (const f of actual.fdbs) if (!desFdb.has(key(f))) plan.del.fdbs.push(f);
  return plan;
}
