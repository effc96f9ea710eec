// InterPodAffinity: `affinity.podAffinity` / `podAntiAffinity` against the pods
// already placed (bound or assumed). A topology domain is the set of nodes
// sharing the value of a term's topologyKey (kubernetes.io/hostname: one node).
// Filter (in Kubernetes' order, which decides the reason): every required
// affinity term needs a matching pod in the node's
// domain (or, for the first pod of a group, the pod matching its own terms
// when no pod anywhere does); no required anti-affinity term may have one; and
// no placed pod's required anti-affinity may match the incoming pod in its
// domain (symmetry). Score: preferred terms' weights of the matching pods per
// domain, the placed pods' preferred terms towards this pod too, min–max to 0..100.
import { labelSelectorFromObject, labelSelectorMatches, type Pod } from '../../../api/index.js';
import type { PodAffinityTerm } from '../../../api/kinds/pod-affinity.js';
import type { CycleState, Plugin } from '../framework.js';
import { MAX_NODE_SCORE, SKIP, SUCCESS, unschedulable } from '../framework.js';
import type { NodeInfo } from '../node-info.js';

export const INTER_POD_AFFINITY = 'InterPodAffinity';
export const REASON_AFFINITY = "node(s) didn't match pod affinity rules";
export const REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";

const STATE = 'InterPodAffinity/state';

/** `topologyKey\0value` */
type Domain = string;
const domain = (key: string, value: string): Domain => `${key}\u0000${value}`;

interface AffinityState {
  /** Per required affinity term: the domains holding a matching pod. */
  affinity: { term: PodAffinityTerm; domains: Set<Domain> }[];
  /** Whether any placed pod matches some required affinity term. */
  anyAffinityMatch: boolean;
  /** The pod matches its own required affinity terms (it may start a group). */
  selfMatch: boolean;
  anti: { term: PodAffinityTerm; domains: Set<Domain> }[];
  /** Domains where a placed pod's required anti-affinity forbids this pod. */
  existingAnti: Set<Domain>;
  existingAntiKeys: Set<string>;
  /** Preferred weights by domain. */
  scores: Map<Domain, number>;
  scoreKeys: Set<string>;
}

/** Whether `target` is selected by `term` written in a pod of namespace `ownerNs`. */
export function termMatches(term: PodAffinityTerm, ownerNs: string, target: Pod): boolean {
  const ns = target.metadata.namespace ?? 'default';
  const allNamespaces = term.namespaceSelector !== undefined && term.namespaceSelector !== null;
  const namespaces = term.namespaces ?? [];
  if (!allNamespaces && (namespaces.length > 0 ? !namespaces.includes(ns) : ns !== ownerNs)) return false;
  if (!term.labelSelector) return false; // a null selector matches no pod
  try {
    return labelSelectorMatches(labelSelectorFromObject(term.labelSelector), target.metadata.labels ?? {});
  } catch {
    return false;
  }
}

const required = (t: { requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] } | undefined) => t?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
const preferred = (t: { preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; podAffinityTerm: PodAffinityTerm }[] } | undefined) =>
  t?.preferredDuringSchedulingIgnoredDuringExecution ?? [];

function computeState(pod: Pod, nodes: readonly NodeInfo[]): AffinityState | undefined {
  const aff = pod.spec?.affinity;
  const ns = pod.metadata.namespace ?? 'default';
  const reqAff = required(aff?.podAffinity);
  const reqAnti = required(aff?.podAntiAffinity);
  const prefAff = preferred(aff?.podAffinity);
  const prefAnti = preferred(aff?.podAntiAffinity);
  const own = reqAff.length + reqAnti.length + prefAff.length + prefAnti.length > 0;
  const st: AffinityState = {
    affinity: reqAff.map((term) => ({ term, domains: new Set() })),
    anyAffinityMatch: false,
    selfMatch: reqAff.every((t) => termMatches(t, ns, pod)),
    anti: reqAnti.map((term) => ({ term, domains: new Set() })),
    existingAnti: new Set(),
    existingAntiKeys: new Set(),
    scores: new Map(),
    scoreKeys: new Set(),
  };
  let existing = false;
  const add = (key: string, value: string | undefined, w: number) => {
    if (value === undefined) return;
    const d = domain(key, value);
    st.scores.set(d, (st.scores.get(d) ?? 0) + w);
    st.scoreKeys.add(key);
  };
  for (const ni of nodes) {
    // without terms of its own, only placed pods with terms of theirs matter
    if (!own && ni.podsWithAffinity === 0) continue;
    const labels = ni.labels;
    for (const { pod: other, hasPodAffinity } of ni.pods.values()) {
      if (!own && !hasPodAffinity) continue;
      if (own) {
        for (const a of st.affinity) {
          if (!termMatches(a.term, ns, other)) continue;
          st.anyAffinityMatch = true;
          const v = labels[a.term.topologyKey];
          if (v !== undefined) a.domains.add(domain(a.term.topologyKey, v));
        }
        for (const a of st.anti) {
          const v = labels[a.term.topologyKey];
          if (v !== undefined && termMatches(a.term, ns, other)) a.domains.add(domain(a.term.topologyKey, v));
        }
        for (const w of prefAff) if (termMatches(w.podAffinityTerm, ns, other)) add(w.podAffinityTerm.topologyKey, labels[w.podAffinityTerm.topologyKey], w.weight);
        for (const w of prefAnti) if (termMatches(w.podAffinityTerm, ns, other)) add(w.podAffinityTerm.topologyKey, labels[w.podAffinityTerm.topologyKey], -w.weight);
      }
      const oa = other.spec?.affinity;
      if (!oa?.podAntiAffinity && !oa?.podAffinity) continue;
      existing = true;
      const ons = other.metadata.namespace ?? 'default';
      for (const t of required(oa.podAntiAffinity)) {
        const v = labels[t.topologyKey];
        if (v !== undefined && termMatches(t, ons, pod)) {
          st.existingAnti.add(domain(t.topologyKey, v));
          st.existingAntiKeys.add(t.topologyKey);
        }
      }
      for (const w of preferred(oa.podAffinity)) if (termMatches(w.podAffinityTerm, ons, pod)) add(w.podAffinityTerm.topologyKey, labels[w.podAffinityTerm.topologyKey], w.weight);
      for (const w of preferred(oa.podAntiAffinity)) if (termMatches(w.podAffinityTerm, ons, pod)) add(w.podAffinityTerm.topologyKey, labels[w.podAffinityTerm.topologyKey], -w.weight);
    }
  }
  return own || existing ? st : undefined;
}

const stateOf = (state: CycleState) => state.read<AffinityState>(STATE);

export function newInterPodAffinity(): Plugin {
  return {
    name: INTER_POD_AFFINITY,
    preFilter(state, pod, nodes) {
      const st = computeState(pod, nodes ?? []);
      state.write(STATE, st);
      const hasFilter = st && (st.affinity.length > 0 || st.anti.length > 0 || st.existingAnti.size > 0);
      return hasFilter ? SUCCESS : SKIP;
    },
    filter(state, _pod, ni) {
      const st = stateOf(state);
      if (!st) return SUCCESS;
      const labels = ni.labels;
      if (st.affinity.length > 0) {
        // the first pod of a group that selects itself may go anywhere its topology keys exist
        const firstOfGroup = !st.anyAffinityMatch && st.selfMatch;
        for (const a of st.affinity) {
          const v = labels[a.term.topologyKey];
          if (v === undefined) return unschedulable(REASON_AFFINITY);
          if (!firstOfGroup && !a.domains.has(domain(a.term.topologyKey, v))) return unschedulable(REASON_AFFINITY);
        }
      }
      for (const a of st.anti) {
        const v = labels[a.term.topologyKey];
        if (v !== undefined && a.domains.has(domain(a.term.topologyKey, v))) return unschedulable(REASON_ANTI_AFFINITY);
      }
      for (const key of st.existingAntiKeys) {
        const v = labels[key];
        if (v !== undefined && st.existingAnti.has(domain(key, v))) return unschedulable(REASON_EXISTING_ANTI_AFFINITY);
      }
      return SUCCESS;
    },
    preScore(state, pod, nodes) {
      // the scheduling cycle ran preFilter with every node; a direct scoring call may not have
      if (state.read(STATE) === undefined) state.write(STATE, computeState(pod, nodes));
    },
    score(state, _pod, ni) {
      const st = stateOf(state);
      if (!st || st.scores.size === 0) return 0;
      let s = 0;
      for (const key of st.scoreKeys) {
        const v = ni.labels[key];
        if (v !== undefined) s += st.scores.get(domain(key, v)) ?? 0;
      }
      return s;
    },
    normalizeScores(_state, _pod, scores) {
      let min = Infinity;
      let max = -Infinity;
      for (const s of scores) {
        if (s < min) min = s;
        if (s > max) max = s;
      }
      for (let i = 0; i < scores.length; i++) scores[i] = max === min ? 0 : Math.trunc((MAX_NODE_SCORE * (scores[i]! - min)) / (max - min));
    },
  };
}
