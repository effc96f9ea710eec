// Containers of this node: a bundle per container under the agent's run dir,
// created by the OCI runtime under conmon, started, observed, stopped, exec'd
// into and removed. Everything needed to find a container again lives on disk
// (`<runDir>/containers/<id>/meta.json`, the runtime's state under its own
// `--root`, conmon's exit file), so a restarted agent re-adopts its containers
// by reading them back: nothing is held only in memory.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { componentLogger, InternalError, realClock, type Clock, type Logger } from '../../api/index.js';
import type { CgroupManager } from './cgroups.js';
import { ContainerExistsError, ContainerNotFoundError, ContainerNotRunningError, RuntimeCommandError } from './errors.js';
import { readContainerLogs, type LogLine, type ReadLogsOptions } from './logs.js';
import { createUnderConmon, livePid, monitorFiles, readExitCode } from './monitor.js';
import type { ExecOptions, ExecResult, OciRuntime } from './oci-runtime.js';
import type { OciSpec } from './spec.js';

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerStatus {
  id: string;
  state: ContainerState;
  /** Init pid while running. */
  pid?: number;
  exitCode?: number;
  /** Completed, Error or OOMKilled once exited. */
  reason?: 'Completed' | 'Error' | 'OOMKilled';
  message?: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** The labels given at create (pod uid, container name, spec hash, restart count…). */
  labels: Record<string, string>;
  logPath: string;
  cgroupsPath: string;
  runtime: string;
}

export interface CreateContainerInput {
  /** Generated (64 hex digits) when absent. */
  id?: string;
  spec: OciSpec;
  logPath: string;
  labels?: Record<string, string>;
  /** Log file rotation size in bytes; unlimited when absent. */
  logSizeMax?: number;
}

export interface ContainerMeta {
  id: string;
  runtime: string;
  logPath: string;
  cgroupsPath: string;
  labels: Record<string, string>;
  createdAt: number;
  startedAt?: number;
}

interface FinalStatus {
  exitCode: number;
  reason: 'Completed' | 'Error' | 'OOMKilled';
  finishedAt: number;
  message?: string;
}

export interface ContainerManagerOptions {
  /** The agent's run dir: bundles go to `<runDir>/containers`, the runtime's state to the runtime's own root. */
  runDir: string;
  /** Runtime of new containers. */
  runtime: OciRuntime;
  /** Other runtimes whose containers may still be on disk (from before a `--runtime` change). */
  otherRuntimes?: OciRuntime[];
  cgroups: CgroupManager;
  clock?: Clock;
  log?: Logger;
  conmonBinary?: string;
}

/** The exit code the kubelet reports for an OOM-killed container (128 + SIGKILL). */
export const OOM_EXIT_CODE = 137;

export class ContainerManager {
  readonly runtime: OciRuntime;
  private readonly otherRuntimes: OciRuntime[];
  private readonly dir: string;
  private readonly exitDir: string;
  private readonly socketDir: string;
  private readonly cgroups: CgroupManager;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly conmonBinary: string | undefined;

  constructor(opts: ContainerManagerOptions) {
    this.runtime = opts.runtime;
    this.otherRuntimes = opts.otherRuntimes ?? [];
    this.dir = join(opts.runDir, 'containers');
    this.exitDir = join(opts.runDir, 'exits');
    this.socketDir = join(opts.runDir, 'sockets');
    this.cgroups = opts.cgroups;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? componentLogger('containers');
    this.conmonBinary = opts.conmonBinary;
    fs.mkdirSync(this.dir, { recursive: true });
  }

  bundleDir(id: string): string {
    return join(this.dir, id);
  }

  /** Writes the bundle and has conmon run `<runtime> create`. The container is created, not started. */
  async create(input: CreateContainerInput): Promise<ContainerStatus> {
    const id = input.id ?? randomBytes(32).toString('hex');
    const bundle = this.bundleDir(id);
    if (fs.existsSync(bundle)) throw new ContainerExistsError(id);
    fs.mkdirSync(bundle, { recursive: true });
    const meta: ContainerMeta = {
      id,
      runtime: this.runtime.name,
      logPath: input.logPath,
      cgroupsPath: input.spec.linux.cgroupsPath,
      labels: input.labels ?? {},
      createdAt: this.clock.now(),
    };
    let pid: number;
    try {
      fs.writeFileSync(join(bundle, 'config.json'), JSON.stringify(input.spec));
      writeJson(join(bundle, 'meta.json'), meta);
      fs.mkdirSync(join(input.logPath, '..'), { recursive: true });
      ({ pid } = await createUnderConmon(
        {
          id,
          bundle,
          logPath: input.logPath,
          logSizeMax: input.logSizeMax,
          exitDir: this.exitDir,
          socketDir: this.socketDir,
          runtime: this.runtime,
        },
        this.conmonBinary,
      ));
    } catch (e) {
      // Undo what create left: the runtime's state, the bundle, the cgroup leaf.
      await this.remove(id).catch((err) => this.log.warn({ err, id }, 'cleanup after failed create'));
      throw e;
    }
    this.log.debug({ id, runtime: this.runtime.name, pid }, 'container created');
    // Known without asking the runtime again: the monitor reported the pid.
    return this.statusOf(meta, 'created', pid);
  }

  private statusOf(meta: ContainerMeta, state: ContainerState, pid?: number): ContainerStatus {
    return {
      id: meta.id,
      state,
      pid,
      createdAt: meta.createdAt,
      startedAt: meta.startedAt,
      labels: meta.labels,
      logPath: meta.logPath,
      cgroupsPath: meta.cgroupsPath,
      runtime: meta.runtime,
    };
  }

  /** `<runtime> start`; records the start time. */
  async start(id: string): Promise<ContainerMeta> {
    const meta = this.meta(id);
    await this.runtimeOf(meta).start(id);
    meta.startedAt = this.clock.now();
    writeJson(join(this.bundleDir(id), 'meta.json'), meta);
    return meta;
  }

  /** create + start: the usual way to run a container. */
  async run(input: CreateContainerInput): Promise<ContainerStatus> {
    const st = await this.create(input);
    try {
      const meta = await this.start(st.id);
      // A container that exits at once is still reported running here; status() tells the truth later.
      return this.statusOf(meta, 'running', st.pid);
    } catch (e) {
      await this.remove(st.id).catch((err) => this.log.warn({ err, id: st.id }, 'cleanup after failed start'));
      throw e;
    }
  }

  /** Ids of every container with a bundle here (what a restarted agent re-adopts). */
  ids(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((d) => fs.existsSync(join(this.dir, d, 'meta.json')));
    } catch {
      return [];
    }
  }

  async list(): Promise<ContainerStatus[]> {
    const out: ContainerStatus[] = [];
    for (const id of this.ids()) {
      try {
        out.push(await this.status(id));
      } catch (e) {
        if (!(e instanceof ContainerNotFoundError)) throw e;
      }
    }
    return out;
  }

  /**
   * The container's state, read from the runtime and the monitor's files. The
   * first time an exit is seen, its code and reason (OOMKilled from the cgroup's
   * oom_kill counter, read before the cgroup goes away) are recorded on disk.
   */
  async status(id: string): Promise<ContainerStatus> {
    const meta = this.meta(id);
    const base: ContainerStatus = {
      id,
      state: 'unknown',
      createdAt: meta.createdAt,
      startedAt: meta.startedAt,
      labels: meta.labels,
      logPath: meta.logPath,
      cgroupsPath: meta.cgroupsPath,
      runtime: meta.runtime,
    };
    const final = readJson<FinalStatus>(join(this.bundleDir(id), 'final.json'));
    if (final) return { ...base, state: 'exited', ...final };

    let status: string;
    let pid = 0;
    try {
      const st = await this.runtimeOf(meta).state(id);
      status = st.status;
      pid = st.pid;
    } catch (e) {
      if (!(e instanceof ContainerNotFoundError)) throw e;
      status = 'gone';
    }
    if (status === 'created') return { ...base, state: 'created', pid };
    if (status === 'running' || status === 'paused') return { ...base, state: 'running', pid };
    if (status === 'creating') return { ...base, state: 'created' };

    // Stopped (or gone): the exit code comes from conmon, which writes it right after reaping.
    const f = monitorFiles(this.bundleDir(id), this.exitDir, id);
    let exit = readExitCode(f.exitFile);
    for (let i = 0; !exit && i < 50 && livePid(f.conmonPidFile, 'conmon'); i++) {
      await this.clock.sleep(20);
      exit = readExitCode(f.exitFile);
    }
    if (!exit && meta.startedAt === undefined) return { ...base, state: status === 'gone' ? 'unknown' : 'created' };
    const ooms = this.cgroups.oomKillCount(meta.cgroupsPath);
    const oom = (ooms !== undefined && ooms > 0) || fs.existsSync(f.oomFile);
    const rec: FinalStatus = oom
      ? { exitCode: OOM_EXIT_CODE, reason: 'OOMKilled', finishedAt: exit?.at ?? this.clock.now() }
      : exit
        ? { exitCode: exit.code, reason: exit.code === 0 ? 'Completed' : 'Error', finishedAt: exit.at }
        : { exitCode: 255, reason: 'Error', finishedAt: this.clock.now(), message: 'the container exited and its monitor recorded no exit code' };
    if (rec.reason === 'OOMKilled') rec.message = 'the container was killed because its cgroup ran out of memory';
    writeJson(join(this.bundleDir(id), 'final.json'), rec);
    return { ...base, state: 'exited', ...rec };
  }

  /** Waits until the container exits or TIMEOUTMS pass; true when it exited. */
  async waitExit(id: string, timeoutMs: number): Promise<boolean> {
    const f = monitorFiles(this.bundleDir(id), this.exitDir, id);
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      if (readExitCode(f.exitFile)) return true;
      if (!livePid(f.conmonPidFile, 'conmon')) {
        const st = await this.status(id);
        if (st.state !== 'running') return true;
      }
      if (this.clock.now() >= deadline) return false;
      await this.clock.sleep(20);
    }
  }

  /** SIGTERM, up to GRACESECONDS for the container to exit, then SIGKILL to every process of it. */
  async stop(id: string, graceSeconds: number): Promise<ContainerStatus> {
    let st = await this.status(id);
    if (st.state !== 'running' && st.state !== 'created') return st;
    if (st.state === 'running' && graceSeconds > 0) {
      await this.signal(id, 'SIGTERM');
      if (await this.waitExit(id, graceSeconds * 1000)) return this.status(id);
    }
    await this.signal(id, 'SIGKILL', true);
    if (st.state === 'created') {
      // A created container's init never runs: delete it outright.
      await this.runtimeOf(this.meta(id)).delete(id, { force: true }).catch(ignoreNotFound);
    } else if (!(await this.waitExit(id, 10_000))) {
      this.log.warn({ id }, 'container did not exit 10 s after SIGKILL');
    }
    st = await this.status(id);
    return st;
  }

  private async signal(id: string, sig: NodeJS.Signals, all = false): Promise<void> {
    try {
      await this.runtimeOf(this.meta(id)).kill(id, sig, { all });
    } catch (e) {
      // Exited meanwhile: nothing to signal.
      if (e instanceof ContainerNotFoundError) return;
      if (e instanceof RuntimeCommandError && (await this.status(id)).state !== 'running') return;
      throw e;
    }
  }

  /** Runs ARGS inside the running container. */
  async exec(id: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const st = await this.status(id);
    if (st.state !== 'running') throw new ContainerNotRunningError(id, st.state);
    return this.runtimeOf(this.meta(id)).exec(id, args, opts);
  }

  /** The container's log lines (see readContainerLogs); following ends when the container exits. */
  logs(id: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogLine> {
    const meta = this.meta(id);
    const f = monitorFiles(this.bundleDir(id), this.exitDir, id);
    return readContainerLogs(meta.logPath, {
      until: () => readExitCode(f.exitFile) !== undefined || !livePid(f.conmonPidFile, 'conmon'),
      ...opts,
    });
  }

  /**
   * Removes the container: kills what still runs, records its final status,
   * `<runtime> delete`, waits for its monitor, removes the cgroup leaf if the
   * runtime left it, the bundle, the exit file and the attach sockets. The log
   * file stays unless REMOVELOG.
   */
  async remove(id: string, opts: { removeLog?: boolean } = {}): Promise<void> {
    const bundle = this.bundleDir(id);
    const meta = readJson<ContainerMeta>(join(bundle, 'meta.json'));
    if (meta) {
      const st = await this.status(id).catch(() => undefined);
      if (st && st.state === 'running') await this.stop(id, 0);
    }
    await this.freeHostState(id, meta);
    if (opts.removeLog && meta) fs.rmSync(meta.logPath, { force: true });
    fs.rmSync(bundle, { recursive: true, force: true });
  }

  /**
   * Frees what a container holds on the host — its processes (killed if they
   * still run), the runtime's state, its monitor, its cgroup leaf, its attach
   * sockets — but keeps its record, final status and log: a finished pod's
   * containers are still reported (exit code, reason) until the pod goes.
   */
  async release(id: string): Promise<ContainerStatus> {
    const meta = this.meta(id);
    const st = await this.status(id); // records the final status of an exited container
    if (st.state === 'running' || st.state === 'created') await this.stop(id, 0);
    await this.freeHostState(id, meta);
    return this.status(id);
  }

  private async freeHostState(id: string, meta: ContainerMeta | undefined): Promise<void> {
    const f = monitorFiles(this.bundleDir(id), this.exitDir, id);
    await (meta ? this.runtimeOf(meta) : this.runtime).delete(id, { force: true }).catch(ignoreNotFound);
    const conmon = livePid(f.conmonPidFile, 'conmon');
    if (conmon) {
      for (let i = 0; i < 100 && livePid(f.conmonPidFile, 'conmon'); i++) await this.clock.sleep(20);
      const still = livePid(f.conmonPidFile, 'conmon');
      if (still) process.kill(still, 'SIGKILL');
    }
    if (meta) await this.cgroups.remove(meta.cgroupsPath);
    fs.rmSync(f.exitFile, { force: true });
    fs.rmSync(join(this.socketDir, id), { recursive: true, force: true });
  }

  /** The container's record (labels, log path, cgroup) without asking the runtime; undefined when unknown. */
  metadata(id: string): ContainerMeta | undefined {
    return readJson<ContainerMeta>(join(this.bundleDir(id), 'meta.json'));
  }

  /** The runtime that runs container ID (for callers that drive it directly, e.g. a streaming exec). */
  runtimeFor(id: string): OciRuntime {
    return this.runtimeOf(this.meta(id));
  }

  /** The runtime that created the container: it may predate a change of the agent's `--runtime`. */
  private runtimeOf(meta: ContainerMeta): OciRuntime {
    if (meta.runtime === this.runtime.name) return this.runtime;
    const other = this.otherRuntimes.find((r) => r.name === meta.runtime);
    if (!other) throw new InternalError(`container ${meta.id} was created by ${meta.runtime}, which this agent was not given`);
    return other;
  }

  private meta(id: string): ContainerMeta {
    const m = readJson<ContainerMeta>(join(this.bundleDir(id), 'meta.json'));
    if (!m) throw new ContainerNotFoundError(id);
    return m;
  }
}

function ignoreNotFound(e: unknown): void {
  if (e instanceof ContainerNotFoundError) return;
  throw e;
}

function writeJson(path: string, v: unknown): void {
  // Write then rename: a crash never leaves half a record.
  const tmp = `${path}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(v));
  fs.renameSync(tmp, path);
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
