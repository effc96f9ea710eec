// The tally .ci/run ends with: "N passed, M failed" from vitest's JSON result
// (hack/test.sh writes it to $TEST_RESULTS).
//
// Only a test that ran and passed counts as passed. Everything else counts as
// failed and is named (file > describe > test) so a reader sees what did not run:
//   - a failed test;
//   - a test that did not run: skipped (it.skip, describe.skipIf, ctx.skip(), or
//     every test of a suite whose beforeAll threw), todo, or still pending;
//   - a file that failed with no test results (it failed to import, or has no tests);
//   - a file that failed although all its tests passed (an afterAll threw);
//   - a run with no test file at all, or no result file (vitest never finished);
//   - vitest exiting non-zero although the result shows no failure (an unhandled
//     error, for one), when its exit code is given.
// The exit status is 1 when anything counts as failed, else 0.
//
// Usage: node hack/test-tally.mjs RESULTS.json [VITEST_EXIT_CODE]
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const firstLine = (s) => {
  const line = String(s ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
  const t = line.trim();
  return t.length > 200 ? `${t.slice(0, 197)}...` : t;
};

/**
 * Tallies a parsed vitest JSON result.
 * @param {any} result the parsed JSON (vitest --reporter=json)
 * @param {{ root?: string, vitestExit?: number }} [opts] root: paths are printed
 *   relative to it; vitestExit: vitest's exit code, if known
 * @returns {{ passed: number, failed: number, lines: string[], exitCode: number }}
 *   lines: one per failed or not-run item, then the "N passed, M failed" line
 */
export function tally(result, opts = {}) {
  const root = opts.root ?? process.cwd();
  const name = (file) => {
    const abs = resolve(root, String(file ?? '?'));
    const rel = relative(root, abs);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
  };
  const lines = [];
  let passed = 0;
  let failed = 0;
  const files = [...(Array.isArray(result?.testResults) ? result.testResults : [])].sort((a, b) =>
    String(a.name).localeCompare(String(b.name)),
  );
  for (const file of files) {
    const fname = name(file.name);
    const tests = Array.isArray(file.assertionResults) ? file.assertionResults : [];
    let notGreen = 0;
    for (const t of tests) {
      const title = [fname, ...(t.ancestorTitles ?? []), t.title ?? t.fullName ?? '?'].join(' > ');
      if (t.status === 'passed') {
        passed++;
        continue;
      }
      failed++;
      notGreen++;
      if (t.status === 'failed') {
        const why = firstLine((t.failureMessages ?? [])[0]);
        lines.push(`failed: ${title}${why ? ` — ${why}` : ''}`);
      } else {
        const inFailed = file.status === 'failed' ? ', its file failed' : '';
        lines.push(`did not run (${t.status ?? 'unknown'}${inFailed}): ${title}`);
      }
    }
    if (file.status !== 'passed' && notGreen === 0) {
      // No test of the file shows the failure: the file itself counts.
      failed++;
      const why = firstLine(file.message) || 'a hook failed (see the log above)';
      lines.push(
        tests.length === 0
          ? `file failed, no test ran: ${fname} — ${why}`
          : `file failed after its tests passed: ${fname} — ${why}`,
      );
    }
  }
  if (files.length === 0) {
    failed++;
    lines.push('no test file ran');
  }
  const exit = opts.vitestExit;
  if (exit !== undefined && exit !== 0 && failed === 0) {
    failed++;
    lines.push(`vitest exited ${exit} although every test in the result passed (an unhandled error? see the log above)`);
  }
  lines.push(`${passed} passed, ${failed} failed`);
  return { passed, failed, lines, exitCode: failed > 0 ? 1 : 0 };
}

function main(argv) {
  const [file, exitArg] = argv;
  if (!file) {
    console.error('usage: node hack/test-tally.mjs RESULTS.json [VITEST_EXIT_CODE]');
    return 2;
  }
  const vitestExit = exitArg === undefined || exitArg === '' ? undefined : Number(exitArg);
  let result;
  try {
    result = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const why = e?.code === 'ENOENT' ? 'no such file' : firstLine(e?.message);
    console.log(`no vitest result in ${file} (${why}): the suite did not run to the end`);
    console.log('0 passed, 1 failed');
    return 1;
  }
  const t = tally(result, { vitestExit: Number.isFinite(vitestExit) ? vitestExit : undefined });
  for (const l of t.lines) console.log(l);
  return t.exitCode;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
