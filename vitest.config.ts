import { defineConfig } from 'vitest/config';

// Three suites, as the design asks:
//   unit         pure logic, no root, no binaries, runs in parallel
//   integration  root: real etcd, namespaces, crun; one file at a time (shared kernel state)
//   e2e          a lab cluster of network-namespace hosts; one file at a time
// The suites run one after the other (sequence.groupOrder): a lab cluster and the
// integration suites must not share the machine's two cores or its kernel state.
// Suites that need root or a binary check for it in test/helpers/require.ts and fail loudly.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          sequence: { groupOrder: 2 },
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
