// ContainerManager's reading of what the runtime and the monitor left on disk,
// with a fake runtime and fake cgroups (the real ones: test/integration/runtime-containers.test.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger } from '../../api/index.js';
import {
  ContainerManager,
  ContainerNotFoundError,
  ContainerNotRunningError,
  type CgroupManager,
  type OciRuntime,
  type OciState,
} from '../../node-agent/runtime/index.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-ctr-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function setup(states: Record<string, Partial<OciState>>, ooms: Record<string, number> = {}) {
  const runDir = mkdtempSync(join(dir, 'run-'));
  const calls: string[] = [];
  const runtime = {
    name: 'crun',
    binary: '/usr/bin/crun',
    root: join(runDir, 'crun'),
    globalArgs: () => [],
    async state(id: string) {
      const s = states[id];
      if (!s) throw new ContainerNotFoundError(id);
      return { id, status: 'stopped', pid: 0, bundle: '', ...s } as OciState;
    },
    async kill(id: string, sig: string | number) {
      calls.push(`kill ${id} ${sig}`);
    },
    async exec() {
      calls.push('exec');
      return { exitCode: 0, stdout: '', stderr: '' };
    },
  } as unknown as OciRuntime;
  const cgroups = { oomKillCount: (path: string) => ooms[path] } as unknown as CgroupManager;
  const m = new ContainerManager({ runDir, runtime, cgroups, clock: new FakeClock(), log: silentLogger() });
  const record = (id: string, exitCode?: number) => {
    mkdirSync(join(runDir, 'containers', id), { recursive: true });
    writeFileSync(
      join(runDir, 'containers', id, 'meta.json'),
      JSON.stringify({ id, runtime: 'crun', logPath: '/l', cgroupsPath: `/f/pod1/${id}`, labels: { name: id }, createdAt: 1, startedAt: 2 }),
    );
    if (exitCode !== undefined) {
      mkdirSync(join(runDir, 'exits'), { recursive: true });
      writeFileSync(join(runDir, 'exits', id), String(exitCode));
    }
  };
  return { m, record, calls };
}

describe('[runtime] container status from the runtime and the monitor', () => {
  it('running, completed, failed and OOM-killed containers read as Kubernetes would report them', async () => {
    const { m, record } = setup(
      { run: { status: 'running', pid: 42 }, ok: {}, bad: {}, oom: {} },
      { '/f/pod1/oom': 1 },
    );
    record('run');
    record('ok', 0);
    record('bad', 2);
    record('oom', 137);
    expect(await m.status('run')).toMatchObject({ state: 'running', pid: 42, labels: { name: 'run' } });
    expect(await m.status('ok')).toMatchObject({ state: 'exited', exitCode: 0, reason: 'Completed' });
    expect(await m.status('bad')).toMatchObject({ state: 'exited', exitCode: 2, reason: 'Error' });
    expect(await m.status('oom')).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOMKilled' });
    expect((await m.list()).map((s) => s.id).sort()).toEqual(['bad', 'ok', 'oom', 'run']);
  });

  it('the first exit seen is recorded, so it survives the runtime forgetting the container', async () => {
    const states: Record<string, Partial<OciState>> = { gone: {} };
    const { m, record } = setup(states, { '/f/pod1/gone': 1 });
    record('gone', 137);
    expect((await m.status('gone')).reason).toBe('OOMKilled');
    delete states.gone;
    expect(await m.status('gone')).toMatchObject({ state: 'exited', reason: 'OOMKilled', exitCode: 137 });
  });

  it('a container the runtime lost without an exit code is an Error, an unknown id is NotFound', async () => {
    const { m, record } = setup({});
    record('lost');
    expect(await m.status('lost')).toMatchObject({ state: 'exited', reason: 'Error', exitCode: 255 });
    await expect(m.status('nope')).rejects.toBeInstanceOf(ContainerNotFoundError);
  });

  it('exec needs a running container; stop leaves an exited one alone', async () => {
    const { m, record, calls } = setup({ done: {} });
    record('done', 0);
    await expect(m.exec('done', ['true'])).rejects.toBeInstanceOf(ContainerNotRunningError);
    expect((await m.stop('done', 30)).state).toBe('exited');
    expect(calls).toEqual([]);
  });
});
