// Containers on real crun/runc under real conmon, with real cgroups, in a fresh
// network namespace: what the node agent's container layer must do for a user.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Container } from '../../api/index.js';
import {
  buildOciSpec,
  CgroupManager,
  ContainerManager,
  ContainerNotRunningError,
  createContainerRuntime,
  createOciRuntime,
  runtimeHostProblems,
  parseCriLog,
  RuntimeCommandError,
  type OciRuntimeName,
} from '../../node-agent/index.js';
import { buildBusyboxRootfs } from '../helpers/rootfs.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const K8S_FILE_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) (stdout|stderr) F /;

class RuntimeFixture {
  readonly prefix = `flt${randomBytes(3).toString('hex')}`;
  readonly tmp: string;
  readonly rootfs: string;
  readonly netns: string;
  readonly podUid = randomBytes(8).toString('hex');
  readonly cgroups: CgroupManager;
  readonly containers: ContainerManager;
  readonly hostnameFile: string;

  constructor(readonly runtimeName: OciRuntimeName) {
    this.tmp = mkdtempSync(join(tmpdir(), `flotilla-rt-${this.prefix}-`));
    this.rootfs = buildBusyboxRootfs(join(this.tmp, 'rootfs'));
    this.netns = `${this.prefix}-pod`;
    execFileSync('ip', ['netns', 'add', this.netns]);
    execFileSync('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    mkdirSync(join(this.tmp, 'sandbox'));
    this.hostnameFile = join(this.tmp, 'sandbox', 'hostname');
    writeFileSync(this.hostnameFile, 'web-0\n');
    this.cgroups = new CgroupManager({ parent: `/flotilla-test-${this.prefix}` });
    const runDir = join(this.tmp, 'run');
    this.containers = new ContainerManager({
      runDir,
      runtime: createOciRuntime(runtimeName, { root: join(runDir, runtimeName) }),
      cgroups: this.cgroups,
      log: silentLogger(),
    });
  }

  spec(name: string, command: string[], extra: Partial<Container> = {}, volumes: Record<string, { hostPath: string }> = {}) {
    const id = randomBytes(16).toString('hex');
    const spec = buildOciSpec({
      container: { name, command, ...extra },
      rootfs: this.rootfs,
      hostname: 'web-0',
      namespaces: { network: { path: `/run/netns/${this.netns}` }, ipc: 'new', uts: 'new', pid: 'new' },
      sandboxFiles: { hostname: this.hostnameFile },
      cgroupsPath: this.cgroups.containerPath(this.podUid, id),
      maxOpenFiles: 1024,
      pidsLimit: 100,
      volumes,
    });
    return { id, spec, logPath: join(this.tmp, 'logs', `${name}-${id.slice(0, 6)}.log`), labels: { 'io.kubernetes.container.name': name } };
  }

  async cleanup(): Promise<void> {
    for (const id of this.containers.ids()) await this.containers.remove(id).catch(() => undefined);
    await this.cgroups.remove(this.cgroups.parent).catch(() => undefined);
    try {
      execFileSync('ip', ['netns', 'del', this.netns], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
    rmSync(this.tmp, { recursive: true, force: true });
    rmSync(join(REPO, 'node_modules', '.cache', `flotilla-${this.prefix}`), { recursive: true, force: true });
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A process that still runs (a zombie waiting for PID 1 to reap it does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function mountsMentioning(s: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(s));
}

describe('[runtime] containers on crun under conmon', () => {
  let fx: RuntimeFixture;

  beforeAll(() => {
    requireRoot('the runtime suite');
    requireBinaries('the runtime suite', 'crun', 'runc', 'conmon', 'ip');
    fx = new RuntimeFixture('crun');
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('a container that echoes and exits leaves its line in a k8s-file log and exit code 0', async () => {
    const c = fx.spec('echo', ['sh', '-c', 'echo hello from flotilla; echo to stderr >&2']);
    await fx.containers.run(c);
    const st = await waitFor('exit', async () => {
      const s = await fx.containers.status(c.id);
      return s.state === 'exited' ? s : undefined;
    });
    expect(st.exitCode).toBe(0);
    expect(st.reason).toBe('Completed');
    const text = readFileSync(c.logPath, 'utf8');
    const lines = text.trim().split('\n');
    for (const l of lines) expect(l).toMatch(K8S_FILE_LINE);
    expect(parseCriLog(text).map((l) => `${l.stream}:${l.message}`)).toEqual(['stdout:hello from flotilla', 'stderr:to stderr']);
  });

  it('a failing command reports its exit code and reason Error', async () => {
    const c = fx.spec('fail', ['sh', '-c', 'exit 3']);
    await fx.containers.run(c);
    await fx.containers.waitExit(c.id, 10_000);
    const st = await fx.containers.status(c.id);
    expect(st).toMatchObject({ state: 'exited', exitCode: 3, reason: 'Error' });
  });

  it('a command that does not exist fails create or start with the runtime message', async () => {
    const c = fx.spec('missing', ['/bin/no-such-program']);
    const err = await fx.containers.run(c).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RuntimeCommandError);
    expect(String((err as Error).message)).toMatch(/no-such-program/);
    // a failed run leaves nothing behind
    expect(fx.containers.ids()).not.toContain(c.id);
  });

  it('the container runs in the given network namespace with its own hostname and sees the sandbox hostname file', async () => {
    const c = fx.spec('sleeper', ['sleep', '300']);
    const st = await fx.containers.run(c);
    expect(st.state).toBe('running');
    const hostNs = execFileSync('readlink', [`/proc/${st.pid}/ns/net`], { encoding: 'utf8' }).trim();
    const podNs = execFileSync('ip', ['netns', 'exec', fx.netns, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
    expect(hostNs).toBe(podNs);
    const r = await fx.containers.exec(c.id, ['cat', '/etc/hostname']);
    expect(r).toEqual({ exitCode: 0, stdout: 'web-0\n', stderr: '' });
    const h = await fx.containers.exec(c.id, ['hostname']);
    expect(h.stdout.trim()).toBe('web-0');
    const fail = await fx.containers.exec(c.id, ['sh', '-c', 'echo oops >&2; exit 7']);
    expect(fail).toEqual({ exitCode: 7, stdout: '', stderr: 'oops\n' });
    await fx.containers.stop(c.id, 1);
  });

  it('bad input fails with the runtime message and leaves nothing behind', async () => {
    // A limit below what the container's first process needs: crun refuses it when the
    // cgroup's usage is already above it as the limit is written; when the process has
    // not been charged yet (a race inside crun and the kernel), the limit is set and the
    // process is OOM-killed as it starts. Either way the command never runs.
    const tooSmall = fx.spec('tiny', ['sh', '-c', 'echo ran'], { resources: { limits: { memory: '100Ki' } } });
    const created = await fx.containers.run(tooSmall).then(
      () => true,
      (e: Error) => {
        expect(e.message).toMatch(/crun create: .*memory limit/i);
        return false;
      },
    );
    if (created) {
      await fx.containers.waitExit(tooSmall.id!, 10_000);
      expect(await fx.containers.status(tooSmall.id!)).toMatchObject({ state: 'exited', reason: 'OOMKilled', exitCode: 137 });
      await fx.containers.remove(tooSmall.id!);
    }
    const missingHostPath = fx.spec('hp', ['sleep', '1']);
    missingHostPath.spec.mounts.push({ destination: '/data', type: 'bind', source: `/nonexistent-${fx.prefix}`, options: ['rbind', 'rprivate', 'rw'] });
    await expect(fx.containers.run(missingHostPath)).rejects.toThrow(new RegExp(`nonexistent-${fx.prefix}`));
    for (const c of [tooSmall, missingHostPath]) {
      expect(fx.containers.ids()).not.toContain(c.id);
      expect(fx.cgroups.existing(fx.cgroups.containerPath(fx.podUid, c.id))).toEqual([]);
    }
  });

  it('exec of a command that does not exist exits 127 with the reason', async () => {
    const c = fx.spec('execnf', ['sleep', '300']);
    await fx.containers.run(c);
    const r = await fx.containers.exec(c.id, ['no-such-tool']);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toMatch(/no-such-tool.*not found/);
    await fx.containers.remove(c.id);
  });

  it('logs follow a running container line by line and end when it exits; tail gives the last lines', async () => {
    const c = fx.spec('ticker', ['sh', '-c', 'for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done']);
    await fx.containers.run(c);
    const followed: string[] = [];
    for await (const l of fx.containers.logs(c.id, { follow: true, pollMs: 50 })) followed.push(l.message);
    expect(followed).toEqual(['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5']);
    const tail: string[] = [];
    for await (const l of fx.containers.logs(c.id, { tail: 2 })) tail.push(l.message);
    expect(tail).toEqual(['tick 4', 'tick 5']);
  });

  it('an emptyDir is shared by the pod’s containers and a read-only hostPath cannot be written', async () => {
    const emptyDir = join(fx.tmp, 'volumes', 'shared');
    const hostDir = join(fx.tmp, 'hostdata');
    mkdirSync(emptyDir, { recursive: true });
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(join(hostDir, 'motd'), 'from the host\n');
    const volumes = { shared: { hostPath: emptyDir }, host: { hostPath: hostDir } };
    const mounts = [
      { name: 'shared', mountPath: '/shared' },
      { name: 'host', mountPath: '/host', readOnly: true },
    ];
    const writer = fx.spec(
      'writer',
      ['sh', '-c', 'echo written by writer > /shared/note; cat /host/motd; touch /host/x || echo host is read-only'],
      { volumeMounts: mounts },
      volumes,
    );
    await fx.containers.run(writer);
    await fx.containers.waitExit(writer.id, 10_000);
    const out = parseCriLog(readFileSync(writer.logPath, 'utf8')).map((l) => l.message);
    expect(out).toContain('from the host');
    expect(out).toContain('host is read-only');
    expect(existsSync(join(hostDir, 'x'))).toBe(false);

    const reader = fx.spec('reader', ['cat', '/shared/note'], { volumeMounts: mounts }, volumes);
    await fx.containers.run(reader);
    await fx.containers.waitExit(reader.id, 10_000);
    expect(parseCriLog(readFileSync(reader.logPath, 'utf8')).map((l) => l.message)).toEqual(['written by writer']);
  });

  it('exec into a stopped container is refused', async () => {
    const c = fx.spec('done', ['true']);
    await fx.containers.run(c);
    await fx.containers.waitExit(c.id, 10_000);
    await expect(fx.containers.exec(c.id, ['true'])).rejects.toBeInstanceOf(ContainerNotRunningError);
  });

  it('the cpu limit becomes the CFS quota and the memory limit the cgroup limit', async () => {
    const c = fx.spec('limited', ['sleep', '300'], { resources: { limits: { cpu: '250m', memory: '64Mi' } } });
    await fx.containers.run(c);
    const path = fx.cgroups.containerPath(fx.podUid, c.id);
    expect(fx.cgroups.read('cpu', path, 'cpu.cfs_quota_us')).toBe('25000');
    expect(fx.cgroups.read('cpu', path, 'cpu.cfs_period_us')).toBe('100000');
    expect(fx.cgroups.read('memory', path, 'memory.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
    expect(fx.cgroups.read('pids', path, 'pids.max')).toBe('100');
    await fx.containers.stop(c.id, 0);
  });

  it('a process allocating beyond an 8 MiB memory limit is reported OOMKilled with exit code 137', async () => {
    const c = fx.spec('hog', ['sh', '-c', 'x=$(head -c 50000000 /dev/zero | tr "\\0" a); echo ${#x}'], {
      resources: { limits: { memory: '8Mi' } },
    });
    await fx.containers.run(c);
    expect(await fx.containers.waitExit(c.id, 30_000)).toBe(true);
    const st = await fx.containers.status(c.id);
    expect(st).toMatchObject({ state: 'exited', reason: 'OOMKilled', exitCode: 137 });
    // recorded: still reported after the cgroup is gone
    await fx.cgroups.remove(st.cgroupsPath).catch(() => undefined);
    expect((await fx.containers.status(c.id)).reason).toBe('OOMKilled');
  });

  it('stop sends SIGTERM and a container that ignores it is SIGKILLed after the grace period', async () => {
    const polite = fx.spec('polite', ['sh', '-c', 'trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done']);
    await fx.containers.run(polite);
    await new Promise((r) => setTimeout(r, 300));
    // A long grace period: stop() returns when the container has exited on SIGTERM,
    // not when the grace period is over (a behaviour bound, not a speed target).
    const t0 = Date.now();
    const st1 = await fx.containers.stop(polite.id, 60);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(st1).toMatchObject({ state: 'exited', exitCode: 0 });
    expect(readFileSync(polite.logPath, 'utf8')).toMatch(/stdout F bye/);

    const stubborn = fx.spec('stubborn', ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']);
    await fx.containers.run(stubborn);
    await new Promise((r) => setTimeout(r, 300));
    const t1 = Date.now();
    const st2 = await fx.containers.stop(stubborn.id, 1);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(1000);
    expect(st2).toMatchObject({ state: 'exited', exitCode: 137, reason: 'Error' });
  });

  it('a running container survives the death of the process that started it and is re-adopted from disk', async () => {
    const c = fx.spec('survivor', ['sh', '-c', 'echo started; sleep 300']);
    const runDir = join(fx.tmp, 'run');
    // The "agent" is a separate Node process running our driver from a plain-JS build of it.
    const out = join(REPO, 'node_modules', '.cache', `flotilla-${fx.prefix}`);
    execFileSync(join(REPO, 'node_modules/.bin/tsc'), ['--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
      '--target', 'ES2022', '--rootDir', REPO, '--outDir', out, join(REPO, 'node-agent/runtime/index.ts')], { cwd: REPO });
    const script = `
      import { ContainerManager, CgroupManager, createOciRuntime } from ${JSON.stringify(join(out, 'node-agent/runtime/index.js'))};
      import { silentLogger } from ${JSON.stringify(join(out, 'api/log.js'))};
      const c = JSON.parse(process.argv[2]);
      const m = new ContainerManager({ runDir: ${JSON.stringify(runDir)}, runtime: createOciRuntime('crun', { root: ${JSON.stringify(join(runDir, 'crun'))} }),
        cgroups: new CgroupManager({ parent: ${JSON.stringify(fx.cgroups.parent)} }), log: silentLogger() });
      const st = await m.run(c);
      process.stdout.write(String(st.pid) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const file = join(out, 'agent.mjs');
    writeFileSync(file, script);
    const agent = spawn(process.execPath, [file, JSON.stringify(c)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      agent.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /^(\d+)\n/m.exec(out);
        if (m) resolve(Number(m[1]));
      });
      agent.on('exit', (code) => reject(new Error(`agent exited ${code} before starting the container`)));
    });
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(pid)).toBe(true);
    // a new manager (the restarted agent) finds it by reading the disk
    const restarted = new ContainerManager({
      runDir,
      runtime: createOciRuntime('crun', { root: join(runDir, 'crun') }),
      cgroups: fx.cgroups,
      log: silentLogger(),
    });
    const found = (await restarted.list()).find((s) => s.id === c.id);
    expect(found).toMatchObject({ state: 'running', pid, labels: { 'io.kubernetes.container.name': 'survivor' } });
    expect((await restarted.exec(c.id, ['echo', 'still here'])).stdout).toBe('still here\n');
    await restarted.stop(c.id, 0);
    expect(await restarted.status(c.id)).toMatchObject({ state: 'exited', exitCode: 137 });
    expect(readFileSync(c.logPath, 'utf8')).toMatch(/stdout F started/);
  });

  it('after remove no process, cgroup, mount, bundle or exit file of the container remains', async () => {
    const c = fx.spec('leaky', ['sleep', '300'], { resources: { limits: { cpu: '100m', memory: '32Mi' } } });
    const st = await fx.containers.run(c);
    const bundle = fx.containers.bundleDir(c.id);
    const conmonPid = Number(readFileSync(join(bundle, 'conmon.pid'), 'utf8'));
    expect(alive(st.pid!)).toBe(true);
    expect(fx.cgroups.existing(st.cgroupsPath).length).toBeGreaterThan(0);
    await fx.containers.remove(c.id);
    expect(alive(st.pid!)).toBe(false);
    expect(alive(conmonPid)).toBe(false);
    expect(fx.cgroups.existing(st.cgroupsPath)).toEqual([]);
    expect(existsSync(bundle)).toBe(false);
    expect(existsSync(join(fx.tmp, 'run', 'exits', c.id))).toBe(false);
    expect(existsSync(join(fx.tmp, 'run', 'crun', c.id))).toBe(false);
    expect(mountsMentioning(c.id)).toEqual([]);
    expect(mountsMentioning(fx.rootfs)).toEqual([]);
  });

  it('removing the pod cgroup removes it and its leaves from every hierarchy', async () => {
    const c = fx.spec('last', ['sleep', '300']);
    fx.cgroups.ensurePod(fx.podUid, { memoryBytes: 256 * 1024 * 1024, cpuQuotaUs: 50_000 });
    expect(fx.cgroups.read('memory', fx.cgroups.podPath(fx.podUid), 'memory.limit_in_bytes')).toBe(String(256 * 1024 * 1024));
    expect(fx.cgroups.read('cpu', fx.cgroups.podPath(fx.podUid), 'cpu.cfs_quota_us')).toBe('50000');
    await fx.containers.run(c);
    for (const id of fx.containers.ids()) await fx.containers.remove(id);
    await fx.cgroups.removePod(fx.podUid);
    expect(fx.cgroups.existing(fx.cgroups.podPath(fx.podUid))).toEqual([]);
  });
});

describe('[runtime] containers on runc under conmon', () => {
  let fx: RuntimeFixture;

  beforeAll(() => {
    requireRoot('the runtime suite');
    requireBinaries('the runtime suite', 'runc', 'conmon', 'ip');
    fx = new RuntimeFixture('runc');
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('runc runs a container that logs, exits with its code, execs and is removed without a trace', async () => {
    const once = fx.spec('echo', ['sh', '-c', 'echo hello from runc; exit 4']);
    await fx.containers.run(once);
    await fx.containers.waitExit(once.id, 10_000);
    expect(await fx.containers.status(once.id)).toMatchObject({ state: 'exited', exitCode: 4, reason: 'Error' });
    expect(parseCriLog(readFileSync(once.logPath, 'utf8')).map((l) => l.message)).toEqual(['hello from runc']);

    const svc = fx.spec('svc', ['sleep', '300'], { resources: { limits: { cpu: '500m' } } });
    const st = await fx.containers.run(svc);
    expect(fx.cgroups.read('cpu', st.cgroupsPath, 'cpu.cfs_quota_us')).toBe('50000');
    expect((await fx.containers.exec(svc.id, ['cat', '/etc/hostname'])).stdout).toBe('web-0\n');
    await fx.containers.stop(svc.id, 1);
    for (const id of [once.id, svc.id]) await fx.containers.remove(id);
    expect(alive(st.pid!)).toBe(false);
    expect(fx.cgroups.existing(st.cgroupsPath)).toEqual([]);
    expect(fx.containers.ids()).toEqual([]);
  });
});

describe('[runtime] the container layer of an agent', () => {
  const prefix = `flt${randomBytes(3).toString('hex')}`;
  let tmp = '';
  const netns = `${prefix}-pod`;

  beforeAll(() => {
    requireRoot('the runtime suite');
    requireBinaries('the runtime suite', 'crun', 'runc', 'conmon', 'ip');
    tmp = mkdtempSync(join(tmpdir(), `flotilla-rt-${prefix}-`));
    execFileSync('ip', ['netns', 'add', netns]);
  });
  afterAll(async () => {
    const rt = createContainerRuntime({ runDir: join(tmp, 'run'), cgroupParent: `/flotilla-test-${prefix}`, log: silentLogger() });
    for (const id of rt.containers.ids()) await rt.containers.remove(id).catch(() => undefined);
    await rt.cgroups.remove(rt.cgroups.parent).catch(() => undefined);
    execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('finds nothing wrong with this host for crun and runc', () => {
    expect(runtimeHostProblems('crun')).toEqual([]);
    expect(runtimeHostProblems('runc')).toEqual([]);
    expect(runtimeHostProblems('kata')).toEqual(['unknown OCI runtime "kata": use crun or runc']);
  });

  it('an agent restarted with --runtime runc still manages the containers crun started', async () => {
    const rootfs = buildBusyboxRootfs(join(tmp, 'rootfs'));
    const opts = { runDir: join(tmp, 'run'), cgroupParent: `/flotilla-test-${prefix}`, log: silentLogger() };
    const before = createContainerRuntime({ ...opts, runtimeName: 'crun' });
    expect(before.maxOpenFiles).toBeLessThanOrEqual(1_048_576);
    const id = randomBytes(16).toString('hex');
    const spec = buildOciSpec({
      container: { name: 'web', command: ['sleep', '300'] },
      rootfs,
      hostname: 'web-0',
      namespaces: { network: { path: `/run/netns/${netns}` }, ipc: 'new', uts: 'new', pid: 'new' },
      cgroupsPath: before.cgroups.containerPath('u1', id),
      maxOpenFiles: before.maxOpenFiles,
    });
    const st = await before.containers.run({ id, spec, logPath: join(tmp, 'logs', 'web.log') });
    const after = createContainerRuntime({ ...opts, runtimeName: 'runc' });
    expect(await after.containers.status(id)).toMatchObject({ state: 'running', pid: st.pid, runtime: 'crun' });
    expect((await after.containers.exec(id, ['echo', 'ok'])).stdout).toBe('ok\n');
    await after.containers.remove(id);
    expect(alive(st.pid!)).toBe(false);
    expect(after.containers.ids()).toEqual([]);
  });
});
