// netplugin's SubnetManager as the agent sees it: every call goes through the
// controller (agents never talk to etcd).
import type { LeaseAttrs, LeaseWatchResult, NetworkConfig, SubnetLease, SubnetManager } from '../../netplugin/index.js';
import type { ControllerClient } from '../controller-client.js';

export class ControllerSubnetManager implements SubnetManager {
  private attrs?: LeaseAttrs;

  constructor(private readonly client: ControllerClient) {}

  getNetworkConfig(): Promise<NetworkConfig> {
    return this.client.getNetworkConfig();
  }

  async acquireLease(nodeName: string, attrs: LeaseAttrs): Promise<SubnetLease> {
    if (nodeName !== this.client.nodeName) throw new Error(`this agent is node "${this.client.nodeName}", not "${nodeName}"`);
    this.attrs = attrs;
    return this.client.acquireSubnetLease(attrs);
  }

  async renewLease(lease: SubnetLease): Promise<SubnetLease> {
    const attrs = this.attrs ?? { publicIP: lease.publicIP, backend: lease.backend };
    return this.client.acquireSubnetLease(attrs, true);
  }

  async releaseLease(): Promise<void> {
    // Leases are released by the controller when the node is deleted.
  }

  watchLeases(signal: AbortSignal): AsyncIterable<LeaseWatchResult> {
    return this.client.watchSubnetLeases(signal);
  }
}
