#!/usr/bin/env bash
# From a fresh clone to the whole suite: dependencies, npm ci, build, tests.
#
# Usage: hack/test.sh                 # everything (as root)
#        TEST_ARGS="--project unit" hack/test.sh
# The vitest JSON result goes to $TEST_RESULTS for .ci/run to summarise.
set -euo pipefail
cd "$(dirname "$0")/.."

# Where vitest writes its JSON result.
TEST_RESULTS=${TEST_RESULTS:-$PWD/.test-results.json}
# Extra arguments for vitest (a project, a file filter, ...).
TEST_ARGS=${TEST_ARGS:-}
# Skip the apt step (already provisioned machines).
SKIP_DEPS=${SKIP_DEPS:-0}

if [ "$SKIP_DEPS" != 1 ]; then
  ./hack/deps.sh
fi
echo "test: npm ci"
npm ci --no-fund --no-audit --loglevel=error
echo "test: npm run build"
npm run -s build
rm -f "$TEST_RESULTS"
echo "test: vitest"
# shellcheck disable=SC2086
npx vitest run --reporter=default --reporter=json --outputFile.json="$TEST_RESULTS" $TEST_ARGS
