// BridgePodNetwork: the PodNetwork of one node, as the CNI bridge plugin with
// host-local IPAM does it: a bridge holding the subnet's gateway (.1), one veth
// pair per pod whose pod end is created directly inside the pod's namespace
// (moving a link between namespaces costs the kernel far more than creating it
// there), an IP from the on-disk allocator and a default route via the gateway.
// Everything goes through rtnetlink; no `ip` processes.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { componentLogger, FlotillaError, InvalidError, type Logger } from '../../api/index.js';
import { parseCidr } from '../cidr.js';
import { HostLocalIpam } from '../ipam/host-local.js';
import { RtnetlinkClient } from '../netlink/index.js';
import { PodNetworkCheckError } from './errors.js';
import type { PodNetwork, PodNetworkAttachment, PodNetworkResult } from './types.js';

export interface BridgePodNetworkConfig {
  /** Bridge name in the host namespace; default cni0. */
  bridge?: string;
  /** This node's pod subnet, e.g. 10.244.3.0/24; the bridge gets its .1. */
  subnet: string;
  /** MTU of the bridge and both veth ends: the VXLAN device's MTU. */
  mtu: number;
  /** Directory of the host-local IPAM allocations (one file per IP). */
  ipamDir: string;
  /** Pin path of the host namespace; default the calling process's namespace (tests drive lab hosts). */
  hostNetns?: string | null;
  log?: Logger;
}

function isCode(e: unknown, code: string): boolean {
  return e instanceof FlotillaError && e.code === code;
}

/** Undo actions registered right after each acquisition, run in reverse when a later step fails. */
class UndoStack {
  private readonly steps: { what: string; fn: () => Promise<unknown> }[] = [];
  push(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }
  async run(log: Logger): Promise<void> {
    for (const s of this.steps.reverse()) {
      try {
        await s.fn();
      } catch (e) {
        log.warn({ err: e, step: s.what }, 'pod network: undo step failed');
      }
    }
  }
}

export class BridgePodNetwork implements PodNetwork {
  readonly bridge: string;
  readonly subnet: string;
  readonly mtu: number;
  readonly gateway: string;
  readonly prefix: number;
  readonly ipam: HostLocalIpam;
  private readonly hostNetns: string | null;
  private readonly log: Logger;
  private host?: Promise<RtnetlinkClient>;

  constructor(cfg: BridgePodNetworkConfig) {
    this.bridge = cfg.bridge ?? 'cni0';
    if (this.bridge.length < 1 || this.bridge.length > 15) throw new InvalidError(`bridge name "${this.bridge}" must be 1..15 characters`);
    if (!Number.isInteger(cfg.mtu) || cfg.mtu < 576 || cfg.mtu > 65535) throw new InvalidError(`pod network MTU ${cfg.mtu} must be 576..65535`);
    this.subnet = cfg.subnet;
    this.prefix = parseCidr(cfg.subnet, 'pod subnet').prefix;
    this.mtu = cfg.mtu;
    this.ipam = new HostLocalIpam(cfg.ipamDir, cfg.subnet);
    this.gateway = this.ipam.gateway;
    this.hostNetns = cfg.hostNetns ?? null;
    this.log = cfg.log ?? componentLogger('podnet');
  }

  /** Host side of the veth pair: stable per container, so ADD/DEL after a restart find it. */
  hostIfName(containerId: string): string {
    return `veth${createHash('sha256').update(containerId).digest('hex').slice(0, 8)}`;
  }

  private hostClient(): Promise<RtnetlinkClient> {
    this.host ??= RtnetlinkClient.open(this.hostNetns);
    return this.host;
  }

  /** Closes the host namespace's netlink socket (a later call opens a new one). */
  async close(): Promise<void> {
    const h = this.host;
    this.host = undefined;
    if (h) (await h).close();
  }

  private validate(a: PodNetworkAttachment): void {
    const causes = [];
    if (!a.containerId) causes.push({ field: 'containerId', reason: 'FieldValueRequired', message: 'is required' });
    if (!a.netnsPath) causes.push({ field: 'netnsPath', reason: 'FieldValueRequired', message: 'is required' });
    if (!a.ifName || a.ifName.length > 15 || /[\s/]/.test(a.ifName)) {
      causes.push({ field: 'ifName', reason: 'FieldValueInvalid', message: `"${a.ifName ?? ''}" is not an interface name (1..15 characters, no spaces or slashes)` });
    }
    if (causes.length > 0) {
      throw new InvalidError(`pod network attachment is invalid: ${causes.map((c) => `${c.field} ${c.message}`).join(', ')}`, causes);
    }
  }

  /** The bridge with the gateway address, up. Safe to race with another ADD. */
  async ensureBridge(host: RtnetlinkClient): Promise<void> {
    const br = await host.linkFind(this.bridge);
    if (br && br.kind !== 'bridge') {
      throw new FlotillaError('AlreadyExists', `${this.bridge} exists but is a ${br.kind ?? 'physical'} device, not a bridge`, {
        details: { link: this.bridge },
      });
    }
    if (!br) {
      try {
        await host.linkAdd({ name: this.bridge, kind: 'bridge', mtu: this.mtu, up: true });
      } catch (e) {
        if (!isCode(e, 'AlreadyExists')) throw e;
      }
    } else if (!br.up) {
      await host.linkSetUp(this.bridge);
    }
    await host.addrReplace({ link: this.bridge, address: `${this.gateway}/${this.prefix}` });
  }

  async add(a: PodNetworkAttachment): Promise<PodNetworkResult> {
    this.validate(a);
    if (!existsSync(a.netnsPath)) throw new PodNetworkCheckError(a.containerId, 'netns', `network namespace ${a.netnsPath} does not exist`);
    const host = await this.hostClient();
    const hostIf = this.hostIfName(a.containerId);
    const undo = new UndoStack();
    const pod = await RtnetlinkClient.open(a.netnsPath);
    try {
      await this.ensureBridge(host);
      const alloc = await this.ipam.allocate(a.containerId, a.ifName);
      // An IP held before this ADD stays held: the pod may still be using it.
      if (!alloc.existing) undo.push('release IP', () => this.ipam.release(a.containerId, a.ifName));
      const address = `${alloc.ip}/${alloc.prefix}`;

      // A repeated ADD finds the pair it made: answer with what is there.
      const existing = await host.linkFind(hostIf);
      if (existing) {
        const same = await this.attachedAsExpected(host, pod, a, hostIf, address).catch(() => false);
        if (same) {
          await host.linkSet(hostIf, { hairpin: true }); // a pair made before hairpin mode was set here
          return await this.result(pod, a, hostIf, alloc.ip);
        }
        // Half-made by a crashed ADD: start over (deleting one end removes both).
        await host.linkDel(hostIf).catch((e) => {
          if (!isCode(e, 'NotFound')) throw e;
        });
      }

      try {
        await host.linkAdd({ name: hostIf, kind: 'veth', mtu: this.mtu, veth: { peer: { name: a.ifName, netns: a.netnsPath } } });
      } catch (e) {
        if (isCode(e, 'AlreadyExists')) {
          throw new FlotillaError('AlreadyExists', `cannot create ${a.ifName} in ${a.netnsPath} (or ${hostIf} on the host): the name is taken`, {
            details: { containerId: a.containerId, ifName: a.ifName, hostIfName: hostIf },
            cause: e,
          });
        }
        throw e;
      }
      undo.push('delete veth', () => host.linkDel(hostIf));
      await host.linkSet(hostIf, { master: this.bridge, up: true });
      // A pod reaching itself through its Service (or its host port) is DNATed back
      // to itself: with br_netfilter that frame leaves by the port it came in by,
      // which a bridge allows only in hairpin mode (kubelet's hairpin-veth mode).
      await host.linkSet(hostIf, { hairpin: true });
      await pod.linkSetUp('lo');
      await pod.addrAdd({ link: a.ifName, address });
      await pod.linkSetUp(a.ifName);
      await pod.routeReplace({ dst: 'default', gateway: alloc.gateway, dev: a.ifName });
      const res = await this.result(pod, a, hostIf, alloc.ip);
      this.log.debug({ containerId: a.containerId, ip: alloc.ip, hostIf }, 'pod attached');
      return res;
    } catch (e) {
      await undo.run(this.log);
      throw e;
    } finally {
      pod.close();
    }
  }

  private async result(pod: RtnetlinkClient, a: PodNetworkAttachment, hostIf: string, ip: string): Promise<PodNetworkResult> {
    const link = await pod.linkGet(a.ifName);
    return { ip, prefixLen: this.prefix, gateway: this.gateway, mac: link.address ?? '', mtu: link.mtu, ifName: a.ifName, hostIfName: hostIf };
  }

  /** Throws a PodNetworkCheckError naming the first thing that differs from what ADD leaves. */
  private async verify(host: RtnetlinkClient, pod: RtnetlinkClient, a: PodNetworkAttachment, hostIf: string, address: string): Promise<void> {
    const id = a.containerId;
    const br = await host.linkFind(this.bridge);
    if (!br) throw new PodNetworkCheckError(id, 'bridge', `bridge ${this.bridge} is missing`);
    if (!br.up) throw new PodNetworkCheckError(id, 'bridge', `bridge ${this.bridge} is down`, 'Invalid');
    const hl = await host.linkFind(hostIf);
    if (!hl) throw new PodNetworkCheckError(id, 'hostInterface', `host interface ${hostIf} is missing`);
    if (hl.master !== br.index) throw new PodNetworkCheckError(id, 'hostInterface', `host interface ${hostIf} is not attached to bridge ${this.bridge}`, 'Invalid');
    if (!hl.up) throw new PodNetworkCheckError(id, 'hostInterface', `host interface ${hostIf} is down`, 'Invalid');
    const pl = await pod.linkFind(a.ifName);
    if (!pl) throw new PodNetworkCheckError(id, 'interface', `${a.ifName} is missing in ${a.netnsPath}`);
    if (pl.kind !== 'veth') throw new PodNetworkCheckError(id, 'interface', `${a.ifName} in ${a.netnsPath} is a ${pl.kind ?? 'physical'} device, not a veth`, 'Invalid');
    if (!pl.up) throw new PodNetworkCheckError(id, 'interface', `${a.ifName} in ${a.netnsPath} is down`, 'Invalid');
    if (pl.mtu !== this.mtu) throw new PodNetworkCheckError(id, 'mtu', `${a.ifName} has MTU ${pl.mtu}, expected ${this.mtu}`, 'Invalid');
    const addrs = await pod.addrList({ link: a.ifName, family: 'inet' });
    if (!addrs.some((x) => `${x.address}/${x.prefixLen}` === address)) {
      const have = addrs.map((x) => `${x.address}/${x.prefixLen}`).join(', ') || 'none';
      throw new PodNetworkCheckError(id, 'address', `${a.ifName} lacks ${address} (has ${have})`);
    }
    const routes = await pod.routeList({ family: 'inet' });
    const def = routes.find((r) => r.dst === 'default');
    if (!def) throw new PodNetworkCheckError(id, 'route', `no default route in ${a.netnsPath}`);
    if (def.gateway !== this.gateway || def.oif !== pl.index) {
      throw new PodNetworkCheckError(id, 'route', `default route is via ${def.gateway ?? 'no gateway'}, expected ${this.gateway} dev ${a.ifName}`, 'Invalid');
    }
  }

  private async attachedAsExpected(host: RtnetlinkClient, pod: RtnetlinkClient, a: PodNetworkAttachment, hostIf: string, address: string): Promise<boolean> {
    await this.verify(host, pod, a, hostIf, address);
    return true;
  }

  async check(a: PodNetworkAttachment): Promise<void> {
    this.validate(a);
    const ip = await this.ipam.findById(a.containerId, a.ifName);
    if (!ip) throw new PodNetworkCheckError(a.containerId, 'ipam', `no IP is allocated to ${a.containerId}/${a.ifName} in ${this.subnet}`);
    if (!existsSync(a.netnsPath)) throw new PodNetworkCheckError(a.containerId, 'netns', `network namespace ${a.netnsPath} does not exist`);
    const host = await this.hostClient();
    const pod = await RtnetlinkClient.open(a.netnsPath);
    try {
      await this.verify(host, pod, a, this.hostIfName(a.containerId), `${ip}/${this.prefix}`);
    } finally {
      pod.close();
    }
  }

  async del(a: PodNetworkAttachment): Promise<void> {
    if (!a.containerId) throw new InvalidError('pod network attachment is invalid: containerId is required');
    const host = await this.hostClient();
    const hostIf = this.hostIfName(a.containerId);
    // Deleting the host end removes the pod end too; with the namespace gone the pair is gone already.
    try {
      await host.linkDel(hostIf);
    } catch (e) {
      if (!isCode(e, 'NotFound')) throw e;
    }
    const ip = await this.ipam.release(a.containerId, a.ifName || 'eth0');
    this.log.debug({ containerId: a.containerId, ip, hostIf }, 'pod detached');
  }
}
