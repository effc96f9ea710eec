// The scheduler framework: what a plugin is, what a filter returns, and the
// per-cycle scratch space. Ideas from Kubernetes' scheduler framework, trimmed
// to what Flotilla needs: filters say yes/no with reasons, scorers rank the
// nodes that passed, 0..100, and a profile weighs them.
import type { Pod } from '../../api/index.js';
import type { NodeInfo } from './node-info.js';

export type StatusCode = 'Success' | 'Unschedulable' | 'UnschedulableAndUnresolvable' | 'Error' | 'Skip';

export interface Status {
  readonly code: StatusCode;
  /** User-facing reasons, counted per node in the FailedScheduling message. */
  readonly reasons: readonly string[];
  /** The plugin that returned it (set by the framework). */
  readonly plugin?: string;
}

/** The one Success status: filters return it on the hot path without allocating. */
export const SUCCESS: Status = Object.freeze({ code: 'Success', reasons: Object.freeze([]) as readonly string[] });

/**
 * From a preFilter: this plugin's filter has nothing to check for this pod (a pod
 * without host ports, node selector or node name), so it is not run on any node
 * this cycle — Kubernetes' PreFilter "Skip". Never a rejection.
 */
export const SKIP: Status = Object.freeze({ code: 'Skip', reasons: Object.freeze([]) as readonly string[] });

export function unschedulable(...reasons: string[]): Status {
  return { code: 'Unschedulable', reasons };
}

/** Fails in a way that only a change of the node (not of other pods) could fix. */
export function unresolvable(...reasons: string[]): Status {
  return { code: 'UnschedulableAndUnresolvable', reasons };
}

export function errorStatus(message: string): Status {
  return { code: 'Error', reasons: [message] };
}

export function isSuccess(s: Status | undefined): boolean {
  return s === undefined || s.code === 'Success';
}

export const MAX_NODE_SCORE = 100;
export const MIN_NODE_SCORE = 0;

/** Scratch space for one scheduling attempt: pre-computed facts about the pod. */
export class CycleState {
  private readonly data = new Map<string, unknown>();

  read<T>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }

  write(key: string, value: unknown): void {
    this.data.set(key, value);
  }
}

/**
 * A scheduling plugin. Every hook is optional; all are pure functions of
 * their arguments (no I/O), so plugins are table-tested in isolation.
 */
export interface Plugin {
  readonly name: string;
  /**
   * Computes per-pod facts once per cycle (`nodes`: every node of the cycle, for
   * facts about placed pods); SKIP leaves this plugin's filter out of the cycle;
   * any other non-success status rejects the pod on every node.
   */
  preFilter?(state: CycleState, pod: Pod, nodes?: readonly NodeInfo[]): Status | undefined;
  /** Can the pod run on this node? */
  filter?(state: CycleState, pod: Pod, nodeInfo: NodeInfo): Status;
  /** Computes per-pod scoring facts over the nodes that passed the filters. */
  preScore?(state: CycleState, pod: Pod, nodes: readonly NodeInfo[]): void;
  /** How good is this node, MIN_NODE_SCORE..MAX_NODE_SCORE (or a raw value that normalizeScores maps there). */
  score?(state: CycleState, pod: Pod, nodeInfo: NodeInfo): number;
  /** Maps the raw scores of all feasible nodes (in place) onto 0..100. */
  normalizeScores?(state: CycleState, pod: Pod, scores: number[]): void;
}

/** Plugin construction arguments, shared by every factory. */
export interface PluginArgs {
  /** Free-form per-plugin settings from the profile configuration. */
  settings?: Record<string, unknown>;
}

export type PluginFactory = (args: PluginArgs) => Plugin;

export interface WeightedScorer {
  plugin: Plugin;
  weight: number;
}

/** The plugins one scheduler runs, in order. */
export interface Profile {
  /** Pods with this spec.schedulerName (or none) are ours. */
  schedulerName: string;
  /** Every plugin with a preFilter hook, in order. */
  preFilters: Plugin[];
  /** Filters in order: the first that fails decides the node's reason. Cheap ones first. */
  filters: Plugin[];
  scorers: WeightedScorer[];
}
