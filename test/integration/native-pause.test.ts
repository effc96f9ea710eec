// pause, the PID 1 of every sandbox: exits 0 on SIGTERM/SIGINT and reaps the
// orphans that land on it inside its PID namespace.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pausePath } from '../../native/index.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const SUITE = 'pause tests';
const started: ChildProcess[] = [];

beforeAll(() => {
  requireRoot(SUITE);
  requireBinaries(SUITE, 'unshare', 'nsenter');
});

afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function exitOf(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
  return new Promise((resolve) => c.once('exit', (code, signal) => resolve({ code, signal })));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** State letter of a process (R, S, Z, …), or undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Processes whose parent is `pid` (scanning /proc: a reparented orphan is not always in .../children). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('[pause] signals', () => {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`[pause] exits 0 on ${sig}`, async () => {
      const c = spawn(pausePath(), [], { stdio: 'ignore' });
      started.push(c);
      await sleep(100);
      expect(c.exitCode).toBeNull();
      c.kill(sig);
      expect(await exitOf(c)).toEqual({ code: 0, signal: null });
    });
  }

  it('[pause] keeps running after a stray SIGCHLD with nothing to reap', async () => {
    const c = spawn(pausePath(), [], { stdio: 'ignore' });
    started.push(c);
    await sleep(50);
    c.kill('SIGCHLD');
    await sleep(50);
    expect(c.exitCode).toBeNull();
    c.kill('SIGTERM');
    expect((await exitOf(c)).code).toBe(0);
  });
});

describe('[pause] as PID 1 of a PID namespace', () => {
  it('[pause] reaps an orphan that was reparented to it, and still exits 0 on SIGTERM from outside', async () => {
    const u = spawn('unshare', ['--pid', '--fork', pausePath()], { stdio: 'ignore' });
    started.push(u);
    const pausePid = await waitFor('pause to start', () => childrenOf(u.pid!)[0]);
    // nsenter's child runs in the namespace and exits at once, leaving its
    // `sleep` behind: the orphan is reparented to the namespace's init, pause.
    execFileSync('nsenter', ['--target', String(pausePid), '--pid', '--', 'sh', '-c', 'sleep 0.7 & exit 0'], {
      stdio: 'ignore', // the orphan must not hold a pipe we would wait on
    });
    const orphan = await waitFor('the orphan to be reparented to pause', () => childrenOf(pausePid)[0]);
    expect(readFileSync(`/proc/${orphan}/cmdline`, 'utf8')).toMatch(/^sleep/);
    // after sleep exits it must not linger as a zombie
    await waitFor('the orphan to be reaped', () => procState(orphan) === undefined || undefined, 5000);
    expect(childrenOf(pausePid)).toEqual([]);

    process.kill(pausePid, 'SIGTERM');
    expect(await exitOf(u)).toEqual({ code: 0, signal: null });
  });
});
