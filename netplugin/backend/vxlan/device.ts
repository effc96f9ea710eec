// The VXLAN device of one host: VNI, UDP port, learning off (peers are known
// from leases, never learned), local = the node's underlay IP, MTU = underlay
// MTU − 50 (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14), and a MAC that
// stays the same across agent restarts: it is what peers have in their FDB and
// neighbour tables, so a new MAC would blackhole traffic until every lease
// update propagated. The device's address is the subnet's .0/32: routes to
// remote subnets go via their .0 onlink, and host-originated traffic leaves with
// this node's .0 as source.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError, InvalidError, type Logger } from '../../../api/index.js';
import { subnetNetworkAddress } from '../../subnet/allocator.js';
import type { Link, LinkRef, RtnetlinkClient } from '../../netlink/index.js';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

export interface VxlanDeviceConfig {
  vni: number;
  port: number;
  /** The node's underlay IP (the VTEP address peers send to). */
  localIP: string;
  /** The underlay device carrying localIP. */
  underlay: LinkRef;
  /** Where the VTEP MAC is kept across restarts. */
  stateDir: string;
}

export interface VxlanDevice {
  name: string;
  index: number;
  mac: string;
  mtu: number;
}

/**
 * `flotilla.<vni>`; VNIs too long for the 15-character limit get a base-36 form
 * (`flotilla.v<base36>`), which cannot be mistaken for a decimal one.
 */
export function vxlanDeviceName(vni: number): string {
  const dec = `flotilla.${vni}`;
  return dec.length <= 15 ? dec : `flotilla.v${vni.toString(36)}`;
}

/** A random locally administered unicast MAC. */
export function randomVtepMac(rand: (n: number) => Buffer = randomBytes): string {
  const b = rand(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** The VTEP MAC of this host for `vni`: read from the state dir, or made once and stored. */
export async function stableVtepMac(stateDir: string, vni: number): Promise<string> {
  const file = join(stateDir, `vtep-mac.${vni}`);
  try {
    const mac = (await readFile(file, 'utf8')).trim().toLowerCase();
    if (MAC_RE.test(mac)) return mac;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const mac = randomVtepMac();
  await mkdir(stateDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${mac}\n`);
  await rename(tmp, file);
  return mac;
}

function compatible(l: Link, cfg: VxlanDeviceConfig, underlayIndex: number): string | undefined {
  const v = l.vxlan;
  if (!v) return 'no VXLAN attributes';
  if (v.id !== cfg.vni) return `VNI ${v.id} instead of ${cfg.vni}`;
  if (v.port !== undefined && v.port !== cfg.port) return `port ${v.port} instead of ${cfg.port}`;
  if (v.local !== undefined && v.local !== cfg.localIP) return `local ${v.local} instead of ${cfg.localIP}`;
  if (v.link !== undefined && v.link !== underlayIndex) return `underlay ifindex ${v.link} instead of ${underlayIndex}`;
  if (v.learning) return 'learning on';
  return undefined;
}

/**
 * Makes sure the device exists as configured, up, with the stable MAC and the
 * right MTU. An existing VXLAN device with other parameters (a changed node IP
 * or VNI) is replaced, as Flannel does; a non-VXLAN device with our name is a
 * conflict we refuse to touch.
 */
export async function ensureVxlanDevice(host: RtnetlinkClient, cfg: VxlanDeviceConfig, log: Logger): Promise<VxlanDevice> {
  if (!Number.isInteger(cfg.vni) || cfg.vni < 1 || cfg.vni > 0xffffff) throw new InvalidError(`VXLAN VNI ${cfg.vni} must be 1..16777215`);
  const name = vxlanDeviceName(cfg.vni);
  const underlay = await host.linkGet(cfg.underlay);
  const mtu = underlay.mtu - VXLAN_OVERHEAD;
  const mac = await stableVtepMac(cfg.stateDir, cfg.vni);

  let link = await host.linkFind(name);
  if (link && link.kind !== 'vxlan') {
    throw new FlotillaError('AlreadyExists', `device ${name} exists but is a ${link.kind ?? 'physical'} device, not VXLAN: remove it or change the VNI`, {
      details: { link: name },
    });
  }
  if (link) {
    const why = compatible(link, cfg, underlay.index);
    if (why) {
      log.warn({ device: name, reason: why }, 'vxlan device has other parameters: recreating it');
      await host.linkDel(name);
      link = undefined;
    }
  }
  if (!link) {
    await host.linkAdd({
      name,
      kind: 'vxlan',
      mtu,
      address: mac,
      vxlan: { id: cfg.vni, port: cfg.port, local: cfg.localIP, dev: underlay.index, learning: false },
    });
    log.info({ device: name, vni: cfg.vni, port: cfg.port, local: cfg.localIP, mtu, mac }, 'vxlan device created');
  } else if (link.address !== mac || link.mtu !== mtu) {
    await host.linkSet(name, { address: mac, mtu });
  }
  // The kernel does not route through a VXLAN device in the default strict mode when
  // replies take another path (pod → remote host IP); loose mode accepts them.
  host.sysctlWrite(`net/ipv4/conf/${name}/rp_filter`, 2);
  await host.linkSetUp(name);
  const now = await host.linkGet(name);
  return { name, index: now.index, mac, mtu };
}

/** Gives the device exactly the subnet's .0/32, removing addresses of an older lease. */
export async function setVxlanDeviceSubnet(host: RtnetlinkClient, dev: VxlanDevice, subnet: string): Promise<void> {
  const want = subnetNetworkAddress(subnet);
  for (const a of await host.addrList({ link: dev.index, family: 'inet' })) {
    if (a.address !== want || a.prefixLen !== 32) await host.addrDel({ link: dev.index, address: `${a.address}/${a.prefixLen}` });
  }
  await host.addrReplace({ link: dev.index, address: `${want}/32` });
}
