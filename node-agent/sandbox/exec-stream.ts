// A streaming exec: `<runtime> exec` with its stdio as pipes, so output reaches
// the caller as it is written and stdin flows in as it arrives (the buffered
// ContainerManager.exec holds everything until the command ends); with a tty,
// on a pseudo-terminal through script(1).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecRequest } from '../pod-runtime.js';
import type { OciRuntime } from '../runtime/index.js';

/** The runtime's own words when it could not start the command at all (exit 255). */
const EXEC_FAILED = /executable file .*not found|exec failed|no such file or directory|permission denied/i;

/** util-linux script(1): runs a command on a new pseudo-terminal and relays it over plain pipes. */
export const SCRIPT_BINARY = '/usr/bin/script';

/** A POSIX shell word for S. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line of an exec. With a tty, `<runtime> exec` runs under
 * script(1), which gives it a pseudo-terminal as stdio that the process in the
 * container inherits (`<runtime> exec --tty` would need a console socket to
 * pass the terminal's fd back, which node cannot receive); output then arrives
 * as a terminal writes it (CRLF, stdout and stderr merged), as with kubectl -t.
 */
export function execCommandLine(
  runtime: OciRuntime,
  id: string,
  command: string[],
  tty: boolean,
  pidFile?: string,
  processFile?: string,
): { file: string; args: string[] } {
  const argv = processFile
    ? [runtime.binary, ...runtime.globalArgs(), 'exec', '--process', processFile, ...(pidFile ? ['--pid-file', pidFile] : []), id]
    : [runtime.binary, ...runtime.globalArgs(), 'exec', ...(pidFile ? ['--pid-file', pidFile] : []), id, ...command];
  if (!tty) return { file: argv[0]!, args: argv.slice(1) };
  return { file: SCRIPT_BINARY, args: ['-qefc', argv.map(shellQuote).join(' '), '/dev/null'] };
}

/**
 * The OCI process of an exec in a container whose config.json is CONFIG: the
 * container's own process (user, groups, capabilities, no_new_privs, rlimits:
 * a command run by exec or an exec probe runs as the container does), with
 * the command, and a terminal when asked. Undefined when CONFIG cannot be read.
 */
export function execProcess(config: string, command: string[], tty: boolean): Record<string, unknown> | undefined {
  try {
    const spec = JSON.parse(readFileSync(config, 'utf8')) as { process?: Record<string, unknown> };
    if (!spec.process) return undefined;
    // With a tty the terminal is script(1)'s, inherited as stdio: the runtime allocates none.
    void tty;
    return { ...spec.process, args: command, terminal: false };
  } catch {
    return undefined;
  }
}

/** Runs REQ.command in container ID; resolves to its exit code (127/126 when it could not be started, as a shell says). */
export function execStreaming(runtime: OciRuntime, id: string, req: ExecRequest, opts: { bundleConfig?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    // The runtime writes the command's pid here: killing the runtime process alone
    // would leave the command running in the container when the caller goes away.
    const base = join(tmpdir(), `flotilla-exec-${randomBytes(8).toString('hex')}`);
    const pidFile = `${base}.pid`;
    const proc = opts.bundleConfig ? execProcess(opts.bundleConfig, req.command, req.tty === true) : undefined;
    const processFile = proc ? `${base}.process.json` : undefined;
    if (processFile) writeFileSync(processFile, JSON.stringify(proc), { mode: 0o600 });
    const cmd = execCommandLine(runtime, id, req.command, req.tty === true, pidFile, processFile);
    const child = spawn(cmd.file, cmd.args, {
      stdio: [req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdoutSeen = false;
    let stderrTail = '';
    // On a terminal the runtime's own error arrives on stdout with everything else.
    let ttyTail = '';
    child.stdout!.on('data', (b: Buffer) => {
      stdoutSeen = true;
      if (req.tty) ttyTail = (ttyTail + b.toString('utf8')).slice(-2000);
      req.onStdout(b);
    });
    child.stderr!.on('data', (b: Buffer) => {
      stderrTail = (stderrTail + b.toString('utf8')).slice(-2000);
      req.onStderr(b);
    });
    const onAbort = () => {
      try {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        if (pid > 1) process.kill(pid, 'SIGKILL');
      } catch {
        /* not started yet, or already gone */
      }
      child.kill('SIGKILL');
    };
    const cleanup = () =>
      Promise.all([rm(pidFile, { force: true }), ...(processFile ? [rm(processFile, { force: true })] : [])]).catch(() => undefined);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    if (req.stdin && child.stdin) {
      const sink = child.stdin;
      sink.on('error', () => undefined); // the command may exit before reading all of its input
      void (async () => {
        try {
          for await (const chunk of req.stdin!) {
            if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
          }
        } catch {
          /* the caller's stream failed: end stdin all the same */
        }
        sink.end();
      })();
    }
    child.on('error', (e) => {
      req.signal?.removeEventListener('abort', onAbort);
      void cleanup();
      reject(e);
    });
    child.on('close', (code, signal) => {
      req.signal?.removeEventListener('abort', onAbort);
      void cleanup();
      if (code === null) {
        resolve(128 + (signal ? signalNumber(signal) : 9));
        return;
      }
      const runtimeSaid = req.tty ? ttyTail : stdoutSeen ? '' : stderrTail;
      if (code === 255 && EXEC_FAILED.test(runtimeSaid)) {
        resolve(/not found|no such file/i.test(runtimeSaid) ? 127 : 126);
        return;
      }
      resolve(code);
    });
  });
}

function signalNumber(s: NodeJS.Signals): number {
  const n: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return n[s] ?? 9;
}
