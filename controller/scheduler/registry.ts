// The explicit plugin registry: name → factory. Nothing registers itself on
// import; a profile names the plugins it runs and their score weights.
import { InvalidError } from '../../api/index.js';
import type { Plugin, PluginFactory, Profile, WeightedScorer } from './framework.js';
import { newBalancedAllocation, BALANCED_ALLOCATION } from './plugins/balanced-allocation.js';
import { newLeastAllocated, LEAST_ALLOCATED } from './plugins/least-allocated.js';
import { newInterPodAffinity, INTER_POD_AFFINITY } from './plugins/inter-pod-affinity.js';
import { newNodeAffinity, NODE_AFFINITY } from './plugins/node-affinity.js';
import { newNodeName, NODE_NAME } from './plugins/node-name.js';
import { newNodePorts, NODE_PORTS } from './plugins/node-ports.js';
import { newNodeResourcesFit, NODE_RESOURCES_FIT } from './plugins/node-resources-fit.js';
import { newNodeSelector, NODE_SELECTOR } from './plugins/node-selector.js';
import { newNodeUnschedulable, NODE_UNSCHEDULABLE } from './plugins/node-unschedulable.js';
import { newSelectorSpread, SELECTOR_SPREAD } from './plugins/selector-spread.js';
import { newTaintToleration, TAINT_TOLERATION } from './plugins/taint-toleration.js';

export type Registry = ReadonlyMap<string, PluginFactory>;

export function defaultRegistry(): Registry {
  return new Map<string, PluginFactory>([
    [NODE_NAME, newNodeName],
    [NODE_SELECTOR, newNodeSelector],
    [NODE_AFFINITY, newNodeAffinity],
    [INTER_POD_AFFINITY, newInterPodAffinity],
    [NODE_UNSCHEDULABLE, newNodeUnschedulable],
    [TAINT_TOLERATION, newTaintToleration],
    [NODE_RESOURCES_FIT, newNodeResourcesFit],
    [NODE_PORTS, newNodePorts],
    [LEAST_ALLOCATED, newLeastAllocated],
    [BALANCED_ALLOCATION, newBalancedAllocation],
    [SELECTOR_SPREAD, newSelectorSpread],
  ]);
}

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

export interface ProfileConfig {
  schedulerName?: string;
  /** Filter plugin names, in the order they run (cheap and decisive first). */
  filters: string[];
  scores: { name: string; weight: number }[];
  /** Per-plugin settings handed to the factories. */
  settings?: Record<string, Record<string, unknown>>;
}

export const DEFAULT_PROFILE: ProfileConfig = {
  schedulerName: DEFAULT_SCHEDULER_NAME,
  filters: [NODE_UNSCHEDULABLE, NODE_NAME, TAINT_TOLERATION, NODE_AFFINITY, NODE_PORTS, NODE_RESOURCES_FIT, INTER_POD_AFFINITY],
  scores: [
    { name: LEAST_ALLOCATED, weight: 1 },
    { name: BALANCED_ALLOCATION, weight: 1 },
    { name: SELECTOR_SPREAD, weight: 2 },
    { name: TAINT_TOLERATION, weight: 3 },
    { name: NODE_AFFINITY, weight: 2 },
    { name: INTER_POD_AFFINITY, weight: 2 },
  ],
};

/** Builds a profile; one plugin instance per name. InvalidError on unknown names or hooks. */
export function buildProfile(config: ProfileConfig = DEFAULT_PROFILE, registry: Registry = defaultRegistry()): Profile {
  const instances = new Map<string, Plugin>();
  const instance = (name: string): Plugin => {
    let p = instances.get(name);
    if (p) return p;
    const factory = registry.get(name);
    if (!factory) throw new InvalidError(`unknown scheduler plugin "${name}"`);
    const settings = config.settings?.[name];
    p = factory(settings ? { settings } : {});
    instances.set(name, p);
    return p;
  };
  const filters = config.filters.map((n) => {
    const p = instance(n);
    if (!p.filter) throw new InvalidError(`scheduler plugin "${n}" has no filter`);
    return p;
  });
  const scorers: WeightedScorer[] = config.scores.map(({ name, weight }) => {
    const p = instance(name);
    if (!p.score) throw new InvalidError(`scheduler plugin "${name}" has no score`);
    if (!(weight > 0)) throw new InvalidError(`scheduler plugin "${name}" needs a positive weight`);
    return { plugin: p, weight };
  });
  const preFilters = [...instances.values()].filter((p) => p.preFilter);
  return { schedulerName: config.schedulerName ?? DEFAULT_SCHEDULER_NAME, preFilters, filters, scorers };
}
