// The OCI runtime driver: crun (default) or runc, run as processes with a
// `--root` of the agent's own, so Flotilla's containers never mix with anyone
// else's. Failures become typed errors carrying the runtime's own message.
import { spawn } from 'node:child_process';
import { InvalidError } from '../../api/index.js';
import { ContainerExistsError, ContainerNotFoundError, RuntimeCommandError } from './errors.js';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs a program to completion: the seam unit tests replace with a fake. */
export type CommandRunner = (file: string, args: string[], opts?: RunOptions) => Promise<CommandResult>;

export const runCommand: CommandRunner = (file, args, opts = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });

/** `state` as the runtime reports it. */
export interface OciState {
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused' | string;
  /** 0 once stopped. */
  pid: number;
  bundle: string;
  annotations?: Record<string, string>;
}

export interface ExecOptions {
  env?: string[];
  cwd?: string;
  tty?: boolean;
  input?: string | Buffer;
  timeoutMs?: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type OciRuntimeName = 'crun' | 'runc';

export interface OciRuntime {
  readonly name: OciRuntimeName;
  /** Absolute path of the runtime binary. */
  readonly binary: string;
  /** The runtime's state directory (`--root`). */
  readonly root: string;
  /** Global arguments before the verb (`--root=…`), also handed to a monitor that runs the runtime. */
  globalArgs(): string[];
  create(id: string, bundle: string, opts?: { pidFile?: string }): Promise<void>;
  start(id: string): Promise<void>;
  state(id: string): Promise<OciState>;
  list(): Promise<OciState[]>;
  kill(id: string, signal: NodeJS.Signals | number, opts?: { all?: boolean }): Promise<void>;
  delete(id: string, opts?: { force?: boolean }): Promise<void>;
  /** Runs ARGS in the running container; the process's exit code, not an error, when it fails. */
  exec(id: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
}

export const RUNTIME_BINARIES: Record<OciRuntimeName, string> = {
  crun: '/usr/bin/crun',
  runc: '/usr/sbin/runc',
};

export interface OciRuntimeOptions {
  /** `--root` of the runtime: under the agent's run dir. */
  root: string;
  /** Binary override (default /usr/bin/crun or /usr/sbin/runc). */
  binary?: string;
  run?: CommandRunner;
}

/** Undoes the quoting of a Go %q string as runc logs it. */
export function unescapeGo(s: string): string {
  return s.replace(/\\(["\\])/g, '$1');
}

/** The runtime's own one-line reason from its stderr (runc logs `time=… level=error msg="…"`). */
export function runtimeMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const msgs = lines.map((l) => {
    const m = /level=(?:error|fatal)\s+msg="((?:[^"\\]|\\.)*)"/.exec(l);
    if (m) return unescapeGo(m[1]!);
    return l.replace(/^(crun|runc):\s*/, '');
  });
  return msgs.filter((l) => !/^time=".*level=(?:warning|info|debug)/.test(l)).join('; ');
}

const NOT_FOUND = /does not exist|error opening file `[^`]*\/status`: No such file|cannot open directory|container not found/i;
const EXEC_FAILED = /executable file .*not found|exec failed|no such file or directory|permission denied/i;
const EXISTS = /already exists|exists already/i;

/** The typed error for a failed runtime command. */
export function runtimeError(runtime: string, op: string, id: string, r: CommandResult): Error {
  const msg = runtimeMessage(r.stderr) || runtimeMessage(r.stdout);
  if (op !== 'create' && NOT_FOUND.test(msg)) return new ContainerNotFoundError(id, msg);
  if (op === 'create' && EXISTS.test(msg)) return new ContainerExistsError(id, msg);
  return new RuntimeCommandError(runtime, op, msg, r.code);
}

function signalArg(signal: NodeJS.Signals | number): string {
  return typeof signal === 'number' ? String(signal) : signal.replace(/^SIG/, '');
}

/** crun and runc take the same command line for everything Flotilla uses. */
export class CliOciRuntime implements OciRuntime {
  readonly binary: string;
  readonly root: string;
  private readonly run: CommandRunner;

  constructor(
    readonly name: OciRuntimeName,
    opts: OciRuntimeOptions,
  ) {
    this.binary = opts.binary ?? RUNTIME_BINARIES[name];
    this.root = opts.root;
    this.run = opts.run ?? runCommand;
  }

  globalArgs(): string[] {
    return [`--root=${this.root}`];
  }

  private async call(op: string, id: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
    const r = await this.run(this.binary, [...this.globalArgs(), ...args], opts);
    if (r.code !== 0) throw runtimeError(this.name, op, id, r);
    return r;
  }

  async create(id: string, bundle: string, opts: { pidFile?: string } = {}): Promise<void> {
    const args = ['create', '--bundle', bundle];
    if (opts.pidFile) args.push('--pid-file', opts.pidFile);
    await this.call('create', id, [...args, id]);
  }

  async start(id: string): Promise<void> {
    await this.call('start', id, ['start', id]);
  }

  async state(id: string): Promise<OciState> {
    const r = await this.call('state', id, ['state', id]);
    return JSON.parse(r.stdout) as OciState;
  }

  async list(): Promise<OciState[]> {
    const r = await this.call('list', '', ['list', '--format', 'json']);
    const parsed = JSON.parse(r.stdout.trim() || '[]') as Array<OciState> | null;
    return (parsed ?? []).map((s) => ({ id: s.id, status: s.status, pid: s.pid, bundle: s.bundle, annotations: s.annotations }));
  }

  async kill(id: string, signal: NodeJS.Signals | number, opts: { all?: boolean } = {}): Promise<void> {
    const args = ['kill'];
    if (opts.all) args.push('--all');
    await this.call('kill', id, [...args, id, signalArg(signal)]);
  }

  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.call('delete', id, opts.force ? ['delete', '--force', id] : ['delete', id]);
  }

  async exec(id: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (args.length === 0) throw new InvalidError('exec needs a command');
    const a = ['exec'];
    if (opts.tty) a.push('--tty');
    if (opts.cwd) a.push('--cwd', opts.cwd);
    for (const e of opts.env ?? []) a.push('--env', e);
    const r = await this.run(this.binary, [...this.globalArgs(), ...a, id, ...args], { input: opts.input, timeoutMs: opts.timeoutMs });
    if (r.code === null) throw new RuntimeCommandError(this.name, 'exec', `killed by ${r.signal ?? 'a signal'}`, null);
    // The runtime itself could not start the process (exit 255 and its own error line):
    // report it as a shell would, 127 for a missing command, 126 for one that cannot run.
    if (r.code === 255 && r.stdout === '' && EXEC_FAILED.test(r.stderr)) {
      const msg = runtimeMessage(r.stderr);
      return { exitCode: /not found|no such file/i.test(msg) ? 127 : 126, stdout: '', stderr: `${msg}\n` };
    }
    return { exitCode: r.code, stdout: r.stdout, stderr: r.stderr };
  }
}

/** A runtime by name (`crun` is the default of the agent's `--runtime`). */
export function createOciRuntime(name: string, opts: OciRuntimeOptions): OciRuntime {
  if (name !== 'crun' && name !== 'runc') {
    throw new InvalidError(`unknown OCI runtime "${name}": use crun or runc`);
  }
  return new CliOciRuntime(name, opts);
}
