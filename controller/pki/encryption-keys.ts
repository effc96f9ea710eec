// The state dir's encryption key file (`encryption-keys.json`, 0600): the keys
// Secrets are encrypted with in etcd (see storage/encryption.ts).
//
//   { "apiVersion": "flotilla.io/v1", "kind": "EncryptionKeys",
//     "keys": [ { "id": "3f9a1c2e", "secret": "<base64 of 32 random bytes>", "created": "2026-11-23T02:00:00Z" }, … ] }
//
// The first key encrypts every write, all of them decrypt. `init` writes the file
// with one key, `run` adds it to a state dir made before it existed, and
// `rotate-encryption-key` puts a new key first. Every controller replica needs the
// same file, as every kube-apiserver needs the same EncryptionConfiguration.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { BadRequestError, NotFoundError, UnavailableError, rfc3339, type Logger } from '../../api/index.js';
import { ENCRYPTION_KEY_BYTES, KEY_ID_PATTERN, type AesGcmTransformer, type EncryptionKey } from '../storage/encryption.js';

export const ENCRYPTION_KEYS_KIND = 'EncryptionKeys';

/** One key as the file holds it. */
export interface EncryptionKeyEntry {
  id: string;
  /** Base64 of the 32-byte AES-256 key. */
  secret: string;
  /** RFC 3339, when the key was made. */
  created: string;
}

export interface EncryptionKeyFile {
  apiVersion: 'flotilla.io/v1';
  kind: typeof ENCRYPTION_KEYS_KIND;
  keys: EncryptionKeyEntry[];
}


/** A new random key whose id none of `taken` has. */
export function generateEncryptionKey(taken: Iterable<string> = [], nowMs = Date.now()): EncryptionKeyEntry {
  const used = new Set(taken);
  let id: string;
  do id = randomBytes(4).toString('hex');
  while (used.has(id));
  return { id, secret: randomBytes(ENCRYPTION_KEY_BYTES).toString('base64'), created: rfc3339(nowMs) };
}

/** The keys of a key file's text, checked; BadRequestError naming the file and what is wrong. */
export function parseEncryptionKeyFile(text: string, file: string): EncryptionKeyEntry[] {
  let doc: Partial<EncryptionKeyFile>;
  try {
    doc = JSON.parse(text) as Partial<EncryptionKeyFile>;
  } catch (e) {
    throw new BadRequestError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || doc.kind !== ENCRYPTION_KEYS_KIND || !Array.isArray(doc.keys)) {
    throw new BadRequestError(`${file} is not an ${ENCRYPTION_KEYS_KIND} file (expected {"kind":"${ENCRYPTION_KEYS_KIND}","keys":[…]})`);
  }
  if (doc.keys.length === 0) throw new BadRequestError(`${file} holds no keys`);
  const seen = new Set<string>();
  doc.keys.forEach((k, i) => {
    const id = (k as Partial<EncryptionKeyEntry>)?.id;
    if (typeof id !== 'string' || !KEY_ID_PATTERN.test(id)) throw new BadRequestError(`${file}: keys[${i}].id must match ${KEY_ID_PATTERN.source}`);
    if (seen.has(id)) throw new BadRequestError(`${file}: key id "${id}" appears twice`);
    seen.add(id);
    const secret = (k as Partial<EncryptionKeyEntry>).secret;
    if (typeof secret !== 'string' || Buffer.from(secret, 'base64').length !== ENCRYPTION_KEY_BYTES || !/^[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
      throw new BadRequestError(`${file}: key "${id}" must have a secret of ${ENCRYPTION_KEY_BYTES} bytes in base64`);
    }
  });
  return doc.keys.map((k) => ({ id: k.id, secret: k.secret, created: typeof k.created === 'string' ? k.created : '' }));
}

/** The keys the store uses, in the file's order. */
export function toEncryptionKeys(entries: readonly EncryptionKeyEntry[]): EncryptionKey[] {
  return entries.map((e) => ({ id: e.id, secret: Buffer.from(e.secret, 'base64') }));
}

/** Reads and checks the key file; NotFoundError when it is not there. */
export function readEncryptionKeyFile(file: string): EncryptionKeyEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${file} is missing`);
    throw new BadRequestError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parseEncryptionKeyFile(text, file);
}

function render(entries: readonly EncryptionKeyEntry[]): string {
  const doc: EncryptionKeyFile = { apiVersion: 'flotilla.io/v1', kind: ENCRYPTION_KEYS_KIND, keys: [...entries] };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function tempPath(file: string): string {
  return join(dirname(file), `.${randomBytes(6).toString('hex')}.encryption-keys.tmp`);
}

function writeTemp(file: string, entries: readonly EncryptionKeyEntry[]): string {
  const tmp = tempPath(file);
  writeFileSync(tmp, render(entries), { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  return tmp;
}

/** Replaces the key file in one step (a reader sees the old file or the new one, never a part). */
export function writeEncryptionKeyFile(file: string, entries: readonly EncryptionKeyEntry[]): void {
  const tmp = writeTemp(file, entries);
  try {
    renameSync(tmp, file);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}

/**
 * Writes a key file with one new key unless one exists (replicas starting at
 * once on one state dir agree on the first one's). Returns whether it wrote.
 */
export function createEncryptionKeyFile(file: string, nowMs = Date.now()): boolean {
  if (existsSync(file)) return false;
  const tmp = writeTemp(file, [generateEncryptionKey([], nowMs)]);
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

/** The state dir's keys, creating the file (one key) when a state dir made by an older init lacks it. */
export function ensureEncryptionKeyFile(file: string, nowMs = Date.now()): { entries: EncryptionKeyEntry[]; created: boolean } {
  const created = createEncryptionKeyFile(file, nowMs);
  return { entries: readEncryptionKeyFile(file), created };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding `<file>.lock` (one rotation at a time: two at once would
 * each write a key file without the other's new key). A lock left by a process
 * that is gone is taken over.
 */
export async function withEncryptionKeyLock<R>(file: string, fn: () => Promise<R>): Promise<R> {
  const lock = `${file}.lock`;
  let fd: number | undefined;
  for (let attempt = 0; fd === undefined; attempt++) {
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw new UnavailableError(`${lock} exists: another rotate-encryption-key is running (remove the file if none is)`);
      const pid = Number(readFileSync(lock, 'utf8').trim());
      // Empty: its owner is between creating and writing it.
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) {
        throw new UnavailableError(`another rotate-encryption-key${pid > 0 ? ` (pid ${pid})` : ''} holds ${lock}; wait for it to finish`);
      }
      unlinkSync(lock);
    }
  }
  try {
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return await fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      /* already gone */
    }
  }
}

export interface KeyFileWatch {
  /** Reads the file again now (SIGHUP); false when it is unreadable or invalid (the keys in use stay). */
  reload(): boolean;
  stop(): void;
}

/**
 * Keeps `transformer` on the keys of `file`: the file is checked every
 * `intervalMs` (a rotation on this host is in force within about that long) and
 * on reload(). A missing or invalid file is logged and the keys in use are kept.
 */
export function watchEncryptionKeyFile(file: string, transformer: AesGcmTransformer, log: Logger, intervalMs = 1000): KeyFileWatch {
  const stamp = (): string => {
    try {
      const st = statSync(file);
      return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch {
      return 'missing';
    }
  };
  // Stamped before the read: a change in between is seen by the first poll.
  let seen = stamp();
  let current = JSON.stringify(readEncryptionKeyFile(file).map((e) => [e.id, e.secret]));
  const reload = (): boolean => {
    let entries: EncryptionKeyEntry[];
    try {
      entries = readEncryptionKeyFile(file);
    } catch (e) {
      log.error({ file, err: (e as Error).message }, 'cannot reload the encryption keys; keeping the ones in use');
      return false;
    }
    const next = JSON.stringify(entries.map((e) => [e.id, e.secret]));
    if (next === current) return true;
    try {
      transformer.setKeys(toEncryptionKeys(entries));
    } catch (e) {
      log.error({ file, err: (e as Error).message }, 'cannot use the reloaded encryption keys; keeping the ones in use');
      return false;
    }
    current = next;
    log.info({ file, encryptingWith: transformer.primaryKeyId, keys: transformer.keyIds() }, 'encryption keys reloaded');
    return true;
  };
  const timer = setInterval(() => {
    const now = stamp();
    if (now === seen) return;
    seen = now;
    reload();
  }, intervalMs);
  timer.unref();
  return { reload, stop: () => clearInterval(timer) };
}
