// A streaming exec: `<runtime> exec` with its stdio as pipes, so output reaches
// the caller as it is written and stdin flows in as it arrives (the buffered
// ContainerManager.exec holds everything until the command ends).
import { spawn } from 'node:child_process';
import type { ExecRequest } from '../pod-runtime.js';
import type { OciRuntime } from '../runtime/index.js';

/** The runtime's own words when it could not start the command at all (exit 255). */
const EXEC_FAILED = /executable file .*not found|exec failed|no such file or directory|permission denied/i;

/** Runs REQ.command in container ID; resolves to its exit code (127/126 when it could not be started, as a shell says). */
export function execStreaming(runtime: OciRuntime, id: string, req: ExecRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(runtime.binary, [...runtime.globalArgs(), 'exec', id, ...req.command], {
      stdio: [req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdoutSeen = false;
    let stderrTail = '';
    child.stdout!.on('data', (b: Buffer) => {
      stdoutSeen = true;
      req.onStdout(b);
    });
    child.stderr!.on('data', (b: Buffer) => {
      stderrTail = (stderrTail + b.toString('utf8')).slice(-2000);
      req.onStderr(b);
    });
    const onAbort = () => child.kill('SIGKILL');
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
      reject(e);
    });
    child.on('close', (code, signal) => {
      req.signal?.removeEventListener('abort', onAbort);
      if (code === null) {
        resolve(128 + (signal ? signalNumber(signal) : 9));
        return;
      }
      if (code === 255 && !stdoutSeen && EXEC_FAILED.test(stderrTail)) {
        resolve(/not found|no such file/i.test(stderrTail) ? 127 : 126);
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
