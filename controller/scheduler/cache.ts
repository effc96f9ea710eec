// The scheduler's cache: one NodeInfo per node, fed from the node and pod
// watches, plus pods the scheduler has *assumed* onto a node before the
// binding is visible in the watch — so the next pod already sees the
// resources as taken and a burst of pods never oversubscribes a node.
import type { Node, Pod } from '../../api/index.js';
import { NodeInfo, SpreadKeys, computePodInfo, podKey, type PodInfo } from './node-info.js';

interface PodPlacement {
  nodeName: string;
  /** Placed by this scheduler; not yet confirmed by a watch event. */
  assumed: boolean;
}

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly placements = new Map<string, PodPlacement>();
  /** The label sets of the placed pods, interned for spreading (this cache's own: it shrinks as pods go). */
  readonly spreadKeys = new SpreadKeys();
  /** Nodes with a Node object, in the order they arrived; rebuilt when nodes come or go. */
  private list: NodeInfo[] | undefined;

  /** Every node the scheduler may consider (those with a Node object). */
  nodeInfos(): readonly NodeInfo[] {
    if (!this.list) this.list = [...this.nodes.values()].filter((ni) => ni.node !== undefined);
    return this.list;
  }

  nodeInfo(name: string): NodeInfo | undefined {
    return this.nodes.get(name);
  }

  get nodeCount(): number {
    return this.nodeInfos().length;
  }

  get podCount(): number {
    return this.placements.size;
  }

  addOrUpdateNode(node: Node): void {
    const name = node.metadata.name ?? '';
    const ni = this.nodes.get(name);
    if (ni) {
      if (ni.node === undefined) this.list = undefined;
      ni.setNode(node);
    } else {
      this.nodes.set(name, new NodeInfo(name, node, this.spreadKeys));
      this.list = undefined;
    }
  }

  removeNode(name: string): void {
    const ni = this.nodes.get(name);
    if (!ni) return;
    // Pods still bound to it keep a node-less NodeInfo until they go too.
    if (ni.podCount === 0) this.nodes.delete(name);
    else ni.node = undefined;
    this.list = undefined;
  }

  /** Names of all nodes the cache holds a Node object for. */
  nodeNames(): string[] {
    return this.nodeInfos().map((ni) => ni.name);
  }

  /** A pod bound to a node (from the watch): counts on that node, confirming an assumption. */
  addOrUpdateBoundPod(pod: Pod): void {
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) return;
    const key = podKey(pod);
    const prev = this.placements.get(key);
    if (prev && prev.nodeName === nodeName) {
      // Most updates of a bound pod are its status. Its requests and host ports can
      // never change (the API refuses such updates), so unless it is another pod of
      // the same name or its labels (spreading) changed, it is only confirmed.
      const pi = this.nodes.get(nodeName)?.pods.get(key);
      if (pi && pi.pod.metadata.uid === pod.metadata.uid && sameLabels(pi.pod.metadata.labels, pod.metadata.labels)) {
        pi.pod = pod;
        prev.assumed = false;
        return;
      }
    }
    if (prev && prev.nodeName !== nodeName) this.removeFromNode(key, prev.nodeName);
    this.placeOn(nodeName, computePodInfo(pod));
    this.placements.set(key, { nodeName, assumed: false });
  }

  /** Counts `pod` on `nodeName` right away, before its binding is written. */
  assumePod(pod: Pod, nodeName: string): PodInfo {
    const key = podKey(pod);
    const prev = this.placements.get(key);
    if (prev) this.removeFromNode(key, prev.nodeName);
    const pi = computePodInfo(pod);
    this.placeOn(nodeName, pi);
    this.placements.set(key, { nodeName, assumed: true });
    return pi;
  }

  /** Drops an assumption whose binding failed. Confirmed pods are left alone. */
  forgetPod(key: string): void {
    const p = this.placements.get(key);
    if (!p?.assumed) return;
    this.removePod(key);
  }

  isAssumed(key: string): boolean {
    return this.placements.get(key)?.assumed === true;
  }

  isPlaced(key: string): boolean {
    return this.placements.has(key);
  }

  /** A pod that was deleted or finished: its resources are free again. */
  removePod(key: string): void {
    const p = this.placements.get(key);
    if (!p) return;
    this.placements.delete(key);
    this.removeFromNode(key, p.nodeName);
  }

  /** Keys of every placed pod (for reconciling after a relist). */
  podKeys(): string[] {
    return [...this.placements.keys()];
  }

  private placeOn(nodeName: string, pi: PodInfo): void {
    let ni = this.nodes.get(nodeName);
    if (!ni) {
      ni = new NodeInfo(nodeName, undefined, this.spreadKeys);
      this.nodes.set(nodeName, ni);
    }
    ni.addPod(pi);
  }

  private removeFromNode(key: string, nodeName: string): void {
    const ni = this.nodes.get(nodeName);
    if (!ni) return;
    ni.removePod(key);
    if (ni.node === undefined && ni.podCount === 0) this.nodes.delete(nodeName);
  }
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === b) return true;
  const ka = a ? Object.keys(a) : [];
  const kb = b ? Object.keys(b) : [];
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (a![k] !== b?.[k]) return false;
  return true;
}
