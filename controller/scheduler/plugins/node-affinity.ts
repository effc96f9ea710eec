// NodeAffinity: the pod's spec.nodeSelector and its required node affinity
// (node selector terms ORed, requirements ANDed: matchExpressions on labels,
// matchFields on metadata.name) must match the node; preferred terms add their
// weight to the node's score. As Kubernetes' NodeAffinity plugin, which also
// carries nodeSelector. The matching is exported: the daemonset controller
// decides which nodes run a daemon pod with the same rules.
import type { Node, Pod } from '../../../api/index.js';
import type { NodeSelectorRequirement, NodeSelectorTerm } from '../../../api/kinds/pod-affinity.js';
import type { Plugin } from '../framework.js';
import { MAX_NODE_SCORE, SKIP, SUCCESS, unresolvable } from '../framework.js';

export const NODE_AFFINITY = 'NodeAffinity';
export const REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";

/** What a node is matched on: its name and labels. */
export interface NodeFacts {
  name: string;
  labels: Readonly<Record<string, string>>;
}

export function nodeFacts(node: Node): NodeFacts {
  return { name: node.metadata.name ?? '', labels: node.metadata.labels ?? {} };
}

const INTEGER = /^-?[0-9]+$/;

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || !INTEGER.test(value) || values.length !== 1 || !INTEGER.test(values[0]!)) return false;
      const a = BigInt(value);
      const b = BigInt(values[0]!);
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** One term: every expression on the labels and every field requirement (metadata.name) holds; an empty term matches nothing. */
export function nodeSelectorTermMatches(term: NodeSelectorTerm | undefined, node: NodeFacts): boolean {
  const exprs = term?.matchExpressions ?? [];
  const fields = term?.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const r of exprs) if (!requirementMatches(r, Object.prototype.hasOwnProperty.call(node.labels, r.key) ? node.labels[r.key] : undefined)) return false;
  for (const r of fields) if (!requirementMatches(r, r.key === 'metadata.name' ? node.name : undefined)) return false;
  return true;
}

/** spec.nodeSelector and the required node affinity of `pod` both match `node` (Kubernetes' RequiredNodeAffinity.Match). */
export function podMatchesNodeSelectorAndAffinity(pod: Pod, node: NodeFacts): boolean {
  const sel = pod.spec?.nodeSelector;
  if (sel) for (const k in sel) if (node.labels[k] !== sel[k]) return false;
  const req = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req) return (req.nodeSelectorTerms ?? []).some((t) => nodeSelectorTermMatches(t, node));
  return true;
}

/** Sum of the weights of the preferred terms that match. */
export function preferredNodeAffinityScore(pod: Pod, node: NodeFacts): number {
  let s = 0;
  for (const p of pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    if (nodeSelectorTermMatches(p.preference, node)) s += p.weight ?? 0;
  }
  return s;
}

function hasRequirements(pod: Pod): boolean {
  const sel = pod.spec?.nodeSelector;
  return (!!sel && Object.keys(sel).length > 0) || !!pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
}

export function newNodeAffinity(): Plugin {
  return {
    name: NODE_AFFINITY,
    preFilter(_state, pod) {
      return hasRequirements(pod) ? SUCCESS : SKIP;
    },
    filter(_state, pod, nodeInfo) {
      if (!hasRequirements(pod)) return SUCCESS;
      return podMatchesNodeSelectorAndAffinity(pod, { name: nodeInfo.name, labels: nodeInfo.labels }) ? SUCCESS : unresolvable(REASON_NODE_AFFINITY);
    },
    score(_state, pod, nodeInfo) {
      return preferredNodeAffinityScore(pod, { name: nodeInfo.name, labels: nodeInfo.labels });
    },
    normalizeScores(_state, _pod, scores) {
      // Kubernetes' DefaultNormalizeScore: the best node gets 100.
      let max = 0;
      for (const s of scores) if (s > max) max = s;
      for (let i = 0; i < scores.length; i++) scores[i] = max === 0 ? 0 : Math.trunc((MAX_NODE_SCORE * scores[i]!) / max);
    },
  };
}
