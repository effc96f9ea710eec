// Probes (liveness, readiness, startup) and lifecycle hooks (postStart,
// preStop) of a container: validation worded as kube-apiserver words it, and
// the defaults it fills in. Called from the Pod descriptor (pod.ts).
import { isPlainObject } from '../helpers.js';
import { portNameErrors } from '../validation-rules.js';
import { FieldErrors, int, obj, objItems, oneOf, str, stringArray } from '../validation-core.js';

type Obj = Record<string, unknown>;

export const PROBE_KINDS = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
export const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'] as const;
export const HOOK_HANDLERS = ['exec', 'httpGet', 'sleep'] as const;
export const PROBE_DEFAULTS = { periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 } as const;
const SCHEMES = ['HTTP', 'HTTPS'] as const;
const HEADER_NAME = /^[-A-Za-z0-9]+$/;

export interface ProbeContext {
  /** True for an init container (spec.initContainers[i]). */
  init: boolean;
  /** The pod's terminationGracePeriodSeconds (sleep hooks must fit in it). */
  gracePeriodSeconds?: number;
}

/** The names of the container's ports (valid ones only). */
function portNamesOf(c: Obj): Set<string> {
  const names = new Set<string>();
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isPlainObject(p) && typeof p.name === 'string' && p.name !== '') names.add(p.name);
  return names;
}

/** A port by number (1–65535) or by an IANA_SVC_NAME the container's ports declare. */
function validatePort(e: FieldErrors, o: Obj, path: string, portNames: Set<string>, byName: boolean): void {
  const v = o.port;
  if (v === undefined || v === null || v === '') {
    e.required(path);
    return;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 1 || v > 65535) e.invalid(path, v, 'must be between 1 and 65535, inclusive');
    return;
  }
  if (typeof v !== 'string' || !byName) {
    e.wrongType(path, v, byName ? 'a string' : 'an integer');
    return;
  }
  const errs = portNameErrors(v);
  e.rule(path, v, errs);
  if (errs.length === 0 && !portNames.has(v)) e.invalid(path, v, `must be the name of one of the container's ports (${[...portNames].map((n) => JSON.stringify(n)).join(', ') || 'it names none'})`);
}

function validateExec(e: FieldErrors, h: Obj, p: string): void {
  const cmd = stringArray(e, h, 'command', `${p}.command`);
  if (!cmd || cmd.length === 0) e.required(`${p}.command`);
}

function validateHTTPGet(e: FieldErrors, h: Obj, p: string, portNames: Set<string>): void {
  const path = str(e, h, 'path', `${p}.path`);
  if (path === undefined || path === '') e.required(`${p}.path`);
  validatePort(e, h, `${p}.port`, portNames, true);
  str(e, h, 'host', `${p}.host`);
  oneOf(e, h, 'scheme', `${p}.scheme`, SCHEMES);
  for (const [hdr, hp] of objItems(e, h, 'httpHeaders', `${p}.httpHeaders`)) {
    const name = str(e, hdr, 'name', `${hp}.name`, true);
    if (name !== undefined && !HEADER_NAME.test(name)) {
      e.invalid(`${hp}.name`, name, "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')");
    }
    str(e, hdr, 'value', `${hp}.value`);
  }
}

/** Exactly one of ALLOWED set in H; returns it (or undefined after recording why not). */
function oneHandler(e: FieldErrors, h: Obj, p: string, allowed: readonly string[], known: readonly string[]): string | undefined {
  const set = known.filter((k) => h[k] !== undefined && h[k] !== null);
  if (set.length === 0) {
    e.required(p, 'must specify a handler type');
    return undefined;
  }
  for (const k of set.slice(1)) e.forbidden(`${p}.${k}`, 'may not specify more than 1 handler type');
  const first = set[0]!;
  if (!allowed.includes(first)) {
    e.forbidden(`${p}.${first}`, `not a ${allowed === HOOK_HANDLERS ? 'lifecycle hook' : 'probe'} handler: use one of ${allowed.join(', ')}`);
    return undefined;
  }
  return set.length === 1 ? first : undefined;
}

function validateHandler(e: FieldErrors, h: Obj, p: string, kind: string, c: Obj, ctx: ProbeContext): void {
  const portNames = portNamesOf(c);
  const allowed = kind === 'hook' ? HOOK_HANDLERS : PROBE_HANDLERS;
  const which = oneHandler(e, h, p, allowed, ['exec', 'httpGet', 'tcpSocket', 'grpc', 'sleep']);
  if (!which) return;
  const sub = obj(e, h, which, `${p}.${which}`);
  if (!sub) return;
  const sp = `${p}.${which}`;
  switch (which) {
    case 'exec':
      validateExec(e, sub, sp);
      break;
    case 'httpGet':
      validateHTTPGet(e, sub, sp, portNames);
      break;
    case 'tcpSocket':
      validatePort(e, sub, `${sp}.port`, portNames, true);
      str(e, sub, 'host', `${sp}.host`);
      break;
    case 'grpc':
      validatePort(e, sub, `${sp}.port`, portNames, false);
      str(e, sub, 'service', `${sp}.service`);
      break;
    case 'sleep': {
      const s = int(e, sub, 'seconds', `${sp}.seconds`, true);
      const grace = ctx.gracePeriodSeconds ?? 30;
      if (s !== undefined && (s < 1 || s >= grace)) {
        e.invalid(`${sp}.seconds`, s, `must be greater than 0 and less than terminationGracePeriodSeconds (${grace})`);
      }
      break;
    }
  }
}

function nonNegative(e: FieldErrors, o: Obj, key: string, path: string): number | undefined {
  const v = int(e, o, key, path);
  if (v !== undefined && v < 0) e.invalid(path, v, 'must be greater than or equal to 0');
  return v;
}

function validateProbe(e: FieldErrors, probe: Obj, p: string, kind: (typeof PROBE_KINDS)[number], c: Obj, ctx: ProbeContext): void {
  validateHandler(e, probe, p, 'probe', c, ctx);
  nonNegative(e, probe, 'initialDelaySeconds', `${p}.initialDelaySeconds`);
  for (const k of ['timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    const v = nonNegative(e, probe, k, `${p}.${k}`);
    // Defaults fill zeros in, so after defaulting a 0 here was sent on purpose past them.
    if (v === 0) e.invalid(`${p}.${k}`, v, 'must be greater than or equal to 1');
  }
  const st = probe.successThreshold;
  if (kind !== 'readinessProbe' && typeof st === 'number' && st !== 1) e.invalid(`${p}.successThreshold`, st, 'must be 1');
  const tg = int(e, probe, 'terminationGracePeriodSeconds', `${p}.terminationGracePeriodSeconds`);
  if (tg !== undefined) {
    if (kind === 'readinessProbe') e.invalid(`${p}.terminationGracePeriodSeconds`, tg, 'must not be set for readinessProbes');
    else if (tg <= 0) e.invalid(`${p}.terminationGracePeriodSeconds`, tg, 'must be greater than 0');
  }
}

/**
 * Validates the probes and lifecycle hooks of container C at path P. Regular
 * init containers may not have them; sidecars (restartPolicy Always) may.
 */
export function validateContainerProbes(e: FieldErrors, c: Obj, p: string, ctx: ProbeContext): void {
  const sidecar = ctx.init && c.restartPolicy === 'Always';
  for (const kind of PROBE_KINDS) {
    if (c[kind] === undefined || c[kind] === null) continue;
    if (ctx.init && !sidecar) {
      e.forbidden(`${p}.${kind}`, 'may not be set for init containers without restartPolicy=Always');
      continue;
    }
    const probe = obj(e, c, kind, `${p}.${kind}`);
    if (probe) validateProbe(e, probe, `${p}.${kind}`, kind, c, ctx);
  }
  if (c.lifecycle === undefined || c.lifecycle === null) return;
  if (ctx.init && !sidecar) {
    e.forbidden(`${p}.lifecycle`, 'may not be set for init containers without restartPolicy=Always');
    return;
  }
  const lc = obj(e, c, 'lifecycle', `${p}.lifecycle`);
  if (!lc) return;
  for (const hook of ['postStart', 'preStop'] as const) {
    const h = obj(e, lc, hook, `${p}.lifecycle.${hook}`);
    if (h) validateHandler(e, h, `${p}.lifecycle.${hook}`, 'hook', c, ctx);
  }
}

function defaultHTTPGet(h: unknown): void {
  if (!isPlainObject(h) || !isPlainObject(h.httpGet)) return;
  const g = h.httpGet;
  if (g.path === undefined || g.path === '') g.path = '/';
  g.scheme ??= 'HTTP';
}

/** Fills in the defaults kube-apiserver gives probes and hooks (zeros count as unset, as there). */
export function defaultContainerProbes(c: Obj): void {
  for (const kind of PROBE_KINDS) {
    const probe = c[kind];
    if (!isPlainObject(probe)) continue;
    for (const [k, v] of Object.entries(PROBE_DEFAULTS)) if (probe[k] === undefined || probe[k] === 0) probe[k] = v;
    defaultHTTPGet(probe);
  }
  if (isPlainObject(c.lifecycle)) {
    defaultHTTPGet(c.lifecycle.postStart);
    defaultHTTPGet(c.lifecycle.preStop);
  }
}
