// The container monitor: conmon (as CRI-O and podman use it). conmon runs
// `<runtime> create`, holds the container's stdio, writes the log file in the
// CRI k8s-file format, reaps the container's init and writes its exit code to
// a file; it double-forks, so it outlives the agent that started it. The agent
// learns the container's pid (or why `create` failed) from the sync pipe
// (`_OCI_SYNCPIPE`, one JSON message `{"data": pid}` or `{"data": -1, "message": …}`),
// then runs `<runtime> start` itself.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { RuntimeCommandError } from './errors.js';
import { unescapeGo, type OciRuntime } from './oci-runtime.js';

export const CONMON_BINARY = '/usr/bin/conmon';

export interface MonitorCreateInput {
  id: string;
  /** Bundle directory with config.json; the monitor's files go there too. */
  bundle: string;
  logPath: string;
  /** conmon rotates (truncates) the log file beyond this size; -1 = unlimited. */
  logSizeMax?: number;
  /** Directory of exit files, one per container id. */
  exitDir: string;
  /** Directory of conmon's attach sockets (one subdirectory per container). */
  socketDir: string;
  runtime: OciRuntime;
  timeoutMs?: number;
}

export interface MonitorFiles {
  /** conmon's own pid. */
  conmonPidFile: string;
  /** The container init's pid, written by the runtime. */
  containerPidFile: string;
  /** Exit code of the container, written by conmon when it reaps it. */
  exitFile: string;
  /** Written by conmon when it saw an OOM event for the container's cgroup. */
  oomFile: string;
  /** conmon's stderr (its own errors). */
  monitorLog: string;
}

export function monitorFiles(bundle: string, exitDir: string, id: string): MonitorFiles {
  return {
    conmonPidFile: join(bundle, 'conmon.pid'),
    containerPidFile: join(bundle, 'pidfile'),
    exitFile: join(exitDir, id),
    oomFile: join(bundle, 'persist', 'oom'),
    monitorLog: join(bundle, 'conmon.log'),
  };
}

/** conmon's command line for one container. */
export function conmonArgs(input: MonitorCreateInput): string[] {
  const f = monitorFiles(input.bundle, input.exitDir, input.id);
  const args = [
    '--api-version', '1',
    '-c', input.id,
    '-u', input.id,
    '-n', input.id,
    '-r', input.runtime.binary,
    '-b', input.bundle,
    '-p', f.containerPidFile,
    '-P', f.conmonPidFile,
    '-l', `k8s-file:${input.logPath}`,
    '--log-size-max', String(input.logSizeMax ?? -1),
    '--exit-dir', input.exitDir,
    '--persist-dir', join(input.bundle, 'persist'),
    '--socket-dir-path', input.socketDir,
    '--log-level', 'error',
  ];
  for (const a of input.runtime.globalArgs()) args.push('--runtime-arg', a);
  return args;
}

/**
 * Creates the container under a new conmon and returns the container's init
 * pid. The container is `created`, not started. Throws RuntimeCommandError with
 * the runtime's message when `create` fails.
 */
export async function createUnderConmon(input: MonitorCreateInput, binary = CONMON_BINARY): Promise<{ pid: number }> {
  const f = monitorFiles(input.bundle, input.exitDir, input.id);
  fs.mkdirSync(input.exitDir, { recursive: true });
  fs.mkdirSync(input.socketDir, { recursive: true });
  fs.mkdirSync(join(input.bundle, 'persist'), { recursive: true });
  const errFd = fs.openSync(f.monitorLog, 'a');
  let child;
  try {
    child = spawn(binary, conmonArgs(input), {
      stdio: ['ignore', errFd, errFd, 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3' },
      // conmon also drops an `oom` marker in its working directory: keep it in the bundle.
      cwd: input.bundle,
      detached: true,
    });
  } finally {
    fs.closeSync(errFd);
  }
  const sync = child.stdio[3] as Readable;
  child.unref();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.on('error', () => undefined);

  const message = await new Promise<{ data: number; message?: string } | undefined>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new RuntimeCommandError('conmon', 'create', `no answer within ${input.timeoutMs ?? 30_000} ms`, null)), input.timeoutMs ?? 30_000);
    const finish = (v: { data: number; message?: string } | undefined) => {
      clearTimeout(timer);
      sync.removeAllListeners('data');
      resolve(v);
    };
    sync.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        try {
          finish(JSON.parse(buf.slice(0, nl)) as { data: number; message?: string });
        } catch {
          finish(undefined);
        }
      }
    });
    sync.on('end', () => finish(undefined));
    sync.on('error', () => finish(undefined));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new RuntimeCommandError('conmon', 'create', e.message, null));
    });
  });
  // conmon keeps its end open until the container exits; ours must not keep the agent alive.
  (sync as unknown as { unref?: () => void }).unref?.();
  sync.on('end', () => sync.destroy());

  if (!message || message.data <= 0) {
    const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
    let detail = message?.message?.trim() ?? '';
    if (!detail) {
      try {
        detail = fs.readFileSync(f.monitorLog, 'utf8').trim().split('\n').slice(-3).join('; ');
      } catch {
        /* no log */
      }
    }
    throw new RuntimeCommandError(input.runtime.name, 'create', cleanRuntimeMessage(detail) || 'the monitor exited before the container was created', code);
  }
  return { pid: message.data };
}

/** conmon prefixes the runtime's error with the runtime's path; keep the runtime's own words. */
export function cleanRuntimeMessage(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => unescapeGo(l.replace(/^(\/\S+\/)?(crun|runc):\s*/, '').replace(/^time="[^"]*"\s+level=\w+\s+msg="(.*)"$/, '$1')))
    .join('; ');
}

/** The exit code conmon recorded, or undefined while the container has not exited. */
export function readExitCode(exitFile: string): { code: number; at: number } | undefined {
  try {
    const text = fs.readFileSync(exitFile, 'utf8').trim();
    if (text === '') return undefined;
    const code = Number(text);
    if (!Number.isInteger(code)) return undefined;
    return { code, at: fs.statSync(exitFile).mtimeMs };
  } catch {
    return undefined;
  }
}

/** The pid in a pid file, when that process is still alive (a zombie waiting for its reaper counts as dead). */
export function livePid(pidFile: string, comm?: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state …`; comm may itself hold parentheses, so split at the last one.
  const close = stat.lastIndexOf(')');
  const name = stat.slice(stat.indexOf('(') + 1, close);
  const state = stat.slice(close + 2, close + 3);
  if (state === 'Z' || state === 'X') return undefined;
  // A recycled pid belongs to another program: check its name when we know it.
  if (comm && name !== comm) return undefined;
  return pid;
}
