import { appendFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanRuntimeMessage,
  formatCriLogLine,
  parseCgroupMounts,
  parseCriLog,
  parseCriLogLine,
  parseOomKillCount,
  podCgroupLimits,
  readContainerLogs,
  runtimeError,
  runtimeMessage,
  createOciRuntime,
  ContainerNotFoundError,
  RuntimeCommandError,
  type LogLine,
} from '../../node-agent/runtime/index.js';

describe('[runtime] CRI log lines', () => {
  it.each([
    ['2026-01-01T00:00:00.000000000Z stdout F hello world', { time: '2026-01-01T00:00:00.000000000Z', stream: 'stdout', partial: false, message: 'hello world' }],
    ['2026-11-23T02:37:23.621224621+00:00 stderr F err', { time: '2026-11-23T02:37:23.621224621+00:00', stream: 'stderr', partial: false, message: 'err' }],
    ['2026-01-01T00:00:00.1Z stdout P part', { time: '2026-01-01T00:00:00.1Z', stream: 'stdout', partial: true, message: 'part' }],
    ['2026-01-01T00:00:00Z stdout F ', { time: '2026-01-01T00:00:00Z', stream: 'stdout', partial: false, message: '' }],
    ['2026-01-01T00:00:00Z stdout F', { time: '2026-01-01T00:00:00Z', stream: 'stdout', partial: false, message: '' }],
    ['2026-01-01T00:00:00Z stdout F  two  spaces ', { time: '2026-01-01T00:00:00Z', stream: 'stdout', partial: false, message: ' two  spaces ' }],
  ])('parses %j', (line, want) => {
    expect(parseCriLogLine(line)).toEqual(want);
  });

  it.each(['', 'hello', 'yesterday stdout F x', '2026-01-01T00:00:00Z stdin F x', '2026-01-01T00:00:00Z stdout X x'])('rejects %j', (line) => {
    expect(parseCriLogLine(line)).toBeUndefined();
  });

  it('formats what it parses', () => {
    const l = '2026-01-01T00:00:00.000000000Z stderr P abc';
    expect(formatCriLogLine(parseCriLogLine(l)!)).toBe(l);
  });

  it('joins partial records of the same stream, keeping streams apart', () => {
    const text = [
      '2026-01-01T00:00:01Z stdout P he',
      '2026-01-01T00:00:02Z stderr F boom',
      '2026-01-01T00:00:03Z stdout P ll',
      '2026-01-01T00:00:04Z stdout F o',
      'garbage',
      '',
    ].join('\n');
    expect(parseCriLog(text)).toEqual([
      { time: '2026-01-01T00:00:02Z', stream: 'stderr', message: 'boom' },
      { time: '2026-01-01T00:00:01Z', stream: 'stdout', message: 'hello' },
    ]);
  });
});

describe('[runtime] reading container logs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-logs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const line = (n: number) => `2026-01-01T00:00:0${n % 10}.000000000Z stdout F line ${n}\n`;

  async function collect(it: AsyncGenerator<LogLine>): Promise<string[]> {
    const out: string[] = [];
    for await (const l of it) out.push(l.message);
    return out;
  }

  it('returns every line, or only the last N with tail', async () => {
    const f = join(dir, 'a.log');
    writeFileSync(f, [1, 2, 3, 4].map(line).join(''));
    expect(await collect(readContainerLogs(f))).toEqual(['line 1', 'line 2', 'line 3', 'line 4']);
    expect(await collect(readContainerLogs(f, { tail: 2 }))).toEqual(['line 3', 'line 4']);
    expect(await collect(readContainerLogs(f, { tail: 0 }))).toEqual([]);
  });

  it('follows new lines until the container is done, and starts over after a rotation', async () => {
    const f = join(dir, 'b.log');
    writeFileSync(f, line(1));
    let done = false;
    const got: string[] = [];
    const reading = (async () => {
      for await (const l of readContainerLogs(f, { follow: true, pollMs: 10, until: () => done })) got.push(l.message);
    })();
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(f, line(2));
    appendFileSync(f, '2026-01-01T00:00:03Z stdout F half');
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(f, ' done\n');
    await new Promise((r) => setTimeout(r, 50));
    truncateSync(f, 0);
    appendFileSync(f, line(4));
    await new Promise((r) => setTimeout(r, 50));
    done = true;
    await reading;
    expect(got).toEqual(['line 1', 'line 2', 'half done', 'line 4']);
  });

  it('a follower stops when aborted', async () => {
    const f = join(dir, 'c.log');
    writeFileSync(f, line(1));
    const ac = new AbortController();
    const p = collect(readContainerLogs(f, { follow: true, pollMs: 10, signal: ac.signal }));
    setTimeout(() => ac.abort(), 50);
    expect(await p).toEqual(['line 1']);
  });
});

describe('[runtime] runtime errors keep the runtime’s words', () => {
  const r = (stderr: string, code = 1) => ({ code, signal: null, stdout: '', stderr });

  it('reads crun and runc messages', () => {
    expect(runtimeMessage('error opening file `/r/x/status`: No such file or directory\n')).toBe('error opening file `/r/x/status`: No such file or directory');
    expect(runtimeMessage('time="2026-11-23T02:41:39Z" level=error msg="container does not exist"\n')).toBe('container does not exist');
    expect(runtimeMessage('crun: executable file `nope` not found in $PATH: No such file or directory')).toBe(
      'executable file `nope` not found in $PATH: No such file or directory',
    );
  });

  it('maps a missing container to ContainerNotFoundError and anything else to RuntimeCommandError', () => {
    expect(runtimeError('crun', 'state', 'x', r('error opening file `/r/x/status`: No such file or directory'))).toBeInstanceOf(ContainerNotFoundError);
    expect(runtimeError('runc', 'kill', 'x', r('time="t" level=error msg="container does not exist"'))).toBeInstanceOf(ContainerNotFoundError);
    const e = runtimeError('crun', 'create', 'x', r('setrlimit `RLIMIT_NOFILE`: Operation not permitted'));
    expect(e).toBeInstanceOf(RuntimeCommandError);
    expect(e.message).toBe('crun create: setrlimit `RLIMIT_NOFILE`: Operation not permitted');
  });

  it('strips the runtime path conmon puts before the message', () => {
    expect(cleanRuntimeMessage('/usr/bin/crun: executable file `x` not found')).toBe('executable file `x` not found');
  });
});

describe('[runtime] cgroup helpers', () => {
  it('lists v1 hierarchies with their controllers and the unified mount', () => {
    const mounts = [
      'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
      'cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0',
      'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0',
      'cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0',
      'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
      'proc /proc proc rw 0 0',
    ].join('\n');
    expect(parseCgroupMounts(mounts)).toEqual([
      { mountPoint: '/sys/fs/cgroup/cpu', version: 1, controllers: ['cpu'] },
      { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', version: 1, controllers: ['cpu', 'cpuacct'] },
      { mountPoint: '/sys/fs/cgroup/systemd', version: 1, controllers: ['name=systemd'] },
      { mountPoint: '/sys/fs/cgroup/unified', version: 2, controllers: [] },
    ]);
  });

  it('reads the oom_kill counter of v1 memory.oom_control and v2 memory.events', () => {
    expect(parseOomKillCount('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n')).toBe(2);
    expect(parseOomKillCount('low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n')).toBe(1);
    expect(parseOomKillCount('oom_kill_disable 0\nunder_oom 0\n')).toBe(0);
  });

  it('limits a pod only where every container is limited', () => {
    expect(podCgroupLimits([{ cpuQuotaUs: 50_000, memoryBytes: 100, cpuShares: 512 }, { cpuQuotaUs: 25_000, cpuShares: 256 }])).toEqual({
      cpuQuotaUs: 75_000,
      cpuShares: 768,
    });
    expect(podCgroupLimits([])).toEqual({});
  });
});

describe('[runtime] the crun/runc command line', () => {
  function fakeRunner(result: { code: number; stdout?: string; stderr?: string }) {
    const calls: string[][] = [];
    const run = async (file: string, args: string[]) => {
      calls.push([file, ...args]);
      return { code: result.code, signal: null, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
    };
    return { calls, run };
  }

  it('runs every verb with the agent’s own --root', async () => {
    const f = fakeRunner({ code: 0, stdout: '{"id":"c1","status":"running","pid":42,"bundle":"/b"}' });
    const rt = createOciRuntime('runc', { root: '/run/flotilla/runc', run: f.run });
    await rt.create('c1', '/b', { pidFile: '/b/pid' });
    await rt.start('c1');
    expect(await rt.state('c1')).toMatchObject({ status: 'running', pid: 42 });
    await rt.kill('c1', 'SIGTERM');
    await rt.kill('c1', 9, { all: true });
    await rt.delete('c1', { force: true });
    expect(f.calls).toEqual([
      ['/usr/sbin/runc', '--root=/run/flotilla/runc', 'create', '--bundle', '/b', '--pid-file', '/b/pid', 'c1'],
      ['/usr/sbin/runc', '--root=/run/flotilla/runc', 'start', 'c1'],
      ['/usr/sbin/runc', '--root=/run/flotilla/runc', 'state', 'c1'],
      ['/usr/sbin/runc', '--root=/run/flotilla/runc', 'kill', 'c1', 'TERM'],
      ['/usr/sbin/runc', '--root=/run/flotilla/runc', 'kill', '--all', 'c1', '9'],
      ['/usr/sbin/runc', '--root=/run/flotilla/runc', 'delete', '--force', 'c1'],
    ]);
  });

  it('refuses an unknown runtime name', () => {
    expect(() => createOciRuntime('kata', { root: '/r' })).toThrow(/unknown OCI runtime "kata": use crun or runc/);
  });

  it('exec returns the process’s exit code and output, and 127 when the runtime cannot find the command', async () => {
    const ok = createOciRuntime('crun', { root: '/r', run: fakeRunner({ code: 3, stdout: 'out', stderr: 'err' }).run });
    expect(await ok.exec('c1', ['sh', '-c', 'exit 3'])).toEqual({ exitCode: 3, stdout: 'out', stderr: 'err' });
    const nf = createOciRuntime('crun', {
      root: '/r',
      run: fakeRunner({ code: 255, stderr: 'executable file `nope` not found in $PATH: No such file or directory\n' }).run,
    });
    expect(await nf.exec('c1', ['nope'])).toEqual({ exitCode: 127, stdout: '', stderr: 'executable file `nope` not found in $PATH: No such file or directory\n' });
  });

  it('a failed verb carries the runtime’s message', async () => {
    const rt = createOciRuntime('runc', { root: '/r', run: fakeRunner({ code: 1, stderr: 'time="t" level=error msg="exec: \\"x\\": executable file not found in $PATH"\n' }).run });
    await expect(rt.start('c1')).rejects.toThrow('runc start: exec: "x": executable file not found in $PATH');
  });
});
