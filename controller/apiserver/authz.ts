// Who a request is (an admin bearer token, or a node's client certificate) and
// what a node may do through the REST API — the node restriction: read what it
// needs (pods, nodes, namespaces, events), write only its own Node, the status of
// pods bound to it, and events. Everything else is 403, worded as Kubernetes does.
import type { TLSSocket } from 'node:tls';
import { ForbiddenError, type Pod } from '../../api/index.js';
import type { Target } from './resource-api.js';

export type Identity = { kind: 'admin'; user: string } | { kind: 'node'; user: string; node: string };

const NODE_CN = /^system:node:([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;

/** The node a verified client certificate on this TLS socket speaks for, if any. */
export function nodeFromSocket(socket: unknown): string | undefined {
  const s = socket as Partial<TLSSocket> | undefined;
  if (!s || typeof s.getPeerCertificate !== 'function' || !s.authorized) return undefined;
  const cert = s.getPeerCertificate();
  const cn = cert?.subject?.CN;
  const m = NODE_CN.exec(Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''));
  const orgs = cert?.subject?.O;
  const inNodes = Array.isArray(orgs) ? orgs.includes('system:nodes') : orgs === 'system:nodes';
  return m && inNodes ? m[1] : undefined;
}

const READ_VERBS = new Set(['get', 'list', 'watch']);
const NODE_READABLE = new Set(['pods', 'nodes', 'namespaces', 'events']);

function forbidden(user: string, verb: string, t: Pick<Target, 'res' | 'namespace' | 'subresource' | 'name'>, why?: string): ForbiddenError {
  const resource = t.subresource ? `${t.res.plural}/${t.subresource}` : t.res.plural;
  const where = t.namespace ? ` in the namespace "${t.namespace}"` : ' at the cluster scope';
  const name = t.name ?? '';
  return new ForbiddenError(
    `${resource}${name ? ` "${name}"` : ''} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group ""${where}${why ? `: ${why}` : ''}`,
    { name, kind: t.res.plural },
  );
}

/**
 * Throws ForbiddenError unless `node` may do `verb` on `t`. `getPod` reads the
 * current pod (for status writes: allowed only on pods bound to the node).
 */
export async function authorizeNode(
  node: string,
  verb: string,
  t: Pick<Target, 'res' | 'namespace' | 'subresource' | 'name'>,
  getPod: () => Promise<Pod>,
): Promise<void> {
  const user = `system:node:${node}`;
  const plural = t.res.plural;
  if (READ_VERBS.has(verb) && NODE_READABLE.has(plural) && t.subresource !== 'log') return;
  if (plural === 'events' && verb === 'create') return;
  if (plural === 'nodes' && ['create', 'update', 'patch'].includes(verb) && (t.subresource === undefined || t.subresource === 'status')) {
    if (t.name === node || (verb === 'create' && t.name === undefined)) return;
    throw forbidden(user, verb, t, `a node may only modify its own Node object ("${node}")`);
  }
  if (plural === 'pods' && t.subresource === 'status' && (verb === 'update' || verb === 'patch') && t.name) {
    const pod = await getPod();
    if (pod.spec.nodeName === node) return;
    throw forbidden(user, verb, t, `pod ${t.namespace}/${t.name} is not bound to node "${node}"`);
  }
  throw forbidden(user, verb, t);
}

/** Flotilla's own admin APIs (tokens, subnets) are not for nodes. */
export function forbidNodeOnAdminPath(node: string, method: string, path: string): ForbiddenError {
  return new ForbiddenError(`User "system:node:${node}" cannot ${method} ${path}: it is for cluster administrators`);
}
