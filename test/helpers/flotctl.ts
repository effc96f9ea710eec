// Runs the compiled flotctl (dist/cli/main.js) as a user would, against a
// kubeconfig, and returns what it printed and its exit code.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './lab.js';

export const FLOTCTL = join(REPO_ROOT, 'dist/cli/main.js');

export interface FlotctlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function flotctl(kubeconfig: string, args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<FlotctlRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLOTCTL, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: kubeconfig, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Polls `fn` until it returns a value that is not undefined/false, or throws after `ms` with the last value seen. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000, everyMs = 250): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
