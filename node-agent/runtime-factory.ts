// Builds the real PodRuntime of a node: sandboxes (pinned netns + pause + pod
// network), containers on crun/runc under conmon, images from the content store.
// Checks the host first, so a missing binary or a cgroup layout crun refuses is
// one clear sentence at start-up instead of a failure at the first pod.
import { UnavailableError, type Logger } from '../api/index.js';
import type { PodNetwork } from '../netplugin/index.js';
import type { ControllerClient } from './controller-client.js';
import { NodeRuntime } from './node-runtime.js';
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
  /** Absolute cgroup parent of this agent's pods (`--cgroup-parent`; default `/flotilla/<nodeName>`). */
  cgroupParent?: string;
  /**
   * The pod network (bridge + host-local IPAM + VXLAN routes) the agent's
   * network layer started; absent: sandboxes get loopback only.
   */
  podNetwork?: PodNetwork;
  log: Logger;
}

export interface NodeRuntimeHandle {
  runtime: NodeRuntime;
  /** Stops what the factory started for the runtime; running pods are left running. */
  close(): Promise<void>;
}

export async function createNodeRuntime(o: NodeRuntimeFactoryOptions): Promise<NodeRuntimeHandle> {
  const problems = runtimeHostProblems(o.runtimeName);
  if (problems.length > 0) throw new UnavailableError(`this host cannot run containers: ${problems.join('; ')}`);
  const runtime = await NodeRuntime.create({
    stateDir: o.stateDir,
    runDir: o.runDir,
    runtimeName: o.runtimeName,
    cgroupParent: o.cgroupParent ?? `/flotilla/${o.nodeName}`,
    insecureRegistries: o.insecureRegistries,
    podNetwork: o.podNetwork,
    log: o.log,
  });
  o.log.info({ runtime: o.runtimeName, podNetwork: o.podNetwork ? 'given' : 'loopback only' }, 'pod runtime ready');
  return { runtime, close: async () => undefined };
}
