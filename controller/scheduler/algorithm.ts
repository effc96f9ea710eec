// One scheduling decision, pure: run the filters over the nodes, score the
// feasible ones, pick the best (ties broken by injected randomness), or explain
// why no node fits with Kubernetes' counted message. No I/O, no clock.
import type { Pod } from '../../api/index.js';
import { CycleState, isSuccess, type Plugin, type Profile, type Status } from './framework.js';
import type { NodeInfo } from './node-info.js';

export const NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

export interface ScheduleSuccess {
  ok: true;
  nodeName: string;
  /** Nodes the filters ran on (may be fewer than all: see percentageOfNodesToScore). */
  evaluatedNodes: number;
  feasibleNodes: number;
}

export interface ScheduleFailure {
  ok: false;
  numAllNodes: number;
  /** Why each rejected node was rejected, by node name. */
  nodeStatuses: Map<string, Status>;
  /** The FailedScheduling message (`0/3 nodes are available: …`). */
  message: string;
}

export type ScheduleResult = ScheduleSuccess | ScheduleFailure;

/**
 * `0/N nodes are available: <count> <reason>, ….` — each node contributes each
 * of its reasons once; reasons are sorted by their text (byte order), as the
 * Kubernetes scheduler prints them.
 */
export function fitErrorMessage(numAllNodes: number, statuses: Iterable<Status>): string {
  if (numAllNodes === 0) return NO_NODES_AVAILABLE;
  const counts = new Map<string, number>();
  for (const s of statuses) {
    for (const r of s.reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  const reasons = [...counts.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = reasons.map((r) => `${counts.get(r)} ${r}`);
  return `0/${numAllNodes} nodes are available${parts.length ? ': ' + parts.join(', ') : ''}.`;
}

/**
 * How many feasible nodes to find before scoring, as Kubernetes does: all of
 * them below 100 nodes; otherwise a percentage (adaptive when 0: 50% minus
 * one point per 125 nodes, at least 5%), never fewer than 100.
 */
export function numFeasibleNodesToFind(numAllNodes: number, percentageOfNodesToScore = 0): number {
  if (numAllNodes < 100 || percentageOfNodesToScore >= 100) return numAllNodes;
  let pct = percentageOfNodesToScore;
  if (pct <= 0) {
    pct = 50 - numAllNodes / 125;
    if (pct < 5) pct = 5;
  }
  const n = Math.floor((numAllNodes * pct) / 100);
  return n < 100 ? 100 : n;
}

export interface AlgorithmOptions {
  /** Uniform in [0, 1): breaks ties between equally scored nodes. */
  random: () => number;
  /** 0 = adaptive (Kubernetes' default); 100 = always filter and score every node. */
  percentageOfNodesToScore?: number;
}

export class SchedulingAlgorithm {
  /** Where the next search starts, so successive pods look at different nodes first. */
  private nextStartNodeIndex = 0;

  constructor(
    private readonly profile: Profile,
    private readonly opts: AlgorithmOptions,
  ) {}

  /** Runs the filters in order; the first failure decides the node's status. */
  runFilters(state: CycleState, pod: Pod, nodeInfo: NodeInfo, filters: readonly Plugin[] = this.profile.filters): Status | undefined {
    for (const f of filters) {
      const s = f.filter!(state, pod, nodeInfo);
      if (s.code !== 'Success') return s.plugin === undefined ? { ...s, plugin: f.name } : s;
    }
    return undefined;
  }

  schedule(pod: Pod, nodes: readonly NodeInfo[]): ScheduleResult {
    const n = nodes.length;
    const state = new CycleState();
    const nodeStatuses = new Map<string, Status>();
    if (n === 0) return { ok: false, numAllNodes: 0, nodeStatuses, message: NO_NODES_AVAILABLE };

    let skipped: Set<string> | undefined;
    for (const p of this.profile.preFilters) {
      const s = p.preFilter!(state, pod, nodes);
      if (s?.code === 'Skip') {
        (skipped ??= new Set()).add(p.name);
        continue;
      }
      if (!isSuccess(s)) {
        for (const ni of nodes) nodeStatuses.set(ni.name, s!);
        return { ok: false, numAllNodes: n, nodeStatuses, message: fitErrorMessage(n, [s!]) };
      }
    }

    // Filters with nothing to check for this pod are left out of the whole cycle.
    const filters = skipped ? this.profile.filters.filter((f) => !skipped!.has(f.name)) : this.profile.filters;
    const want = numFeasibleNodesToFind(n, this.opts.percentageOfNodesToScore ?? 0);
    const feasible: NodeInfo[] = [];
    const start = this.nextStartNodeIndex % n;
    let processed = 0;
    for (; processed < n && feasible.length < want; processed++) {
      const ni = nodes[(start + processed) % n]!;
      const s = this.runFilters(state, pod, ni, filters);
      if (s === undefined) feasible.push(ni);
      else nodeStatuses.set(ni.name, s);
    }
    this.nextStartNodeIndex = (start + processed) % n;

    if (feasible.length === 0) {
      return { ok: false, numAllNodes: n, nodeStatuses, message: fitErrorMessage(n, nodeStatuses.values()) };
    }
    if (feasible.length === 1) {
      return { ok: true, nodeName: feasible[0]!.name, evaluatedNodes: processed, feasibleNodes: 1 };
    }
    const totals = this.scoreNodes(state, pod, feasible);
    return { ok: true, nodeName: this.selectHost(feasible, totals), evaluatedNodes: processed, feasibleNodes: feasible.length };
  }

  /** Weighted sum of every scorer's (normalised) score, per feasible node. */
  scoreNodes(state: CycleState, pod: Pod, feasible: readonly NodeInfo[]): number[] {
    const totals = new Array<number>(feasible.length).fill(0);
    const scores = new Array<number>(feasible.length);
    for (const { plugin, weight } of this.profile.scorers) {
      plugin.preScore?.(state, pod, feasible);
      for (let i = 0; i < feasible.length; i++) scores[i] = plugin.score!(state, pod, feasible[i]!);
      plugin.normalizeScores?.(state, pod, scores);
      for (let i = 0; i < feasible.length; i++) totals[i]! += scores[i]! * weight;
    }
    return totals;
  }

  /** The highest total; among equals, one picked with the injected randomness. */
  selectHost(feasible: readonly NodeInfo[], totals: readonly number[]): string {
    let best = -Infinity;
    let ties: number[] = [];
    for (let i = 0; i < totals.length; i++) {
      const t = totals[i]!;
      if (t > best) {
        best = t;
        ties = [i];
      } else if (t === best) ties.push(i);
    }
    const pick = ties.length === 1 ? ties[0]! : ties[Math.min(ties.length - 1, Math.floor(this.opts.random() * ties.length))]!;
    return feasible[pick]!.name;
  }
}
