// Secrets at rest, without etcd: the AES-GCM transformer the store puts values
// through, and the state dir's encryption key file.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/index.js';
import {
  AESGCM_PREFIX,
  AesGcmTransformer,
  DecryptionError,
  ensureEncryptionKeyFile,
  generateEncryptionKey,
  initStateDir,
  readEncryptionKeyFile,
  statusFromError,
  toEncryptionKeys,
  watchEncryptionKeyFile,
  writeEncryptionKeyFile,
  type EncryptionKey,
} from '../../controller/index.js';

const key = (id: string): EncryptionKey => ({ id, secret: randomBytes(32) });
const K1 = key('k1');
const K2 = key('k2');
const AT = '/flotilla/secrets/default/db';
const secret = Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, data: { password: Buffer.from('hunter2-correct-horse').toString('base64') } }));

function errorOf(fn: () => unknown): DecryptionError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DecryptionError);
    return e as DecryptionError;
  }
  throw new Error('expected a DecryptionError');
}

describe('the AES-GCM transformer', () => {
  it('seals a value as k8s:enc:aesgcm:v1:<key id>: + nonce + ciphertext + tag, and opens it again', () => {
    const t = new AesGcmTransformer([K1]);
    const sealed = t.seal(secret, AT);
    expect(sealed.subarray(0, AESGCM_PREFIX.length + 3).toString()).toBe(`${AESGCM_PREFIX}k1:`);
    // 12 bytes of nonce and 16 of tag around a ciphertext as long as the plaintext
    expect(sealed.length).toBe(AESGCM_PREFIX.length + 3 + 12 + secret.length + 16);
    expect(sealed.includes('hunter2')).toBe(false);
    expect(sealed.includes(Buffer.from('hunter2-correct-horse').toString('base64'))).toBe(false);
    expect(sealed.includes('"kind"')).toBe(false);
    expect(t.open(sealed, AT).equals(secret)).toBe(true);
    expect(AesGcmTransformer.keyIdOf(sealed)).toBe('k1');
  });

  it('encrypts one object at one key to the same bytes every time, and the same object at another key differently', () => {
    const t = new AesGcmTransformer([K1]);
    expect(t.seal(secret, AT).equals(t.seal(secret, AT))).toBe(true);
    expect(t.seal(secret, AT).equals(t.seal(secret, '/flotilla/secrets/default/other'))).toBe(false);
    const changed = Buffer.from(secret.toString().replace('db"', 'dc"'));
    // a different plaintext gets a different nonce, not only a different ciphertext
    expect(t.seal(changed, AT).subarray(0, 33).equals(t.seal(secret, AT).subarray(0, 33))).toBe(false);
  });

  it('reads a value without the prefix as the plaintext it is (values stored before encryption)', () => {
    const t = new AesGcmTransformer([K1]);
    expect(t.open(secret, AT)).toBe(secret);
    expect(AesGcmTransformer.keyIdOf(secret)).toBeUndefined();
  });

  it('refuses a value whose ciphertext or tag was altered, naming the key, as an Internal error (500)', () => {
    const t = new AesGcmTransformer([K1]);
    const sealed = t.seal(secret, AT);
    for (const at of [AESGCM_PREFIX.length + 3 + 12 + 5, sealed.length - 1, AESGCM_PREFIX.length + 3 + 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      const e = errorOf(() => t.open(bad, AT));
      expect(e.message).toContain(AT);
      expect(e.message).toContain('authentication with key "k1" failed');
      expect(e.code).toBe('Internal');
      expect(e.keyId).toBe('k1');
      expect(statusFromError(e)).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
    }
    expect(errorOf(() => t.open(sealed.subarray(0, AESGCM_PREFIX.length + 3 + 20), AT)).message).toContain('truncated');
  });

  it('refuses a value opened with another etcd key as authenticated data (a value copied to another key)', () => {
    const t = new AesGcmTransformer([K1]);
    const e = errorOf(() => t.open(t.seal(secret, AT), '/flotilla/secrets/default/copy'));
    expect(e.message).toContain('/flotilla/secrets/default/copy');
    expect(e.message).toContain('encrypted for another etcd key');
  });

  it('refuses a value under a key id it does not hold, naming that id, its own ids and its key file', () => {
    const writer = new AesGcmTransformer([K2, K1]);
    const reader = new AesGcmTransformer([K1], { source: '/var/lib/flotilla/encryption-keys.json' });
    const e = errorOf(() => reader.open(writer.seal(secret, AT), AT));
    expect(e.keyId).toBe('k2');
    expect(e.message).toContain('encrypted with key "k2"');
    expect(e.message).toContain('/var/lib/flotilla/encryption-keys.json');
    expect(e.message).toContain('"k1"');
    expect(errorOf(() => new AesGcmTransformer().open(writer.seal(secret, AT), AT)).message).toContain('it has none');
  });

  it('refuses an encryption scheme it does not know', () => {
    const t = new AesGcmTransformer([K1]);
    const e = errorOf(() => t.open(Buffer.from('k8s:enc:kms:v2:foo:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'), AT));
    expect(e.message).toContain('unknown encryption scheme "kms:v2"');
  });

  it('encrypts with the first key and decrypts with every key listed (rotation)', () => {
    const old = new AesGcmTransformer([K1]).seal(secret, AT);
    const t = new AesGcmTransformer([K2, K1]);
    expect(t.primaryKeyId).toBe('k2');
    expect(AesGcmTransformer.keyIdOf(t.seal(secret, AT))).toBe('k2');
    expect(t.open(old, AT).equals(secret)).toBe(true);
    // keys reloaded without k1: its values no longer open
    t.setKeys([K2]);
    expect(errorOf(() => t.open(old, AT)).keyId).toBe('k1');
  });

  it('without keys stores plaintext', () => {
    const t = new AesGcmTransformer();
    expect(t.primaryKeyId).toBeUndefined();
    expect(t.seal(secret, AT)).toBe(secret);
  });

  it('refuses keys that are not 32 bytes, ids that cannot sit in the prefix, and one id twice', () => {
    expect(() => new AesGcmTransformer([{ id: 'short', secret: randomBytes(16) }])).toThrow(/AES-256 needs 32/);
    expect(() => new AesGcmTransformer([{ id: 'a:b', secret: randomBytes(32) }])).toThrow(/invalid encryption key id/);
    expect(() => new AesGcmTransformer([K1, { id: 'k1', secret: randomBytes(32) }])).toThrow(/appears twice/);
  });
});

describe('the encryption key file', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'flotilla-keys-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('init writes one key, 0600, and init --force keeps the keys (Secrets in etcd stay readable)', () => {
    const d = dir();
    const r = initStateDir({ stateDir: d });
    expect(r.encryptionKeysFile).toBe(join(d, 'encryption-keys.json'));
    expect(r.written).toContain(r.encryptionKeysFile);
    expect(statSync(r.encryptionKeysFile).mode & 0o777).toBe(0o600);
    const keys = readEncryptionKeyFile(r.encryptionKeysFile);
    expect(keys).toHaveLength(1);
    expect(keys[0]!.id).toMatch(/^[0-9a-f]{8}$/);
    expect(Buffer.from(keys[0]!.secret, 'base64')).toHaveLength(32);
    const again = initStateDir({ stateDir: d, force: true });
    expect(again.written).not.toContain(r.encryptionKeysFile);
    expect(readEncryptionKeyFile(r.encryptionKeysFile)).toEqual(keys);
  });

  it('a state dir without a key file (an older init) gets one, once', () => {
    const f = join(dir(), 'encryption-keys.json');
    const first = ensureEncryptionKeyFile(f);
    expect(first.created).toBe(true);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const second = ensureEncryptionKeyFile(f);
    expect(second.created).toBe(false);
    expect(second.entries).toEqual(first.entries);
  });

  it('a bad key file is refused with a message naming the file and the fault', () => {
    const f = join(dir(), 'encryption-keys.json');
    const cases: [string, RegExp][] = [
      ['{', /is not valid JSON/],
      ['{"kind":"Other","keys":[]}', /is not an EncryptionKeys file/],
      ['{"kind":"EncryptionKeys","keys":[]}', /holds no keys/],
      ['{"kind":"EncryptionKeys","keys":[{"id":"a:b","secret":"x"}]}', /keys\[0\]\.id must match/],
      [`{"kind":"EncryptionKeys","keys":[{"id":"a","secret":"${randomBytes(16).toString('base64')}"}]}`, /secret of 32 bytes/],
    ];
    for (const [text, msg] of cases) {
      writeFileSync(f, text);
      expect(() => readEncryptionKeyFile(f)).toThrow(msg);
      expect(() => readEncryptionKeyFile(f)).toThrow(f);
    }
    expect(() => readEncryptionKeyFile(join(dir(), 'none.json'))).toThrow(/is missing/);
  });

  it('a running controller picks up a rewritten key file (polled) and keeps its keys when the new file is bad', async () => {
    const f = join(dir(), 'encryption-keys.json');
    const k1 = generateEncryptionKey();
    writeEncryptionKeyFile(f, [k1]);
    const t = new AesGcmTransformer(toEncryptionKeys([k1]));
    const w = watchEncryptionKeyFile(f, t, silentLogger(), 20);
    try {
      const k2 = generateEncryptionKey([k1.id]);
      writeEncryptionKeyFile(f, [k2, k1]);
      const deadline = Date.now() + 5000;
      while (t.primaryKeyId !== k2.id && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(t.keyIds()).toEqual([k2.id, k1.id]);
      writeFileSync(f, 'not json');
      expect(w.reload()).toBe(false);
      expect(t.keyIds()).toEqual([k2.id, k1.id]);
      expect(existsSync(f)).toBe(true);
      expect(readFileSync(f, 'utf8')).toBe('not json');
    } finally {
      w.stop();
    }
  });
});
