// Flotilla's own REST resources beside the Kubernetes ones, under
// /apis/flotilla.io/v1 (admin only): bootstrap tokens (what kubeadm's `token`
// command manages) and the network's subnet leases. Not listed in discovery, so
// kubectl never trips over them; flotctl calls them by path.
import type { FastifyInstance } from 'fastify';
import { BadRequestError, NotFoundError, type Clock } from '../../api/index.js';
import type { SubnetLease, NetworkConfig } from '../../netplugin/index.js';
import { parseTtl, type BootstrapTokenRecord } from '../join/bootstrap-token.js';
import type { BootstrapTokenStore } from '../join/token-store.js';
import { joinCommandFor } from '../pki/state-dir.js';

export const FLOTILLA_API = '/apis/flotilla.io/v1';

export interface FlotillaApiDeps {
  tokens: BootstrapTokenStore;
  subnets: { list(): Promise<SubnetLease[]>; getConfig(): Promise<NetworkConfig> };
  /** What a join command names: the advertised address, bootstrap port and CA. */
  join: { address: string; bootstrapPort: number; caPem: string };
  clock: Clock;
}

export interface BootstrapTokenView {
  id: string;
  expires?: string;
  description?: string;
  createdAt: string;
  usages: string[];
}

const view = (r: BootstrapTokenRecord): BootstrapTokenView => ({
  id: r.id,
  ...(r.expires ? { expires: r.expires } : {}),
  ...(r.description ? { description: r.description } : {}),
  createdAt: r.createdAt,
  usages: r.usages,
});

function createBody(body: unknown): { ttlMs: number; description?: string } {
  let v: unknown = {};
  if (Buffer.isBuffer(body) && body.length > 0) {
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new BadRequestError(`request body: invalid JSON: ${(e as Error).message}`);
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequestError('request body: expected a JSON object {"ttl": "24h", "description": "…"}');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'ttl' && k !== 'description') throw new BadRequestError(`request body: unknown field "${k}" (allowed: ttl, description)`);
  if (o.ttl !== undefined && typeof o.ttl !== 'string') throw new BadRequestError('ttl: expected a duration string like "24h", "30m" or "0"');
  if (o.description !== undefined && typeof o.description !== 'string') throw new BadRequestError('description: expected a string');
  return { ttlMs: parseTtl((o.ttl as string | undefined) ?? '24h'), ...(o.description ? { description: o.description as string } : {}) };
}

export function registerFlotillaApi(app: FastifyInstance, d: FlotillaApiDeps): void {
  app.get(`${FLOTILLA_API}/bootstraptokens`, async () => ({
    kind: 'BootstrapTokenList',
    apiVersion: 'flotilla.io/v1',
    items: (await d.tokens.list()).sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map(view),
  }));

  app.post(`${FLOTILLA_API}/bootstraptokens`, async (req, reply) => {
    const { ttlMs, description } = createBody(req.body);
    const { token, record } = await d.tokens.create(ttlMs, description);
    return reply.code(201).send({
      kind: 'BootstrapToken',
      apiVersion: 'flotilla.io/v1',
      ...view(record),
      token,
      joinCommand: joinCommandFor({ ...d.join, token }),
    });
  });

  app.delete<{ Params: { id: string } }>(`${FLOTILLA_API}/bootstraptokens/:id`, async (req) => {
    const raw = req.params.id;
    const id = /^[a-z0-9]{6}(\.[a-z0-9]{16})?$/.test(raw) ? raw.slice(0, 6) : undefined;
    if (!id) throw new BadRequestError(`invalid token id "${raw}": expected [a-z0-9]{6} or a whole token`);
    if (!(await d.tokens.get(id))) throw new NotFoundError(`bootstrap token "${id}" not found`);
    await d.tokens.delete(id);
    return { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name: id, kind: 'bootstraptokens' } };
  });

  app.get(`${FLOTILLA_API}/subnets`, async () => {
    const [leases, config] = await Promise.all([d.subnets.list(), d.subnets.getConfig()]);
    return {
      kind: 'SubnetLeaseList',
      apiVersion: 'flotilla.io/v1',
      network: config,
      items: leases.sort((a, b) => a.nodeName.localeCompare(b.nodeName)),
    };
  });
}
