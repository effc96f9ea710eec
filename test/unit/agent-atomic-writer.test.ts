// The files of configMap/secret volumes, written as the kubelet's AtomicWriter
// does (node-agent/sandbox/atomic-writer.ts): the plan is data, checked here
// step by step; the executor on a temp dir; a reader in another process never
// sees a half-written or mixed file while versions are swapped under it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  applySteps,
  payloadPathError,
  planAtomicWrite,
  readVolumeState,
  timestampDirName,
  writeVolumeAtomically,
  type VolumeFile,
  type VolumeState,
} from '../../node-agent/sandbox/atomic-writer.js';
import { configMapPayload, secretPayload } from '../../node-agent/config/volumes.js';

const f = (s: string, mode = 0o644): VolumeFile => ({ data: Buffer.from(s), mode });
const empty = (): VolumeState => ({ files: new Map(), visible: new Map(), stale: [] });
const TS1 = '..2026_01_02_03_04_05.000000001';
const TS2 = '..2026_01_02_03_04_06.000000002';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('[agent] atomic writer: the plan', () => {
  it('a first write: the timestamped dir with every file, the ..data swap, one link per top-level name', () => {
    const steps = planAtomicWrite(empty(), new Map([['mode', f('fast')], ['conf/app.yaml', f('a: 1', 0o600)]]), TS1);
    expect(steps.map((s) => (s.op === 'write' ? `write ${s.path} ${s.mode.toString(8)}` : s.op === 'symlink' ? `symlink ${s.path} -> ${s.target}` : s.op === 'rename' ? `rename ${s.from} ${s.to}` : `${s.op} ${s.path}`))).toEqual([
      `mkdir ${TS1}`,
      `mkdir ${TS1}/conf`,
      `write ${TS1}/conf/app.yaml 600`,
      `write ${TS1}/mode 644`,
      'remove ..data_tmp',
      `symlink ..data_tmp -> ${TS1}`,
      'rename ..data_tmp ..data',
      'symlink conf -> ..data/conf',
      'symlink mode -> ..data/mode',
    ]);
  });

  it('the same contents again: nothing to do', () => {
    const cur: VolumeState = { dataTarget: TS1, files: new Map([['mode', f('fast')]]), visible: new Map([['mode', '..data/mode']]), stale: [] };
    expect(planAtomicWrite(cur, new Map([['mode', f('fast')]]), TS2)).toEqual([]);
  });

  it('a changed value (or only a mode): a new dir, the swap, then the old dir goes', () => {
    const cur: VolumeState = { dataTarget: TS1, files: new Map([['mode', f('fast')]]), visible: new Map([['mode', '..data/mode']]), stale: [] };
    for (const next of [f('slow'), f('fast', 0o400)]) {
      const ops = planAtomicWrite(cur, new Map([['mode', next]]), TS2).map((s) => `${s.op} ${'path' in s ? s.path : s.from}`);
      expect(ops).toEqual([`mkdir ${TS2}`, `write ${TS2}/mode`, 'remove ..data_tmp', 'symlink ..data_tmp', 'rename ..data_tmp', `remove ${TS1}`]);
    }
  });

  it('a key gone: its link is removed after the swap; a key added gets a link', () => {
    const cur: VolumeState = { dataTarget: TS1, files: new Map([['a', f('1')], ['b', f('2')]]), visible: new Map([['a', '..data/a'], ['b', '..data/b']]), stale: [] };
    const ops = planAtomicWrite(cur, new Map([['a', f('1')], ['c', f('3')]]), TS2).map((s) => `${s.op} ${'path' in s ? s.path : s.from}`);
    expect(ops.slice(-4)).toEqual(['rename ..data_tmp', 'symlink c', 'remove b', `remove ${TS1}`]);
  });

  it('repairs links and removes leftovers of an interrupted write without rewriting the files', () => {
    const cur: VolumeState = { dataTarget: TS1, files: new Map([['a', f('1')]]), visible: new Map([['a', null]]), stale: ['..2026_01_01_00_00_00.1'] };
    expect(planAtomicWrite(cur, new Map([['a', f('1')]]), TS2).map((s) => `${s.op} ${'path' in s ? s.path : ''}`)).toEqual([
      'remove a',
      'symlink a',
      'remove ..2026_01_01_00_00_00.1',
    ]);
  });

  it.each([
    ['/etc/passwd', 'must be a relative path'],
    ['a/../../x', "must not contain '..'"],
    ['..data', "must not start with '..'"],
    ['a//b', 'must be a clean path'],
    ['', 'must not be empty'],
  ])('refuses the path %j (%s)', (p, why) => {
    expect(payloadPathError(p)).toBe(why);
    expect(() => planAtomicWrite(empty(), new Map([[p, f('x')]]), TS1)).toThrow(why);
  });

  it('names the timestamped dir as the kubelet does', () => {
    expect(timestampDirName(Date.UTC(2026, 0, 2, 3, 4, 5, 600), 42)).toBe('..2026_01_02_03_04_05.000000042');
  });
});

describe('[agent] atomic writer on a directory', () => {
  it('writes, updates and removes through the ..data link; old versions are gone', () => {
    expect(writeVolumeAtomically(dir, new Map([['mode', f('fast')], ['conf/app.yaml', f('a: 1', 0o600)]]), Date.now())).toBe(true);
    const first = readlinkSync(join(dir, '..data'));
    expect(readlinkSync(join(dir, 'mode'))).toBe('..data/mode');
    expect(readFileSync(join(dir, 'mode'), 'utf8')).toBe('fast');
    expect(readFileSync(join(dir, 'conf/app.yaml'), 'utf8')).toBe('a: 1');
    expect(statSync(join(dir, 'conf/app.yaml')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, first)).mode & 0o777).toBe(0o755);

    expect(writeVolumeAtomically(dir, new Map([['mode', f('fast')], ['conf/app.yaml', f('a: 1', 0o600)]]), Date.now())).toBe(false);
    expect(writeVolumeAtomically(dir, new Map([['mode', f('slow')]]), Date.now())).toBe(true);
    const second = readlinkSync(join(dir, '..data'));
    expect(second).not.toBe(first);
    expect(readFileSync(join(dir, 'mode'), 'utf8')).toBe('slow');
    expect(existsSync(join(dir, 'conf'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['..data', second, 'mode'].sort());
    expect(lstatSync(join(dir, 'mode')).isSymbolicLink()).toBe(true);
  });

  it('reads back what is there, including leftovers of an interrupted write', () => {
    writeVolumeAtomically(dir, new Map([['a', f('1', 0o640)]]), Date.now());
    mkdirSync(join(dir, TS1));
    writeFileSync(join(dir, TS1, 'a'), 'half');
    const st = readVolumeState(dir);
    expect(st.files).toEqual(new Map([['a', f('1', 0o640)]]));
    expect(st.visible).toEqual(new Map([['a', '..data/a']]));
    expect(st.stale).toEqual([TS1]);
    applySteps(dir, planAtomicWrite(st, new Map([['a', f('1', 0o640)]]), TS2));
    expect(existsSync(join(dir, TS1))).toBe(false);
    expect(readVolumeState(dir).stale).toEqual([]);
  });

  it('an empty payload (an optional volume whose object is missing) is an empty volume', () => {
    expect(writeVolumeAtomically(dir, new Map(), Date.now())).toBe(true);
    expect(readdirSync(dir).filter((n) => !n.startsWith('..'))).toEqual([]);
    expect(readVolumeState(dir).dataTarget).toBeDefined();
  });

  it('a reader in another process sees only whole versions while they are swapped under it', async () => {
    // Big enough that a file written in place would be seen half-written.
    const versions = Array.from({ length: 40 }, (_, i) => `version ${i}\n${'x'.repeat(256 * 1024)}\n`);
    const sums = new Set(versions.map((v) => createHash('md5').update(v).digest('hex')));
    writeVolumeAtomically(dir, new Map([['data', f(versions[0]!)]]), Date.now());
    const reader = spawn('sh', ['-c', `while [ ! -e ${dir}/stop ]; do md5sum < ${dir}/data; done`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    reader.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise((r) => reader.on('exit', r));
    for (const v of versions.slice(1)) {
      writeVolumeAtomically(dir, new Map([['data', f(v)]]), Date.now());
      await new Promise((r) => setTimeout(r, 10));
    }
    writeFileSync(join(dir, 'stop'), '');
    await exited;
    const seen = out.trim().split('\n').map((l) => l.split(/\s+/)[0]!);
    expect(seen.length).toBeGreaterThan(versions.length / 2);
    expect(seen.filter((s) => !sums.has(s))).toEqual([]);
    expect(new Set(seen).size).toBeGreaterThan(1);
  });
});

describe('[agent] configMap and secret volume payloads', () => {
  const cm = { apiVersion: 'v1' as const, kind: 'ConfigMap' as const, metadata: { name: 'app-config', namespace: 'demo' }, data: { mode: 'fast', level: '3' }, binaryData: { blob: Buffer.from([0, 1, 2]).toString('base64') } };
  const s = { apiVersion: 'v1' as const, kind: 'Secret' as const, metadata: { name: 'db', namespace: 'demo' }, data: { password: Buffer.from('s3cret').toString('base64') } };

  it('every key (data and binaryData) with defaultMode, or the items at their paths and modes', () => {
    const all = configMapPayload({ name: 'app-config', defaultMode: 0o640 }, cm);
    expect(all).toEqual({ ok: true, files: new Map([['mode', f('fast', 0o640)], ['level', f('3', 0o640)], ['blob', { data: Buffer.from([0, 1, 2]), mode: 0o640 }]]) });
    const items = configMapPayload({ name: 'app-config', items: [{ key: 'mode', path: 'conf/mode.txt', mode: 0o400 }, { key: 'level', path: 'level' }] }, cm);
    expect(items).toEqual({ ok: true, files: new Map([['conf/mode.txt', f('fast', 0o400)], ['level', f('3', 0o644)]]) });
    expect(secretPayload({ secretName: 'db' }, s)).toEqual({ ok: true, files: new Map([['password', f('s3cret', 0o644)]]) });
  });

  it('a missing object or item key, worded as the kubelet does; optional ones are skipped', () => {
    expect(configMapPayload({ name: 'app-config' }, undefined)).toEqual({ ok: false, message: 'configmap "app-config" not found' });
    expect(configMapPayload({ name: 'app-config', optional: true }, undefined)).toEqual({ ok: true, files: new Map() });
    expect(configMapPayload({ name: 'app-config', items: [{ key: 'nope', path: 'x' }] }, cm)).toEqual({ ok: false, message: 'configmap references non-existent config key: nope' });
    expect(configMapPayload({ name: 'app-config', optional: true, items: [{ key: 'nope', path: 'x' }, { key: 'mode', path: 'm' }] }, cm)).toEqual({
      ok: true,
      files: new Map([['m', f('fast')]]),
    });
    expect(secretPayload({ secretName: 'db' }, undefined)).toEqual({ ok: false, message: 'secret "db" not found' });
    expect(secretPayload({ secretName: 'db', items: [{ key: 'token', path: 't' }] }, s)).toEqual({ ok: false, message: 'references non-existent secret key: token' });
  });
});
