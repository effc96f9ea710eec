// Builds the real PodRuntime of a node: sandboxes (pinned netns + pause + pod
// network), containers on crun/runc under conmon, images from the content store.
import { NotSupportedError, type Logger } from '../api/index.js';
import type { ControllerClient } from './controller-client.js';
import type { PodRuntime } from './pod-runtime.js';

export interface NodeRuntimeOptions {
  client: ControllerClient;
  nodeName: string;
  nodeIP: string;
  stateDir: string;
  runDir: string;
  runtimeName: string;
  log: Logger;
}

export async function createNodeRuntime(o: NodeRuntimeOptions): Promise<PodRuntime> {
  void o;
  throw new NotSupportedError('the real pod runtime is not wired into the agent yet: only --hollow nodes can run (issue [6/8])');
}
