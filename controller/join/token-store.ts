// Bootstrap tokens live in etcd as Kubernetes-style Secrets
// `kube-system/bootstrap-token-<id>` of type bootstrap.kubernetes.io/token,
// holding only the hash of the secret part.
import { NotFoundError, realClock, type Clock, type KubeObject } from '../../api/index.js';
import type { Store } from '../storage/store.js';
import { generateToken, newTokenRecord, type BootstrapTokenRecord } from './bootstrap-token.js';

export const TOKEN_NAMESPACE = 'kube-system';
export const TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';

interface TokenSecret extends KubeObject {
  type: string;
  stringData: Record<string, string>;
}

function toSecret(r: BootstrapTokenRecord): TokenSecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bootstrap-token-${r.id}`, namespace: TOKEN_NAMESPACE },
    type: TOKEN_SECRET_TYPE,
    stringData: {
      'token-id': r.id,
      'token-secret-sha256': r.secretSha256,
      ...(r.expires ? { expiration: r.expires } : {}),
      ...(r.description ? { description: r.description } : {}),
      'created-at': r.createdAt,
      usages: r.usages.join(','),
    },
  };
}

function fromSecret(s: TokenSecret): BootstrapTokenRecord {
  const d = s.stringData ?? {};
  return {
    id: d['token-id'] ?? '',
    secretSha256: d['token-secret-sha256'] ?? '',
    ...(d.expiration ? { expires: d.expiration } : {}),
    ...(d.description ? { description: d.description } : {}),
    createdAt: d['created-at'] ?? s.metadata.creationTimestamp ?? '',
    usages: (d.usages ?? '').split(',').filter(Boolean),
  };
}

export class BootstrapTokenStore {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock = realClock,
  ) {}

  /** Creates a token and returns it in full: the only time its secret is known. */
  async create(ttlMs: number | undefined, description?: string, token = generateToken()): Promise<{ token: string; record: BootstrapTokenRecord }> {
    const record = newTokenRecord(token, this.clock.now(), ttlMs, description);
    await this.store.create('secrets', toSecret(record));
    return { token, record };
  }

  async get(id: string): Promise<BootstrapTokenRecord | undefined> {
    try {
      const s = await this.store.get<TokenSecret>({ resource: 'secrets', namespace: TOKEN_NAMESPACE, name: `bootstrap-token-${id}` });
      return s.type === TOKEN_SECRET_TYPE ? fromSecret(s) : undefined;
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  async list(): Promise<BootstrapTokenRecord[]> {
    const l = await this.store.list<TokenSecret>('secrets', { namespace: TOKEN_NAMESPACE, filter: (s) => s.type === TOKEN_SECRET_TYPE });
    return l.items.map(fromSecret);
  }

  async delete(id: string): Promise<void> {
    try {
      await this.store.delete({ resource: 'secrets', namespace: TOKEN_NAMESPACE, name: `bootstrap-token-${id}` });
    } catch (e) {
      if (e instanceof NotFoundError) throw new NotFoundError(`bootstrap token "${id}" not found`);
      throw e;
    }
  }

  /** Removes expired tokens; returns how many. */
  async purgeExpired(): Promise<number> {
    let n = 0;
    for (const r of await this.list()) {
      if (r.expires && Date.parse(r.expires) <= this.clock.now()) {
        await this.delete(r.id).catch(() => undefined);
        n++;
      }
    }
    return n;
  }
}
