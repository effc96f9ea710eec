// SelectorSpread: spread pods that carry the same labels (in one namespace)
// across nodes — replicas of one workload should not share a node when
// another is as good. Raw score = how many such pods the node already has;
// normalised so the emptiest node gets 100 and the fullest 0.
import type { Pod } from '../../../api/index.js';
import type { CycleState, Plugin } from '../framework.js';
import { MAX_NODE_SCORE } from '../framework.js';
import type { NodeInfo, SpreadKeys } from '../node-info.js';
import { podInfoOf } from './pod-facts.js';

export const SELECTOR_SPREAD = 'SelectorSpread';

const SPREAD_ID = 'SelectorSpread/id';

/**
 * The spread id of the pod being scheduled in the nodes' table, looked up once
 * per cycle (a cache's nodes share one table; standalone NodeInfos may not).
 */
function spreadIdOf(state: CycleState, pod: Pod, nodeInfo: NodeInfo): number | undefined {
  const sig = podInfoOf(state, pod).spreadSignature;
  if (sig === undefined) return undefined;
  const memo = state.read<{ table: SpreadKeys; id: number | undefined }>(SPREAD_ID);
  if (memo?.table === nodeInfo.spreadKeys) return memo.id;
  const id = nodeInfo.spreadKeys.lookup(sig);
  state.write(SPREAD_ID, { table: nodeInfo.spreadKeys, id });
  return id;
}

export function newSelectorSpread(): Plugin {
  return {
    name: SELECTOR_SPREAD,
    score(state, pod, nodeInfo) {
      const id = spreadIdOf(state, pod, nodeInfo);
      return id === undefined ? 0 : nodeInfo.spreadCount(id);
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
