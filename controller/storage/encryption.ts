// Encryption at rest of stored values (Secrets), in the shape of kube-apiserver's
// `aesgcm` provider: a value is stored as
//
//   k8s:enc:aesgcm:v1:<key id>:<nonce, 12 bytes><ciphertext><GCM tag, 16 bytes>
//
// AES-256-GCM under the named key, with the value's etcd key as authenticated
// data, so a value copied to another key does not decrypt. A value without the
// `k8s:enc:` mark is plaintext JSON written before encryption was switched on; it
// reads as it is and is encrypted on its next write.
//
// Keys are an ordered list: the first encrypts, every one decrypts (rotation adds
// a new first key). The nonce is synthetic: the first 12 bytes of
// HMAC-SHA256(nonce key, len(aad) ‖ aad ‖ plaintext), the nonce key derived from
// the AES key with HKDF. A nonce repeats only for the same plaintext at the same
// etcd key under the same key (then the whole value repeats, which shows only
// that an update changed nothing); for different values a repeat is as unlikely
// as with random nonces. Being deterministic lets the store compare encrypted
// bytes as it compares plain ones: an unchanged object is not written again, a
// write whose reply was lost is recognised by its own bytes, and a value already
// under the first key is left alone by a rewrite.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { InternalError } from '../../api/index.js';

/** The prefix of a value encrypted by this transformer (the key id and a colon follow). */
export const AESGCM_PREFIX = 'k8s:enc:aesgcm:v1:';
/** Bytes of an AES-256 key. */
export const ENCRYPTION_KEY_BYTES = 32;
/** What a key id may be: it sits between colons in every stored value. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const ENC_MARK = Buffer.from('k8s:enc:');
const AESGCM = Buffer.from(AESGCM_PREFIX);
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const COLON = 0x3a;

/** One key of the key file. */
export interface EncryptionKey {
  id: string;
  /** 32 bytes. */
  secret: Buffer;
}

/** A stored value that cannot be turned back into its object: an Internal error naming the etcd key. */
export class DecryptionError extends InternalError {
  /** The etcd key of the value. */
  readonly storageKey: string;
  /** The key id the value names, when it names one. */
  readonly keyId: string | undefined;

  constructor(storageKey: string, keyId: string | undefined, reason: string, opts: { cause?: unknown } = {}) {
    super(`cannot decrypt the value at ${storageKey}: ${reason}`, opts);
    this.storageKey = storageKey;
    this.keyId = keyId;
  }
}

interface PreparedKey {
  id: string;
  secret: Buffer;
  /** AESGCM_PREFIX + id + ':'. */
  prefix: Buffer;
  /** HMAC key of the synthetic nonce. */
  nonceKey: Buffer;
}

function prepare(k: EncryptionKey): PreparedKey {
  if (!KEY_ID_PATTERN.test(k.id)) throw new InternalError(`invalid encryption key id "${k.id}": letters, digits, ".", "_" and "-" only, at most 63`);
  if (k.secret.length !== ENCRYPTION_KEY_BYTES) {
    throw new InternalError(`encryption key "${k.id}" has ${k.secret.length} bytes; AES-256 needs ${ENCRYPTION_KEY_BYTES}`);
  }
  return {
    id: k.id,
    secret: Buffer.from(k.secret),
    prefix: Buffer.from(`${AESGCM_PREFIX}${k.id}:`),
    nonceKey: Buffer.from(hkdfSync('sha256', k.secret, Buffer.alloc(0), 'flotilla aesgcm v1 synthetic nonce', 32)),
  };
}

function asBuffer(b: Buffer | string): Buffer {
  return typeof b === 'string' ? Buffer.from(b) : b;
}

/** True when `stored` starts with `mark` (no allocation). */
function startsWith(stored: Buffer, mark: Buffer): boolean {
  return stored.length >= mark.length && mark.compare(stored, 0, mark.length) === 0;
}

export interface AesGcmTransformerOptions {
  /** Where the keys come from (the key file's path), named in the errors. */
  source?: string;
}

/**
 * Seals and opens stored values. With no keys it seals nothing (values stay
 * plaintext) and refuses every encrypted value.
 */
export class AesGcmTransformer {
  private byId = new Map<string, PreparedKey>();
  private primary: PreparedKey | undefined;
  private readonly source: string | undefined;

  constructor(keys: readonly EncryptionKey[] = [], o: AesGcmTransformerOptions = {}) {
    this.source = o.source;
    this.setKeys(keys);
  }

  /** Replaces the keys (a reloaded key file): the first encrypts from now on, all decrypt. */
  setKeys(keys: readonly EncryptionKey[]): void {
    const byId = new Map<string, PreparedKey>();
    for (const k of keys) {
      if (byId.has(k.id)) throw new InternalError(`encryption key id "${k.id}" appears twice${this.source ? ` in ${this.source}` : ''}`);
      byId.set(k.id, prepare(k));
    }
    this.byId = byId;
    this.primary = keys.length > 0 ? byId.get(keys[0]!.id) : undefined;
  }

  /** The id of the key that encrypts, or undefined when there is none (nothing is encrypted). */
  get primaryKeyId(): string | undefined {
    return this.primary?.id;
  }

  /** Every key id, the encrypting one first. */
  keyIds(): string[] {
    return [...this.byId.keys()];
  }

  /** The stored form of `plaintext` at etcd key `aad`: encrypted under the first key (as it is when there is none). */
  seal(plaintext: Buffer, aad: Buffer | string): Buffer {
    const k = this.primary;
    if (k === undefined) return plaintext;
    const ad = asBuffer(aad);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(ad.length);
    const nonce = createHmac('sha256', k.nonceKey).update(len).update(ad).update(plaintext).digest().subarray(0, NONCE_BYTES);
    const c = createCipheriv('aes-256-gcm', k.secret, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(ad);
    const head = c.update(plaintext);
    const tail = c.final();
    return Buffer.concat([k.prefix, nonce, head, tail, c.getAuthTag()]);
  }

  /**
   * The plaintext of the value stored at etcd key `aad`: decrypted when it is
   * encrypted, as it is when it is not. Throws DecryptionError (naming the key
   * and the key id) for an unknown key id, a damaged value, or a value that was
   * encrypted for another etcd key.
   */
  open(stored: Buffer, aad: Buffer | string): Buffer {
    if (!startsWith(stored, ENC_MARK)) return stored;
    const ad = asBuffer(aad);
    const at = ad.toString();
    if (!startsWith(stored, AESGCM)) {
      const scheme = stored.subarray(0, Math.min(stored.length, 40)).toString('latin1').split(':').slice(2, 4).join(':');
      throw new DecryptionError(at, undefined, `unknown encryption scheme "${scheme}" (this controller reads ${AESGCM_PREFIX.slice(0, -1)})`);
    }
    const end = stored.indexOf(COLON, AESGCM.length);
    if (end < 0 || end - AESGCM.length > 63) throw new DecryptionError(at, undefined, 'the value has no key id');
    const id = stored.toString('latin1', AESGCM.length, end);
    const k = this.byId.get(id);
    if (k === undefined) {
      const have = this.keyIds();
      throw new DecryptionError(
        at,
        id,
        `it was encrypted with key "${id}", which is not among the encryption keys of this controller` +
          `${this.source ? ` (${this.source})` : ''}: ${have.length > 0 ? `it has ${have.map((i) => `"${i}"`).join(', ')}` : 'it has none'}; ` +
          'copy the key file of the controller that wrote it to every replica',
      );
    }
    const body = stored.subarray(end + 1);
    if (body.length < NONCE_BYTES + TAG_BYTES) throw new DecryptionError(at, id, `the value is truncated (${body.length} bytes after the prefix)`);
    const nonce = body.subarray(0, NONCE_BYTES);
    const tag = body.subarray(body.length - TAG_BYTES);
    const d = createDecipheriv('aes-256-gcm', k.secret, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(ad);
    d.setAuthTag(tag);
    try {
      const head = d.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES));
      const tail = d.final();
      return tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch (e) {
      throw new DecryptionError(
        at,
        id,
        `authentication with key "${id}" failed: the value was altered, or was encrypted for another etcd key and copied here`,
        { cause: e },
      );
    }
  }

  /** The key id a stored value is encrypted with; undefined for a plaintext value. */
  static keyIdOf(stored: Buffer): string | undefined {
    if (!startsWith(stored, ENC_MARK)) return undefined;
    if (!startsWith(stored, AESGCM)) return stored.subarray(0, Math.min(stored.length, 40)).toString('latin1');
    const end = stored.indexOf(COLON, AESGCM.length);
    return end < 0 ? '' : stored.toString('latin1', AESGCM.length, end);
  }
}
