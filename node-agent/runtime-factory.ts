// Builds the real PodRuntime of a node: sandboxes (pinned netns + pause + pod
// network), containers on crun/runc under conmon, images from the content store.
// Checks the host first, so a missing binary or a cgroup layout crun refuses is
// one clear sentence at start-up instead of a failure at the first pod. Starts
// the node's pod network (subnet lease, VXLAN, bridge) unless told not to.
import { UnavailableError, toFlotillaError, type Logger } from '../api/index.js';
import type { HostPortMapper, PodNetwork } from '../netplugin/index.js';
import type { ControllerClient } from './controller-client.js';
import { startNodeNetwork, type NodeNetwork } from './network/node-network.js';
import { ControllerSubnetManager } from './network/subnet-client.js';
import { NodeRuntime } from './node-runtime.js';
import type { PodEventSink } from './pull-events.js';
import { runtimeHostProblems } from './runtime/index.js';

export interface NodeRuntimeFactoryOptions {
  client: ControllerClient;
  nodeName: string;
  nodeIP: string;
  stateDir: string;
  runDir: string;
  runtimeName: string;
  /** Registries spoken to over plain HTTP (`--insecure-registry HOST:PORT`). */
  insecureRegistries?: string[];
  /** `--registry-mirror REGISTRY=HOST:PORT`: where to pull REGISTRY's images from. */
  registryMirrors?: Record<string, string>;
  /** Absolute cgroup parent of this agent's pods (`--cgroup-parent`; default `/flotilla/<nodeName>`). */
  cgroupParent?: string;
  /**
   * Start the node's pod network (subnet lease through the controller, VXLAN
   * device and routes, bridge + host-local IPAM, masquerade); default true.
   * false (`--no-pod-network`): sandboxes get loopback only and the host's
   * network is not touched (development, or tests on a shared machine).
   */
  startPodNetwork?: boolean;
  /** A pod network to use instead of starting the node's (tests). */
  podNetwork?: PodNetwork;
  /** With `podNetwork`: the host port mapper to use (tests); otherwise the node network's. */
  hostPorts?: HostPortMapper;
  /** Pods' DNS: the kubelet's --cluster-dns and --cluster-domain (node-agent/sandbox/resolv-conf.ts). */
  dns?: { clusterDNS: string[]; clusterDomain: string };
  log: Logger;
}

export interface NodeRuntimeHandle {
  runtime: NodeRuntime;
  /** The node's pod subnet (its lease), when the pod network was started. */
  podCIDR?: string;
  /** The cluster's pod network (every node's subnet is in it), when the pod network was started. */
  clusterCIDR?: string;
  /** Stops what the factory started for the runtime (lease renewal, route watch); pods and their network are left running. */
  close(): Promise<void>;
}

export async function createNodeRuntime(o: NodeRuntimeFactoryOptions): Promise<NodeRuntimeHandle> {
  const problems = runtimeHostProblems(o.runtimeName);
  if (problems.length > 0) throw new UnavailableError(`this host cannot run containers: ${problems.join('; ')}`);
  let network: NodeNetwork | undefined;
  let podNetwork = o.podNetwork;
  let hostPorts = o.hostPorts;
  if (!podNetwork && (o.startPodNetwork ?? true)) {
    network = await startNodeNetwork({
      subnets: new ControllerSubnetManager(o.client),
      nodeName: o.nodeName,
      nodeIP: o.nodeIP,
      stateDir: o.stateDir,
      log: o.log,
    });
    podNetwork = network.podNetwork;
    hostPorts = network.hostPorts;
  }
  try {
    const runtime = await NodeRuntime.create({
      stateDir: o.stateDir,
      runDir: o.runDir,
      runtimeName: o.runtimeName,
      cgroupParent: o.cgroupParent ?? `/flotilla/${o.nodeName}`,
      insecureRegistries: o.insecureRegistries,
      registryMirrors: o.registryMirrors,
      podNetwork,
      hostPorts,
      events: controllerEventSink(o.client, o.log),
      ...(o.dns ? { dns: o.dns } : {}),
      log: o.log,
    });
    o.log.info(
      { runtime: o.runtimeName, podNetwork: network ? network.lease.subnet : podNetwork ? 'given' : 'loopback only' },
      'pod runtime ready',
    );
    return {
      runtime,
      ...(network ? { podCIDR: network.lease.subnet, clusterCIDR: network.config.network } : {}),
      close: async () => {
        await network?.stop();
      },
    };
  } catch (e) {
    await network?.stop().catch(() => undefined);
    throw e;
  }
}

/** The runtime's pod events (image pulls) as Events through the controller, as the agent records its own. */
export function controllerEventSink(client: Pick<ControllerClient, 'recordEvent'>, log: Logger): PodEventSink {
  return (pod, type, reason, message) =>
    client
      .recordEvent({
        involvedObject: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, apiVersion: 'v1' },
        reason,
        message,
        type,
      })
      .catch((e) => log.debug({ err: toFlotillaError(e).message }, 'event not recorded'));
}
