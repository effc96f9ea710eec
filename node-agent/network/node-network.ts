// The node's pod network, started by the agent: finds the underlay interface
// carrying the node IP, makes the VXLAN device (its MAC goes into the lease),
// acquires this node's subnet lease (same node → same subnet after a restart),
// keeps it renewed, feeds the lease watch into the VXLAN backend, reconciles
// the kernel on a timer, sets up masquerade and hands back the bridge
// PodNetwork for the subnet. Stopping leaves the kernel state in place, so pod
// traffic goes on across an agent restart.
import { join } from 'node:path';
import { componentLogger, FlotillaError, NotFoundError, realClock, type Clock, type Logger, type Timer } from '../../api/index.js';
import {
  BridgePodNetwork,
  HostPortMapper,
  Masquerade,
  RtnetlinkClient,
  validateNetworkConfig,
  VxlanNetwork,
  vxlanBackend,
  type NetworkConfig,
  type PodNetwork,
  type SubnetLease,
  type SubnetManager,
} from '../../netplugin/index.js';

export interface NodeNetworkOptions {
  subnets: SubnetManager;
  nodeName: string;
  /** The node's underlay IP: the VTEP address peers send to. */
  nodeIP: string;
  /** Where the VTEP MAC and the IPAM allocations live. */
  stateDir: string;
  log: Logger;
  clock?: Clock;
  /** Period of the kernel reconcile; default 10 s. */
  reconcileMs?: number;
  /** Pin path of the host namespace; default the agent's own (tests drive lab hosts from one process). */
  netns?: string;
  /** Bridge name; default cni0. */
  bridge?: string;
  /** Pod → outside masquerade via iptables; default on. */
  masquerade?: boolean;
  /** How long start-up waits for the first lease snapshot to be programmed; default 10 s. */
  leaseSyncTimeoutMs?: number;
}

export interface NodeNetwork {
  podNetwork: PodNetwork;
  /** Pods' host ports: our nftables table in the host namespace. */
  hostPorts: HostPortMapper;
  lease: SubnetLease;
  config: NetworkConfig;
  stop(): Promise<void>;
}

/** The network name under which IPAM allocations are kept (the same as flotilla-cni's default). */
export const POD_NETWORK_NAME = 'flotilla';

export async function startNodeNetwork(o: NodeNetworkOptions): Promise<NodeNetwork> {
  const log = componentLogger('node-network', o.log);
  const clock = o.clock ?? realClock;
  const config = await o.subnets.getNetworkConfig();
  validateNetworkConfig(config);
  const host = await RtnetlinkClient.open(o.netns ?? null);
  const cleanup: (() => Promise<void> | void)[] = [() => host.close()];
  try {
    const addr = (await host.addrList({ family: 'inet' })).find((a) => a.address === o.nodeIP);
    if (!addr) throw new NotFoundError(`no interface carries the node IP ${o.nodeIP}${o.netns ? ` in ${o.netns}` : ''}`, { nodeIP: o.nodeIP });
    const underlay = await host.linkGet(addr.index);
    // The host forwards between the bridge and the VXLAN device; a new namespace starts with 0.
    host.sysctlWrite('net.ipv4.ip_forward', 1);
    host.sysctlWrite(`net/ipv4/conf/${underlay.name}/rp_filter`, 2);

    const vxlan = await VxlanNetwork.create({
      host,
      device: { vni: config.backend.vni, port: config.backend.port, localIP: o.nodeIP, underlay: underlay.index, stateDir: o.stateDir },
      log: componentLogger('vxlan', o.log),
      clock,
      reconcileMs: o.reconcileMs,
    });
    cleanup.push(() => vxlan.stop());
    let lease = await o.subnets.acquireLease(o.nodeName, { publicIP: o.nodeIP, backend: vxlanBackend(vxlan.device.mac) });
    log.info({ subnet: lease.subnet, vtepMAC: vxlan.device.mac, underlay: underlay.name, mtu: vxlan.device.mtu }, 'subnet lease acquired');
    await vxlan.setSubnet(lease.subnet);

    if (o.masquerade ?? true) {
      await new Masquerade({ clusterCidr: config.network, subnet: lease.subnet, netns: o.netns ?? null }).ensure();
    }

    // Renewal at half the remaining time; a lease the controller no longer knows is re-acquired.
    let stopped = false;
    let renewTimer: Timer | undefined;
    const scheduleRenew = (ms: number) => {
      if (!stopped) renewTimer = clock.setTimeout(renew, ms);
    };
    const renew = () => {
      const attempt = async () => {
        try {
          lease = await o.subnets.renewLease(lease);
        } catch (e) {
          if (!(e instanceof FlotillaError && e.code === 'NotFound')) throw e;
          const again = await o.subnets.acquireLease(o.nodeName, { publicIP: o.nodeIP, backend: vxlanBackend(vxlan.device.mac) });
          if (again.subnet !== lease.subnet) {
            log.error({ had: lease.subnet, got: again.subnet }, 'subnet lease was lost and re-acquired with another subnet: pods keep their old IPs until restarted');
          }
          lease = again;
        }
      };
      attempt()
        .then(() => scheduleRenew(Math.max(1000, (lease.expiration - clock.now()) / 2)))
        .catch((e: unknown) => {
          log.warn({ err: e }, 'subnet lease renewal failed: retrying');
          scheduleRenew(5000);
        });
    };
    scheduleRenew(Math.max(1000, (lease.expiration - clock.now()) / 2));
    cleanup.push(() => {
      stopped = true;
      renewTimer?.cancel();
    });

    const abort = new AbortController();
    const watching = vxlan.run((s) => o.subnets.watchLeases(s), abort.signal);
    cleanup.push(async () => {
      abort.abort();
      await watching;
    });
    vxlan.startReconcile();
    // Pods started before the routes to the other nodes exist could not answer
    // them: wait for the first lease snapshot to be in the kernel (bounded, so a
    // slow controller delays the node by seconds at most; the watch carries on).
    const syncWait = o.leaseSyncTimeoutMs ?? 10_000;
    const waitDone = new AbortController();
    const inSync = await Promise.race([vxlan.synced.then(() => true), clock.sleep(syncWait, waitDone.signal).then(() => false, () => false)]);
    waitDone.abort();
    if (!inSync) log.warn({ waitedMs: syncWait }, 'the other nodes\' subnet leases are not in the kernel yet: going on, the lease watch will add them');

    const podNetwork = new BridgePodNetwork({
      bridge: o.bridge,
      subnet: lease.subnet,
      mtu: vxlan.device.mtu,
      ipamDir: join(o.stateDir, 'ipam', POD_NETWORK_NAME),
      hostNetns: o.netns ?? null,
      log: componentLogger('podnet', o.log),
    });
    cleanup.push(() => podNetwork.close());

    const hostPorts = new HostPortMapper({ netns: o.netns ?? null, podSubnet: lease.subnet, log: componentLogger('hostport', o.log) });
    // The host port table is kernel state too: rewritten on the reconcile period, so a lost rule comes back.
    let hostPortTimer: Timer | undefined;
    let hostPortsStopped = false;
    const resyncHostPorts = () => {
      hostPortTimer = clock.setTimeout(() => {
        hostPorts
          .resync()
          .catch((e: unknown) => log.warn({ err: e }, 'host port table re-check failed'))
          .finally(() => {
            if (!hostPortsStopped) resyncHostPorts();
          });
      }, o.reconcileMs ?? 10_000);
    };
    resyncHostPorts();
    cleanup.push(() => {
      hostPortsStopped = true;
      hostPortTimer?.cancel();
    });

    return {
      podNetwork,
      hostPorts,
      get lease() {
        return lease;
      },
      config,
      async stop() {
        for (const c of cleanup.splice(0).reverse()) await c();
      },
    };
  } catch (e) {
    for (const c of cleanup.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
    throw e;
  }
}
