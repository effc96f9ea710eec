// SelectorSpread: spread pods that carry the same labels (in one namespace)
// across nodes — replicas of one workload should not share a node when
// another is as good. Raw score = how many such pods the node already has;
// normalised so the emptiest node gets 100 and the fullest 0.
import type { Plugin } from '../framework.js';
import { MAX_NODE_SCORE } from '../framework.js';
import { podInfoOf } from './pod-facts.js';

export const SELECTOR_SPREAD = 'SelectorSpread';

export function newSelectorSpread(): Plugin {
  return {
    name: SELECTOR_SPREAD,
    score(state, pod, nodeInfo) {
      const key = podInfoOf(state, pod).spreadKey;
      return key === undefined ? 0 : nodeInfo.spreadCount(key);
    },
    normalizeScores(_state, _pod, scores) {
      let max = 0;
      for (const s of scores) if (s > max) max = s;
      for (let i = 0; i < scores.length; i++) {
        scores[i] = max === 0 ? MAX_NODE_SCORE : Math.trunc((MAX_NODE_SCORE * (max - scores[i]!)) / max);
      }
    },
  };
}
