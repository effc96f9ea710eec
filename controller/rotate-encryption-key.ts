// `flotilla-controller rotate-encryption-key`: puts a new key first in the state
// dir's encryption key file (the old ones stay, for reading), then re-writes
// every Secret so that it is encrypted under the new key, and checks that it is.
//
// It talks to etcd itself: the `--etcd-endpoints` given, else the state dir's
// managed etcd (the running controller's, or, when no controller runs, one it
// starts for the rewrite and stops again). A running controller on this host
// re-reads the key file within a second (or on SIGHUP), so its own writes move to
// the new key too; each object is re-written by compare-and-swap
// (guaranteedUpdate), so a concurrent write is never lost, and a value already
// under the new key is left alone. The rewrite is repeated until a scan of etcd
// finds no value under another key (a replica that was slow to reload may
// have written one meanwhile), at most `maxPasses` times.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, UnavailableError, componentLogger, realClock, type Clock, type Logger } from '../api/index.js';
import { ManagedEtcd, etcdHealthy } from './etcd/index.js';
import {
  ensureEncryptionKeyFile,
  generateEncryptionKey,
  toEncryptionKeys,
  withEncryptionKeyLock,
  writeEncryptionKeyFile,
  type EncryptionKeyEntry,
} from './pki/encryption-keys.js';
import { readEtcdClientCredentials } from './pki/etcd-pki.js';
import { statePaths } from './pki/state-dir.js';
import { AesGcmTransformer } from './storage/encryption.js';
import { EtcdStore, type EtcdClientTls } from './storage/etcd-store.js';
import { prefixFor } from './storage/keys.js';
import type { ObjectKey } from './storage/store.js';

export interface RotateEncryptionKeyOptions {
  stateDir: string;
  /** External etcd; default the state dir's managed etcd. */
  etcdEndpoints?: string[];
  /** TLS towards the external etcd; the managed one's comes from the state dir. */
  etcdTls?: EtcdClientTls;
  /** Add the new key and stop: copy the key file to the other replicas, then run with `rewriteOnly`. */
  noRewrite?: boolean;
  /** Add no key: re-write everything under the key that encrypts now. */
  rewriteOnly?: boolean;
  /** After a verified rewrite, drop the keys no stored value uses any more. Default false: old keys stay for reading. */
  prune?: boolean;
  /** The encrypted resources; default ['secrets'] (as the store's default). */
  resources?: string[];
  /**
   * How long after the key file changed the verifying scan waits, so running
   * replicas on this host have re-read it; default 1500 ms (they poll every second).
   */
  settleMs?: number;
  /** Rewrite passes before giving up; default 5. */
  maxPasses?: number;
  log?: Logger;
  clock?: Clock;
}

export interface RotateEncryptionKeyResult {
  keyFile: string;
  /** The key that encrypts now. */
  keyId: string;
  /** The key this run added (not with rewriteOnly). */
  added?: string;
  /** The key ids in the file afterwards, the encrypting one first. */
  keys: string[];
  /** Keys pruned from the file. */
  dropped: string[];
  /** Objects looked at (the first scan). */
  total: number;
  /** Objects this run wrote. */
  rewritten: number;
  /** Scans of etcd made (the last one found nothing to rewrite). */
  passes: number;
  /** Which etcd: the endpoints given, the running managed one, one started for the rewrite, or none (nothing stored yet). */
  etcd: 'external' | 'running' | 'started' | 'none';
}

interface StaleValue {
  resource: string;
  key: string;
  modRevision: string;
  keyId: string | undefined;
}

/** The etcd to re-write in: external, the running managed member, or one started here. */
async function connect(o: RotateEncryptionKeyOptions, log: Logger): Promise<{ endpoints: string[]; tls?: EtcdClientTls; how: RotateEncryptionKeyResult['etcd']; stop(): Promise<void> }> {
  const none = async () => undefined;
  if (o.etcdEndpoints && o.etcdEndpoints.length > 0) return { endpoints: o.etcdEndpoints, ...(o.etcdTls ? { tls: o.etcdTls } : {}), how: 'external', stop: none };
  const portsFile = join(o.stateDir, 'etcd-ports.json');
  // The running managed etcd takes only the controller's client certificate (pki/etcd-pki.ts).
  const tls = readEtcdClientCredentials(o.stateDir);
  if (existsSync(portsFile)) {
    try {
      const { client } = JSON.parse(readFileSync(portsFile, 'utf8')) as { client: number };
      const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${client}`;
      if (await etcdHealthy(endpoint, tls)) return { endpoints: [endpoint], ...(tls ? { tls } : {}), how: 'running', stop: none };
    } catch {
      /* not running: start it below */
    }
  }
  if (!existsSync(join(o.stateDir, 'etcd', 'member'))) return { endpoints: [], how: 'none', stop: none };
  const etcd = new ManagedEtcd({ stateDir: o.stateDir, log: componentLogger('etcd', log) });
  await etcd.start();
  return { endpoints: etcd.endpoints, ...(etcd.clientTls ? { tls: etcd.clientTls } : {}), how: 'started', stop: () => etcd.stop() };
}

function objectKeyOf(resource: string, key: string): ObjectKey {
  const [a, b] = key.slice(prefixFor(resource).length).split('/');
  return b === undefined ? { resource, name: a! } : { resource, namespace: a!, name: b };
}

/** Every stored value of `resources` not encrypted under `keyId`. */
async function scan(store: EtcdStore, resources: readonly string[], keyId: string): Promise<{ stale: StaleValue[]; total: number }> {
  const stale: StaleValue[] = [];
  let total = 0;
  for (const resource of resources) {
    const r = await store.client.getAll().prefix(prefixFor(resource)).exec();
    for (const kv of r.kvs) {
      total++;
      const id = AesGcmTransformer.keyIdOf(kv.value);
      if (id !== keyId) stale.push({ resource, key: kv.key.toString(), modRevision: kv.mod_revision, keyId: id });
    }
  }
  return { stale, total };
}

export async function rotateEncryptionKey(o: RotateEncryptionKeyOptions): Promise<RotateEncryptionKeyResult> {
  const log = o.log ?? componentLogger('rotate-encryption-key');
  const clock = o.clock ?? realClock;
  const resources = o.resources ?? ['secrets'];
  const keyFile = statePaths(o.stateDir).encryptionKeys;
  if (!existsSync(statePaths(o.stateDir).caCert)) {
    throw new NotFoundError(`${o.stateDir} is not a controller state dir: run "flotilla-controller init --state-dir ${o.stateDir}" first`);
  }
  return withEncryptionKeyLock(keyFile, async () => {
    let { entries } = ensureEncryptionKeyFile(keyFile, clock.now());
    let added: string | undefined;
    let changedAt = -Infinity;
    if (!o.rewriteOnly) {
      const key = generateEncryptionKey(entries.map((e) => e.id), clock.now());
      entries = [key, ...entries];
      writeEncryptionKeyFile(keyFile, entries);
      changedAt = clock.now();
      added = key.id;
      log.info({ file: keyFile, keyId: key.id, keys: entries.map((e) => e.id) }, 'added an encryption key; it encrypts from now on');
    }
    const keyId = entries[0]!.id;
    const result: RotateEncryptionKeyResult = { keyFile, keyId, ...(added ? { added } : {}), keys: entries.map((e) => e.id), dropped: [], total: 0, rewritten: 0, passes: 0, etcd: 'none' };
    if (o.noRewrite) return result;

    const etcd = await connect(o, log);
    result.etcd = etcd.how;
    if (etcd.how === 'none') return result; // never run: nothing is stored yet
    const transformer = new AesGcmTransformer(toEncryptionKeys(entries), { source: keyFile });
    const store = new EtcdStore({ endpoints: etcd.endpoints, tls: etcd.tls, encryption: transformer, encryptedResources: resources, sharedWatches: false, clock, log: componentLogger('store', log) });
    try {
      const maxPasses = o.maxPasses ?? 5;
      const settleMs = o.settleMs ?? 1500;
      for (let pass = 1; ; pass++) {
        // The scan that verifies comes after running replicas had time to re-read the file.
        if (pass > 1) await clock.sleep(Math.max(0, changedAt + settleMs - clock.now()));
        const { stale, total } = await scan(store, resources, keyId);
        result.passes = pass;
        if (pass === 1) result.total = total;
        if (stale.length === 0) break;
        if (pass > maxPasses) {
          const ids = [...new Set(stale.map((s) => s.keyId ?? 'plaintext'))];
          throw new UnavailableError(
            `${stale.length} of ${total} values are still not under key "${keyId}" after ${maxPasses} rewrites (they are under ${ids.join(', ')}), e.g. ${stale[0]!.key}: ` +
              `a controller replica keeps writing with an old key; copy ${keyFile} to every replica's state dir, then run "flotilla-controller rotate-encryption-key --rewrite-only"`,
          );
        }
        for (const s of stale) {
          try {
            // Unchanged object: encoded again under the first key; written only when the stored bytes differ.
            const after = await store.guaranteedUpdate(objectKeyOf(s.resource, s.key), (cur) => cur);
            if (after.metadata.resourceVersion !== s.modRevision) result.rewritten++;
          } catch (e) {
            if (e instanceof NotFoundError) continue; // deleted meanwhile
            throw e;
          }
        }
        log.info({ pass, stale: stale.length, rewritten: result.rewritten }, 'rewrote values under the new key');
      }
      if (o.prune && entries.length > 1) {
        // Every value is under the first key now (the scan above): the others decrypt nothing stored.
        const kept: EncryptionKeyEntry[] = [entries[0]!];
        result.dropped = entries.slice(1).map((e) => e.id);
        writeEncryptionKeyFile(keyFile, kept);
        result.keys = [keyId];
        log.info({ file: keyFile, dropped: result.dropped }, 'dropped the keys no value uses');
      }
      return result;
    } finally {
      await store.close();
      await etcd.stop();
    }
  });
}
