// The pod being scheduled, pre-computed once per cycle and shared by plugins.
import type { Pod } from '../../../api/index.js';
import type { CycleState } from '../framework.js';
import { computePodInfo, type PodInfo } from '../node-info.js';

const POD_INFO = 'framework/podInfo';

/** The PodInfo of `pod` for this cycle, computed on first use. */
export function podInfoOf(state: CycleState, pod: Pod): PodInfo {
  let pi = state.read<PodInfo>(POD_INFO);
  if (pi === undefined || pi.pod !== pod) {
    pi = computePodInfo(pod);
    state.write(POD_INFO, pi);
  }
  return pi;
}
