// The controller's command line for Secrets at rest, from the current sources
// (compiled to a cache dir, not dist/): `init` writes the key file, `run` gives a
// state dir made before it a key (and says so), the bootstrap token Secret it
// stores is encrypted, and `rotate-encryption-key` re-writes it under a new key
// that the running controller picks up for its own writes.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AESGCM_PREFIX, AesGcmTransformer, readEncryptionKeyFile } from '../../controller/index.js';
import { REPO_ROOT, freeTcpPort } from '../helpers/controller.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

let main: string;
let out: string;
let etcd: TestEtcd;
let raw: Etcd3;
let dir: string;
let ctl: ChildProcess | undefined;
let stderr = '';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; controller stderr:\n${stderr.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const keyIdAt = async (k: string) => AesGcmTransformer.keyIdOf((await raw.get(k).buffer())!);

describe('flotilla-controller and Secrets at rest', () => {
  beforeAll(async () => {
    requireRoot('rotate-encryption-key CLI');
    requireBinaries('rotate-encryption-key CLI', 'etcd');
    out = join(REPO_ROOT, 'node_modules', '.cache', `flotilla-controller-secrets-${process.pid}`);
    execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), [
      '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--resolveJsonModule',
      '--rootDir', REPO_ROOT, '--outDir', out, join(REPO_ROOT, 'controller/main.ts'),
    ], { cwd: REPO_ROOT });
    cpSync(join(REPO_ROOT, 'api', 'proto'), join(out, 'api', 'proto'), { recursive: true });
    main = join(out, 'controller', 'main.js');
    etcd = await startEtcd();
    raw = new Etcd3({ hosts: etcd.endpoints });
    dir = mkdtempSync(join(tmpdir(), 'flotilla-secrets-cli-'));
  }, 180_000);

  afterAll(async () => {
    if (ctl && ctl.exitCode === null) {
      const gone = new Promise((r) => ctl!.once('exit', r));
      ctl.kill('SIGTERM');
      await gone;
    }
    raw?.close();
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('init writes the encryption key file and names it', () => {
    const r = cli('init', '--state-dir', dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`encryption keys:     ${join(dir, 'encryption-keys.json')}`);
    expect(readEncryptionKeyFile(join(dir, 'encryption-keys.json'))).toHaveLength(1);
  });

  it('run gives a state dir without a key file (an older init) one, logs it, and stores the bootstrap token Secret encrypted', async () => {
    unlinkSync(join(dir, 'encryption-keys.json'));
    const port = await freeTcpPort();
    ctl = spawn(process.execPath, [main, 'run', '--state-dir', dir, '--etcd-endpoints', etcd.endpoints.join(','), '--listen', `127.0.0.1:${port}`, '--bootstrap-port', '0', '--node-port', '0', '--no-scheduler', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    ctl.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    ctl.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await until('the controller to serve', () => stdout.includes('serving https://') || ctl!.exitCode !== null);
    expect(ctl.exitCode, stderr).toBeNull();
    expect(stderr).toContain('the state dir had no encryption key');
    const [k] = readEncryptionKeyFile(join(dir, 'encryption-keys.json'));
    const id = JSON.parse(readFileSync(join(dir, 'bootstrap-token.json'), 'utf8')).token.slice(0, 6) as string;
    const key = `/flotilla/secrets/kube-system/bootstrap-token-${id}`;
    const v = (await raw.get(key).buffer())!;
    expect(v.subarray(0, AESGCM_PREFIX.length + 9).toString()).toBe(`${AESGCM_PREFIX}${k!.id}:`);
    expect(v.includes('token-secret-sha256')).toBe(false);
  });

  it('rotate-encryption-key re-writes the Secrets under a new key, and the running controller writes new ones under it', async () => {
    const [old] = readEncryptionKeyFile(join(dir, 'encryption-keys.json'));
    const r = cli('rotate-encryption-key', '--state-dir', dir, '--etcd-endpoints', etcd.endpoints.join(','));
    expect(r.code, r.stderr).toBe(0);
    const keys = readEncryptionKeyFile(join(dir, 'encryption-keys.json')).map((e) => e.id);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(old!.id);
    expect(r.stdout).toContain(`Added encryption key ${keys[0]} to ${join(dir, 'encryption-keys.json')}`);
    expect(r.stdout).toContain(`Re-wrote 1 of 1 Secrets under key ${keys[0]}`);
    expect(r.stdout).toContain(`Kept keys ${old!.id} for reading`);
    const all = await raw.getAll().prefix('/flotilla/secrets/').keys();
    for (const k of all) expect(await keyIdAt(k)).toBe(keys[0]);

    // the controller re-read the file: a token it creates now is under the new key
    await until('the controller to reload its keys', () => stderr.includes('encryption keys reloaded'));
    const ca = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8');
    const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const port = Number(/--listen 127\.0\.0\.1:(\d+)/.exec(ctl!.spawnargs.join(' '))![1]);
    const agent = new Agent({ connect: { ca } });
    try {
      const res = await request(`https://127.0.0.1:${port}/apis/flotilla.io/v1/bootstraptokens`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ttl: '1h' }),
      });
      const body = (await res.body.json()) as { token: string };
      expect(res.statusCode).toBe(201);
      expect(await keyIdAt(`/flotilla/secrets/kube-system/bootstrap-token-${body.token.slice(0, 6)}`)).toBe(keys[0]);
      // both tokens (the one re-written by the rotation, the new one) read back through the API
      const list = await request(`https://127.0.0.1:${port}/apis/flotilla.io/v1/bootstraptokens`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
      expect(list.statusCode).toBe(200);
      expect(((await list.body.json()) as { items: unknown[] }).items).toHaveLength(2);
    } finally {
      await agent.close();
    }

    // SIGHUP re-reads the file at once and leaves the controller running
    ctl!.kill('SIGHUP');
    await until('the SIGHUP reload', () => stderr.includes('SIGHUP: reloading the encryption keys'));
    expect(ctl!.exitCode).toBeNull();
  });

  it('refuses contradictory flags and a directory init did not make, with one line and exit code 1', () => {
    const bad = cli('rotate-encryption-key', '--state-dir', dir, '--no-rewrite', '--prune');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('flotilla-controller: --no-rewrite cannot be combined with --rewrite-only or --prune');
    const empty = mkdtempSync(join(tmpdir(), 'flotilla-not-a-state-dir-'));
    try {
      const r = cli('rotate-encryption-key', '--state-dir', empty);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('is not a controller state dir');
      expect(existsSync(join(empty, 'encryption-keys.json'))).toBe(false);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
