// The hollow runtime (control-plane scale tests) keeps the same PodRuntime
// contract as the real one, so the agent behaves the same on hollow nodes.
import { describe } from 'vitest';
import { HollowRuntime } from '../../node-agent/hollow-runtime.js';
import { podRuntimeConformance } from '../helpers/pod-runtime-conformance.js';

describe('[hollow runtime] the PodRuntime contract', () => {
  const runtime = new HollowRuntime();
  podRuntimeConformance(() => ({
    runtime,
    image: 'busybox',
    eventually: async (what, fn) => {
      const v = await fn();
      if (v === undefined || v === false) throw new Error(`hollow runtime: ${what} did not hold at once`);
      return v;
    },
  }));
});
