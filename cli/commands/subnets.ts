// flotctl get subnets [-o wide|json|yaml]: the pod subnet leases of the network
// plugin (one per node), from /apis/flotilla.io/v1/subnets.
import { formatJson, formatYaml, type OutputFormat } from '../printers/output.js';
import { humanDuration } from '../printers/age.js';
import { formatTable } from '../printers/tabwriter.js';
import type { Session } from '../session.js';

export const SUBNETS_PATH = '/apis/flotilla.io/v1/subnets';
export const SUBNET_TYPES = new Set(['subnets', 'subnet', 'subnetleases', 'subnetlease']);

interface SubnetLeaseView {
  subnet: string;
  nodeName: string;
  publicIP: string;
  /** The backend and its data (opaque but for the VXLAN VTEP MAC shown with -o wide). */
  backend?: { type?: string; data?: { vtepMAC?: string } };
  /** The same, from a controller of the release before backend data was opaque. */
  backendType?: string;
  backendData?: { vtepMAC?: string };
  expiration: number;
}

interface SubnetList {
  network: { network: string; subnetLen: number; backend: { type: string; vni: number; port: number } };
  items: SubnetLeaseView[];
}

export async function runGetSubnets(session: Session, format: OutputFormat, names: string[], noHeaders = false): Promise<number> {
  const list = await session.client.requestJson<SubnetList>('GET', SUBNETS_PATH);
  const items = names.length > 0 ? list.items.filter((l) => names.includes(l.nodeName) || names.includes(l.subnet)) : list.items;
  if (format === 'json' || format === 'yaml') {
    const doc = { ...list, items };
    session.io.out(format === 'json' ? formatJson(doc) : formatYaml(doc));
    return 0;
  }
  if (format === 'name') {
    for (const l of items) session.io.out(`subnet/${l.subnet}\n`);
    return 0;
  }
  if (items.length === 0) {
    session.io.err(names.length > 0 ? `no subnet leases for ${names.join(', ')}\n` : `No subnet leases in ${list.network.network} yet (nodes lease one when they join)\n`);
    return names.length > 0 ? 1 : 0;
  }
  const now = session.now();
  const header = ['NODE', 'SUBNET', 'PUBLIC-IP', 'BACKEND', ...(format === 'wide' ? ['VTEP-MAC'] : []), 'EXPIRES-IN'];
  const rows = items.map((l) => [
    l.nodeName,
    l.subnet,
    l.publicIP,
    `${l.backend?.type ?? l.backendType ?? ''}/${list.network.backend.vni}`,
    ...(format === 'wide' ? [(l.backend ? l.backend.data?.vtepMAC : l.backendData?.vtepMAC) ?? '<none>'] : []),
    l.expiration > now ? humanDuration(l.expiration - now) : '<expired>',
  ]);
  session.io.out(formatTable(noHeaders ? undefined : header, rows));
  return 0;
}
