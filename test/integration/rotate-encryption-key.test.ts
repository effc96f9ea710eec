// `flotilla-controller rotate-encryption-key`, run in-process (rotateEncryptionKey,
// the command's body) against a real etcd: a new key goes first in the state
// dir's key file, every Secret is re-written under it and still reads back, a
// running controller's store follows the file, and old keys keep decrypting
// while they are listed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, silentLogger, type KubeObject } from '../../api/index.js';
import {
  AESGCM_PREFIX,
  AesGcmTransformer,
  DecryptionError,
  EtcdStore,
  type EtcdClientTls,
  ManagedEtcd,
  initStateDir,
  readEncryptionKeyFile,
  rotateEncryptionKey,
  statePaths,
  toEncryptionKeys,
  watchEncryptionKeyFile,
} from '../../controller/index.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

const secret = (name: string, namespace: string, value: string): Secret => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  data: { value: Buffer.from(value).toString('base64') },
});
const valueOf = (s: Secret) => Buffer.from(s.data!.value!, 'base64').toString();

let etcd: TestEtcd;
let raw: Etcd3;
const dirs: string[] = [];
const closers: (() => Promise<void> | void)[] = [];

/** A state dir as init makes it (one encryption key). */
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-rotate-'));
  dirs.push(d);
  initStateDir({ stateDir: d });
  return d;
}

/** A store as `run` builds it: the state dir's keys, followed as the file changes. */
function controllerStore(dir: string, endpoints = etcd.endpoints, tls?: EtcdClientTls): { store: EtcdStore; transformer: AesGcmTransformer } {
  const file = statePaths(dir).encryptionKeys;
  const transformer = new AesGcmTransformer(toEncryptionKeys(readEncryptionKeyFile(file)), { source: file });
  const w = watchEncryptionKeyFile(file, transformer, silentLogger(), 50);
  const store = new EtcdStore({ endpoints, tls, encryption: transformer, log: silentLogger() });
  closers.push(() => w.stop(), () => store.close());
  return { store, transformer };
}

const keyIdAt = async (k: string) => AesGcmTransformer.keyIdOf((await raw.get(k).buffer())!);
const ns = () => `ns-${randomBytes(4).toString('hex')}`;

async function allSecretKeyIds(): Promise<Map<string, string | undefined>> {
  const r = await raw.getAll().prefix('/flotilla/secrets/').exec();
  return new Map(r.kvs.map((kv) => [kv.key.toString(), AesGcmTransformer.keyIdOf(kv.value)]));
}

describe('rotate-encryption-key', () => {
  beforeAll(async () => {
    requireRoot('rotate-encryption-key');
    requireBinaries('rotate-encryption-key', 'etcd');
    etcd = await startEtcd();
    raw = new Etcd3({ hosts: etcd.endpoints });
  });

  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    // each test starts from an empty /flotilla/secrets/
    await raw.delete().prefix('/flotilla/').exec();
  });

  afterAll(async () => {
    raw?.close();
    await etcd?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('adds a new first key, keeps the old one, and re-writes every Secret under the new key id; all still read back', async () => {
    const dir = stateDir();
    const [old] = readEncryptionKeyFile(statePaths(dir).encryptionKeys);
    const { store } = controllerStore(dir);
    const n = ns();
    const before: Secret[] = [];
    for (let i = 0; i < 20; i++) before.push(await store.create('secrets', secret(`s${i}`, n, `value-${i}`)));
    // one stored before encryption, as plaintext JSON
    await raw.put(`/flotilla/secrets/${n}/legacy`).value(JSON.stringify({ ...secret('legacy', n, 'legacy-value'), metadata: { name: 'legacy', namespace: n, uid: 'u-legacy' } }));
    const pod = await store.create<KubeObject>('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: n } });

    const r = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, settleMs: 100, log: silentLogger() });

    expect(r.added).toMatch(/^[0-9a-f]{8}$/);
    expect(r.keyId).toBe(r.added);
    expect(r.keys).toEqual([r.added, old!.id]);
    expect(r.total).toBe(21);
    expect(r.rewritten).toBe(21);
    expect(r.etcd).toBe('external');
    expect(r.dropped).toEqual([]);
    const file = statePaths(dir).encryptionKeys;
    expect(readEncryptionKeyFile(file).map((k) => k.id)).toEqual([r.added, old!.id]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    for (const [k, id] of await allSecretKeyIds()) expect(id, k).toBe(r.added);
    // everything reads back the same through a store with the new file
    const { store: fresh } = controllerStore(dir);
    const items = (await fresh.list<Secret>('secrets', { namespace: n })).items;
    expect(items).toHaveLength(21);
    for (const b of before) {
      const got = items.find((s) => s.metadata.name === b.metadata.name)!;
      expect(valueOf(got)).toBe(valueOf(b));
      expect(got.metadata.uid).toBe(b.metadata.uid);
      expect(got.metadata.creationTimestamp).toBe(b.metadata.creationTimestamp);
    }
    expect(valueOf(items.find((s) => s.metadata.name === 'legacy')!)).toBe('legacy-value');
    // pods are not touched
    expect((await fresh.get({ resource: 'pods', namespace: n, name: 'p' })).metadata.resourceVersion).toBe(pod.metadata.resourceVersion);
  });

  it('a running controller picks up the new key from the file, so its own writes after the rotation use it', async () => {
    const dir = stateDir();
    const { store, transformer } = controllerStore(dir);
    const n = ns();
    await store.create('secrets', secret('a', n, 'a'));
    const r = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, settleMs: 200, log: silentLogger() });
    expect(transformer.primaryKeyId).toBe(r.added);
    const b = await store.create('secrets', secret('b', n, 'b'));
    expect(await keyIdAt(`/flotilla/secrets/${n}/b`)).toBe(r.added);
    expect(valueOf(await store.get<Secret>({ resource: 'secrets', namespace: n, name: 'b' }))).toBe(valueOf(b));
  });

  it('writes made while it runs are not lost, and end up under the new key', async () => {
    const dir = stateDir();
    const { store } = controllerStore(dir);
    const n = ns();
    for (let i = 0; i < 30; i++) await store.create('secrets', secret(`s${i}`, n, 'v0'));
    let stop = false;
    const last = new Map<string, string>();
    const writer = (async () => {
      for (let round = 1; !stop; round++) {
        for (let i = 0; i < 30 && !stop; i++) {
          const name = `s${i}`;
          const v = `v${round}`;
          try {
            await store.guaranteedUpdate<Secret>({ resource: 'secrets', namespace: n, name }, (s) => ({ ...s, data: { value: Buffer.from(v).toString('base64') } }));
            last.set(name, v);
          } catch (e) {
            if (!(e instanceof ConflictError)) throw e;
          }
        }
      }
    })();
    // the writer's store re-reads the key file every 50 ms; the rotation waits for that (settleMs)
    // before re-writing, with room for a loaded CI machine whose timers run late
    const r = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, settleMs: 2000, log: silentLogger() });
    stop = true;
    await writer;
    const { store: fresh } = controllerStore(dir);
    for (const [name, v] of last) expect(valueOf(await fresh.get<Secret>({ resource: 'secrets', namespace: n, name }))).toBe(v);
    for (const [k, id] of await allSecretKeyIds()) expect(id, k).toBe(r.added);
  });

  it('values only the old key can open still decrypt while it is listed; --prune drops keys no value uses', async () => {
    const dir = stateDir();
    const file = statePaths(dir).encryptionKeys;
    const [old] = readEncryptionKeyFile(file);
    const oldOnly = new AesGcmTransformer(toEncryptionKeys([old!]));
    const { store } = controllerStore(dir);
    const n = ns();
    await store.create('secrets', secret('kept', n, 'kept-value'));

    const r = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, settleMs: 0, log: silentLogger() });
    // a value sealed under the old key after the rewrite (a backup restored, a slow replica): still read
    const k = `/flotilla/secrets/${n}/late`;
    const late = { ...secret('late', n, 'late-value'), metadata: { name: 'late', namespace: n, uid: 'u-late' } };
    await raw.put(k).value(oldOnly.seal(Buffer.from(JSON.stringify(late)), k));
    const { store: rotated } = controllerStore(dir);
    expect(await keyIdAt(k)).toBe(old!.id);
    expect(valueOf(await rotated.get<Secret>({ resource: 'secrets', namespace: n, name: 'late' }))).toBe('late-value');

    // --prune: rewrites that one too, then only the new key stays in the file
    const pruned = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, rewriteOnly: true, prune: true, settleMs: 0, log: silentLogger() });
    expect(pruned.added).toBeUndefined();
    expect(pruned.keyId).toBe(r.added);
    expect(pruned.rewritten).toBe(1);
    expect(pruned.dropped).toEqual([old!.id]);
    expect(readEncryptionKeyFile(file).map((e) => e.id)).toEqual([r.added]);
    const { store: after } = controllerStore(dir);
    expect(valueOf(await after.get<Secret>({ resource: 'secrets', namespace: n, name: 'late' }))).toBe('late-value');
    expect(valueOf(await after.get<Secret>({ resource: 'secrets', namespace: n, name: 'kept' }))).toBe('kept-value');
  });

  it('a replica still on the old key file fails to read the re-written Secrets, naming the new key id', async () => {
    const dir = stateDir();
    const file = statePaths(dir).encryptionKeys;
    const oldKeys = toEncryptionKeys(readEncryptionKeyFile(file));
    const { store } = controllerStore(dir);
    const n = ns();
    await store.create('secrets', secret('s', n, 'v'));
    const r = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, settleMs: 0, log: silentLogger() });
    // another host's replica whose copy of the key file was not updated
    const replica = new EtcdStore({ endpoints: etcd.endpoints, encryption: new AesGcmTransformer(oldKeys, { source: '/other-host/encryption-keys.json' }), log: silentLogger() });
    closers.push(() => replica.close());
    const e = await replica.get({ resource: 'secrets', namespace: n, name: 's' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(DecryptionError);
    expect((e as Error).message).toContain(`encrypted with key "${r.added}"`);
    expect((e as Error).message).toContain('/other-host/encryption-keys.json');
  });

  it('--no-rewrite only adds the key; --rewrite-only re-writes without adding one', async () => {
    const dir = stateDir();
    const { store } = controllerStore(dir);
    const n = ns();
    await store.create('secrets', secret('s', n, 'v'));
    const [old] = readEncryptionKeyFile(statePaths(dir).encryptionKeys);
    const added = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, noRewrite: true, log: silentLogger() });
    expect(added.keys).toEqual([added.added, old!.id]);
    expect(added.rewritten).toBe(0);
    expect(await keyIdAt(`/flotilla/secrets/${n}/s`)).toBe(old!.id);
    const rewritten = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, rewriteOnly: true, settleMs: 0, log: silentLogger() });
    expect(rewritten.added).toBeUndefined();
    expect(rewritten.keys).toEqual(added.keys);
    expect(rewritten.rewritten).toBe(1);
    expect(await keyIdAt(`/flotilla/secrets/${n}/s`)).toBe(added.added);
    // nothing left to do: a second rewrite writes nothing
    const again = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, rewriteOnly: true, settleMs: 0, log: silentLogger() });
    expect(again).toMatchObject({ rewritten: 0, total: 1, passes: 1 });
  });

  it('refuses to run while another rotation holds the key file lock', async () => {
    const dir = stateDir();
    const file = statePaths(dir).encryptionKeys;
    writeFileSync(`${file}.lock`, `${process.pid}\n`);
    await expect(rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, log: silentLogger() })).rejects.toThrow(/another rotate-encryption-key \(pid \d+\) holds/);
    expect(readEncryptionKeyFile(file)).toHaveLength(1);
    // a lock left by a process that is gone is taken over
    writeFileSync(`${file}.lock`, '999999999\n');
    const r = await rotateEncryptionKey({ stateDir: dir, etcdEndpoints: etcd.endpoints, settleMs: 0, log: silentLogger() });
    expect(r.keys).toHaveLength(2);
  });

  it('without --etcd-endpoints it uses the state dir\'s managed etcd: the running one, or one it starts and stops', async () => {
    const dir = stateDir();
    const m = new ManagedEtcd({ stateDir: dir, log: silentLogger(), stopTimeoutMs: 3000 });
    await m.start();
    try {
      const { store } = controllerStore(dir, m.endpoints, m.clientTls);
      await store.create('secrets', secret('s', 'default', 'v'));
      const running = await rotateEncryptionKey({ stateDir: dir, settleMs: 0, log: silentLogger() });
      expect(running).toMatchObject({ etcd: 'running', rewritten: 1 });
      for (const c of closers.splice(0).reverse()) await c();
    } finally {
      await m.stop();
    }
    // no controller: rotate starts the managed etcd itself for the rewrite
    const stopped = await rotateEncryptionKey({ stateDir: dir, settleMs: 0, log: silentLogger() });
    expect(stopped).toMatchObject({ etcd: 'started', rewritten: 1, total: 1 });
    const again = new ManagedEtcd({ stateDir: dir, log: silentLogger(), stopTimeoutMs: 3000 });
    await again.start();
    try {
      const tls = again.clientTls!;
      const c = new Etcd3({ hosts: again.endpoints, credentials: { rootCertificate: Buffer.from(tls.caPem), certChain: Buffer.from(tls.certPem), privateKey: Buffer.from(tls.keyPem) } });
      const v = (await c.get('/flotilla/secrets/default/s').buffer())!;
      c.close();
      expect(v.subarray(0, AESGCM_PREFIX.length + 9).toString()).toBe(`${AESGCM_PREFIX}${stopped.added}:`);
    } finally {
      await again.stop();
    }
    // a state dir whose etcd never ran: only the key is added
    const fresh = await rotateEncryptionKey({ stateDir: stateDir(), settleMs: 0, log: silentLogger() });
    expect(fresh).toMatchObject({ etcd: 'none', total: 0 });
    expect(fresh.keys).toHaveLength(2);
  });
});
