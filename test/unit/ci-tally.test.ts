// hack/test-tally.mjs, the "N passed, M failed" line .ci/run ends with: fed
// vitest JSON results shaped as `vitest run --reporter=json` writes them, it
// counts only tests that ran and passed as passed, names everything else, and
// exits non-zero when anything failed or did not run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TALLY = join(REPO, 'hack', 'test-tally.mjs');
const dir = mkdtempSync(join(tmpdir(), 'ci-tally-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Status = 'passed' | 'failed' | 'skipped' | 'pending' | 'todo';
interface Case {
  title: string;
  status: Status;
  ancestorTitles?: string[];
  failureMessages?: string[];
}
interface FileResult {
  name: string;
  status: 'passed' | 'failed';
  message?: string;
  tests: Case[];
}

// A vitest JSON result with the fields vitest 4 writes (the counts the way its
// JsonReporter computes them: skipped and todo tests are neither passed nor failed).
function result(files: FileResult[]): object {
  const all = files.flatMap((f) => f.tests);
  return {
    numTotalTestSuites: files.length,
    numPassedTestSuites: files.filter((f) => f.status === 'passed').length,
    numFailedTestSuites: files.filter((f) => f.status === 'failed').length,
    numPendingTestSuites: 0,
    numTotalTests: all.length,
    numPassedTests: all.filter((t) => t.status === 'passed').length,
    numFailedTests: all.filter((t) => t.status === 'failed').length,
    numPendingTests: all.filter((t) => t.status === 'skipped' || t.status === 'pending').length,
    numTodoTests: all.filter((t) => t.status === 'todo').length,
    snapshot: {},
    startTime: 1_700_000_000_000,
    success: files.every((f) => f.status === 'passed'),
    testResults: files.map((f) => ({
      assertionResults: f.tests.map((t) => ({
        ancestorTitles: t.ancestorTitles ?? [],
        fullName: [...(t.ancestorTitles ?? []), t.title].join(' '),
        status: t.status,
        title: t.title,
        duration: t.status === 'passed' || t.status === 'failed' ? 3 : undefined,
        failureMessages: t.failureMessages ?? [],
        meta: {},
        tags: [],
      })),
      startTime: 1_700_000_000_000,
      endTime: 1_700_000_000_010,
      status: f.status,
      message: f.message ?? '',
      name: join(REPO, f.name),
    })),
  };
}

let n = 0;
function runTally(json: object | string | undefined, vitestExit?: number): { out: string[]; status: number | null } {
  const file = join(dir, `result-${n++}.json`);
  if (json !== undefined) writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
  const args = [TALLY, file, ...(vitestExit === undefined ? [] : [String(vitestExit)])];
  const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return { out: r.stdout.trimEnd().split('\n'), status: r.status };
}

describe('[ci] test tally (hack/test-tally.mjs)', () => {
  it('a run where every test passed: "N passed, 0 failed", exit 0, nothing else printed', () => {
    const r = runTally(
      result([
        { name: 'test/unit/a.test.ts', status: 'passed', tests: [{ title: 'adds', status: 'passed' }] },
        {
          name: 'test/unit/b.test.ts',
          status: 'passed',
          tests: [
            { title: 'one', status: 'passed', ancestorTitles: ['[b]'] },
            { title: 'two', status: 'passed', ancestorTitles: ['[b]'] },
          ],
        },
      ]),
      0,
    );
    expect(r.out).toEqual(['3 passed, 0 failed']);
    expect(r.status).toBe(0);
  });

  it('a suite whose beforeAll threw: its skipped tests count as failed and are named', () => {
    const r = runTally(
      result([
        { name: 'test/unit/a.test.ts', status: 'passed', tests: [{ title: 'adds', status: 'passed' }] },
        {
          name: 'test/integration/store-etcd.test.ts',
          status: 'failed',
          tests: [
            { title: 'writes a key', status: 'skipped', ancestorTitles: ['[store] etcd'] },
            { title: 'reads a key', status: 'skipped', ancestorTitles: ['[store] etcd'] },
          ],
        },
      ]),
      1,
    );
    expect(r.out).toEqual([
      'did not run (skipped, its file failed): test/integration/store-etcd.test.ts > [store] etcd > writes a key',
      'did not run (skipped, its file failed): test/integration/store-etcd.test.ts > [store] etcd > reads a key',
      '1 passed, 2 failed',
    ]);
    expect(r.status).toBe(1);
  });

  it('a file that failed to import, with no test results, counts as one failure with its message', () => {
    const r = runTally(
      result([
        { name: 'test/unit/a.test.ts', status: 'passed', tests: [{ title: 'adds', status: 'passed' }] },
        {
          name: 'test/unit/broken.test.ts',
          status: 'failed',
          message: "Cannot find module '../../api/gone.js' imported from test/unit/broken.test.ts\nstack line",
          tests: [],
        },
      ]),
      1,
    );
    expect(r.out).toEqual([
      "file failed, no test ran: test/unit/broken.test.ts — Cannot find module '../../api/gone.js' imported from test/unit/broken.test.ts",
      '1 passed, 1 failed',
    ]);
    expect(r.status).toBe(1);
  });

  it('an it.skip / ctx.skip() / todo test fails the tally even though vitest exited 0', () => {
    const r = runTally(
      result([
        {
          name: 'test/unit/a.test.ts',
          status: 'passed',
          tests: [
            { title: 'runs', status: 'passed' },
            { title: 'is skipped', status: 'skipped' },
            { title: 'needs root', status: 'skipped', ancestorTitles: ['skipIf(!root)'] },
            { title: 'later', status: 'todo' },
          ],
        },
      ]),
      0,
    );
    expect(r.out).toEqual([
      'did not run (skipped): test/unit/a.test.ts > is skipped',
      'did not run (skipped): test/unit/a.test.ts > skipIf(!root) > needs root',
      'did not run (todo): test/unit/a.test.ts > later',
      '1 passed, 3 failed',
    ]);
    expect(r.status).toBe(1);
  });

  it('a failed test is named with the first line of its failure', () => {
    const r = runTally(
      result([
        {
          name: 'test/unit/a.test.ts',
          status: 'failed',
          tests: [
            { title: 'passes', status: 'passed' },
            {
              title: 'fails',
              status: 'failed',
              ancestorTitles: ['[a]'],
              failureMessages: ['AssertionError: expected 1 to be 2 // Object.is equality\n    at a.test.ts:3:36'],
            },
          ],
        },
      ]),
      1,
    );
    expect(r.out).toEqual([
      'failed: test/unit/a.test.ts > [a] > fails — AssertionError: expected 1 to be 2 // Object.is equality',
      '1 passed, 1 failed',
    ]);
    expect(r.status).toBe(1);
  });

  it('a file that failed although its tests passed (an afterAll threw) counts once', () => {
    const r = runTally(
      result([
        {
          name: 'test/unit/a.test.ts',
          status: 'failed',
          message: 'cleanup broke',
          tests: [{ title: 'works', status: 'passed' }],
        },
      ]),
      1,
    );
    expect(r.out).toEqual(['file failed after its tests passed: test/unit/a.test.ts — cleanup broke', '1 passed, 1 failed']);
    expect(r.status).toBe(1);
  });

  it('vitest exiting non-zero with an all-green result (an unhandled error) is not "0 failed"', () => {
    const green = result([{ name: 'test/unit/a.test.ts', status: 'passed', tests: [{ title: 'adds', status: 'passed' }] }]);
    const r = runTally(green, 1);
    expect(r.out).toEqual([
      'vitest exited 1 although every test in the result passed (an unhandled error? see the log above)',
      '1 passed, 1 failed',
    ]);
    expect(r.status).toBe(1);
    // Without the exit code (the script run by hand) the same result is green.
    expect(runTally(green)).toEqual({ out: ['1 passed, 0 failed'], status: 0 });
  });

  it('no result file, an unreadable one, or a run of no test file counts as a failure', () => {
    const missing = runTally(undefined, 1);
    expect(missing.out[0]).toMatch(/^no vitest result in .*result-\d+\.json \(no such file\): the suite did not run to the end$/);
    expect(missing.out.slice(1)).toEqual(['0 passed, 1 failed']);
    expect(missing.status).toBe(1);

    const truncated = runTally('{"numTotalTests": 3, "testRes', 1);
    expect(truncated.out[0]).toMatch(/^no vitest result in .*\(.*JSON.*\): the suite did not run to the end$/);
    expect(truncated.out.slice(1)).toEqual(['0 passed, 1 failed']);
    expect(truncated.status).toBe(1);

    expect(runTally(result([]), 0)).toEqual({ out: ['no test file ran', '0 passed, 1 failed'], status: 1 });
  });
});
