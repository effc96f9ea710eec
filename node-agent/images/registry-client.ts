// A client of the OCI distribution (v2) API: manifests and blobs for pulls,
// uploads and manifest PUTs for pushes. It owns the transport concerns: the
// scheme (HTTPS, or HTTP for registries listed as insecure), the
// `WWW-Authenticate: Bearer` token flow (401 → token → retry, tokens cached per
// scope), Basic credentials, retries with exponential back-off on 5xx and
// network errors (never on other 4xx), and turning the registry's JSON error
// body into a typed error that carries its message.
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { realClock, silentLogger, type Clock, type Logger } from '../../api/index.js';
import { ImageError, type ImageErrorKind } from './errors.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import { registryEndpoint } from './reference.js';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  fetch?: FetchLike;
  /** Registries (`host` or `host:port`) spoken to over plain HTTP. */
  insecureRegistries?: string[];
  /**
   * Where to pull a registry's images from instead, as containerd's mirrors:
   * `{ 'docker.io': '10.200.0.1:5000' }` makes `busybox:1.35` come from the lab
   * registry. The image keeps its name; only the endpoint changes.
   */
  mirrors?: Record<string, string>;
  credentials?: (registry: string) => RegistryCredentials | undefined;
  clock?: Clock;
  /** Extra attempts after the first on 5xx/429/network errors. */
  retries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Time allowed until response headers arrive. */
  headerTimeoutMs?: number;
  log?: Logger;
  userAgent?: string;
}

export interface RequestSpec {
  registry: string;
  repository: string;
  method: string;
  /** Path after `/v2/<repository>/`, or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Actions the token scope asks for. */
  actions?: 'pull' | 'pull,push';
  /** What a 404 means here. */
  notFound?: ImageErrorKind;
  /** Statuses that are not errors (besides 2xx). */
  okStatuses?: number[];
  /** Credentials of this request (a pod's imagePullSecrets); else the client's own `credentials`. */
  credentials?: RegistryCredentials;
}

/** A short tag telling credentials apart in caches (never the secret itself). */
export function credentialsTag(c: RegistryCredentials | undefined): string {
  return c ? createHash('sha256').update(`${c.username}\0${c.password}`).digest('hex').slice(0, 16) : 'anonymous';
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (quoted or bare values). */
export function parseWwwAuthenticate(header: string): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!)) !== null) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

/** `CODE: message (detail)` of a distribution error body, or a short excerpt of what came back. */
export function registryMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { errors?: { code?: string; message?: string; detail?: unknown }[]; error?: string; message?: string };
    if (Array.isArray(j.errors) && j.errors.length > 0) {
      return j.errors
        .map((e) => `${e.code ?? 'UNKNOWN'}: ${e.message ?? ''}${e.detail !== undefined && e.detail !== null && typeof e.detail !== 'object' ? ` (${String(e.detail)})` : ''}`)
        .join('; ');
    }
    if (typeof j.error === 'string') return j.error;
    if (typeof j.message === 'string') return j.message;
  } catch {
    /* not JSON */
  }
  const text = body.replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function isRetryableStatus(s: number): boolean {
  return s >= 500 || s === 429 || s === 408;
}

export class RegistryClient {
  private readonly fetchFn: FetchLike;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly insecure: Set<string>;
  private readonly tokens = new Map<string, string>();
  private readonly opts: RegistryClientOptions;

  constructor(opts: RegistryClientOptions = {}) {
    this.opts = opts;
    this.fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? silentLogger();
    this.insecure = new Set(opts.insecureRegistries ?? []);
  }

  baseUrl(registry: string): string {
    const host = this.opts.mirrors?.[registry] ?? registryEndpoint(registry);
    const bare = host.replace(/:\d+$/, '');
    const scheme = this.insecure.has(host) || this.insecure.has(registry) || this.insecure.has(bare) ? 'http' : 'https';
    return `${scheme}://${host}`;
  }

  urlFor(spec: Pick<RequestSpec, 'registry' | 'repository' | 'path'>): string {
    if (/^https?:\/\//.test(spec.path)) return spec.path;
    if (spec.path.startsWith('/')) return `${this.baseUrl(spec.registry)}${spec.path}`;
    return `${this.baseUrl(spec.registry)}/v2/${spec.repository}/${spec.path}`;
  }

  /** GET a manifest by tag or digest with every Accept type we understand. */
  async getManifest(
    registry: string,
    repository: string,
    reference: string,
    credentials?: RegistryCredentials,
  ): Promise<{ body: Buffer; contentType: string; digestHeader?: string }> {
    const res = await this.request({
      registry,
      repository,
      method: 'GET',
      path: `manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      notFound: 'ManifestUnknown',
      ...(credentials ? { credentials } : {}),
    });
    const body = Buffer.from(await res.arrayBuffer());
    const digestHeader = res.headers.get('docker-content-digest') ?? undefined;
    return { body, contentType: res.headers.get('content-type') ?? '', ...(digestHeader ? { digestHeader } : {}) };
  }

  /** GET a blob; the caller streams and verifies the body. */
  async getBlob(registry: string, repository: string, digest: string, credentials?: RegistryCredentials): Promise<Response> {
    return this.request({ registry, repository, method: 'GET', path: `blobs/${digest}`, notFound: 'BlobUnknown', ...(credentials ? { credentials } : {}) });
  }

  /**
   * Sends one request with auth and retries. Returns the response when its
   * status is 2xx (or listed in okStatuses); otherwise throws a typed error
   * carrying the registry's message.
   */
  async request(spec: RequestSpec): Promise<Response> {
    const retries = this.opts.retries ?? 3;
    let delay = this.opts.backoffMs ?? 200;
    const maxDelay = this.opts.maxBackoffMs ?? 5_000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.requestOnce(spec);
      } catch (e) {
        const retryable = e instanceof ImageError ? e.retryable : false;
        if (!retryable || attempt >= retries) throw e;
        this.log.debug({ url: this.urlFor(spec), attempt: attempt + 1, err: (e as Error).message, delayMs: delay }, 'registry request failed; retrying');
        await this.clock.sleep(delay);
        delay = Math.min(delay * 2, maxDelay);
      }
    }
  }

  private async requestOnce(spec: RequestSpec): Promise<Response> {
    const url = this.urlFor(spec);
    const scope = `repository:${spec.repository}:${spec.actions ?? 'pull'}`;
    const creds = spec.credentials ?? this.opts.credentials?.(spec.registry);
    // Tokens are kept per credentials: a pod without the secret never rides on another pod's token.
    const tokenKey = `${spec.registry}|${scope}|${credentialsTag(creds)}`;
    let res = await this.send(spec, url, this.authHeader(spec.registry, tokenKey));
    if (res.status === 401) {
      const challenge = parseWwwAuthenticate(res.headers.get('www-authenticate') ?? '');
      const firstBody = await res.text().catch(() => '');
      const auth = await this.answerChallenge(creds, scope, tokenKey, challenge, firstBody);
      if (auth === undefined) throw this.statusError(spec, url, 401, 'Unauthorized', firstBody);
      res = await this.send(spec, url, auth);
    }
    if ((res.status >= 200 && res.status < 300) || spec.okStatuses?.includes(res.status)) return res;
    const body = await res.text().catch(() => '');
    throw this.statusError(spec, url, res.status, res.statusText, body);
  }

  private authHeader(registry: string, tokenKey: string): string | undefined {
    const token = this.tokens.get(tokenKey);
    if (token) return `Bearer ${token}`;
    return undefined;
  }

  private async answerChallenge(
    creds: RegistryCredentials | undefined,
    scope: string,
    tokenKey: string,
    ch: Challenge | undefined,
    body: string,
  ): Promise<string | undefined> {
    if (ch?.scheme === 'basic') {
      if (!creds) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    if (ch?.scheme !== 'bearer' || !ch.params.realm) return undefined;
    const realm = new URL(ch.params.realm);
    if (ch.params.service) realm.searchParams.set('service', ch.params.service);
    realm.searchParams.set('scope', ch.params.scope ?? scope);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    let res: Response;
    try {
      res = await this.fetchFn(realm.toString(), { method: 'GET', headers, signal: AbortSignal.timeout(this.opts.headerTimeoutMs ?? 30_000) });
    } catch (e) {
      throw new ImageError('RegistryUnavailable', `token server ${realm.origin} unreachable: ${causeText(e)}`, { cause: e });
    }
    const text = await res.text().catch(() => '');
    if (res.status !== 200) {
      const kind: ImageErrorKind = res.status >= 500 ? 'RegistryUnavailable' : 'RegistryUnauthorized';
      throw new ImageError(kind, `token server ${realm.origin} answered ${res.status} ${res.statusText}: ${registryMessage(text) || registryMessage(body)}`, {
        details: { status: res.status },
      });
    }
    let token: string | undefined;
    try {
      const j = JSON.parse(text) as { token?: string; access_token?: string };
      token = j.token ?? j.access_token;
    } catch {
      /* handled below */
    }
    if (!token) throw new ImageError('RegistryUnauthorized', `token server ${realm.origin} returned no token`);
    this.tokens.set(tokenKey, token);
    return `Bearer ${token}`;
  }

  private async send(spec: RequestSpec, url: string, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'flotilla-agent', ...spec.headers };
    if (authorization) headers.authorization = authorization;
    const ac = new AbortController();
    const timer = this.clock.setTimeout(() => ac.abort(new Error('no response headers in time')), this.opts.headerTimeoutMs ?? 30_000);
    try {
      const init: RequestInit = { method: spec.method, headers, signal: ac.signal, redirect: 'follow' };
      if (spec.body !== undefined) init.body = spec.body;
      return await this.fetchFn(url, init);
    } catch (e) {
      throw new ImageError('RegistryUnavailable', `${spec.method} ${url}: ${causeText(e)}`, { cause: e });
    } finally {
      timer.cancel();
    }
  }

  private statusError(spec: RequestSpec, url: string, status: number, statusText: string, body: string): ImageError {
    const msg = registryMessage(body);
    statusText ||= STATUS_CODES[status] ?? '';
    const text = `${spec.registry} answered ${status}${statusText ? ` ${statusText}` : ''} to ${spec.method} ${new URL(url).pathname}${msg ? `: ${msg}` : ''}`;
    let kind: ImageErrorKind;
    if (status === 404) kind = spec.notFound ?? 'RegistryError';
    else if (status === 401) kind = 'RegistryUnauthorized';
    else if (status === 403) kind = 'RegistryDenied';
    else if (isRetryableStatus(status)) kind = 'RegistryUnavailable';
    else kind = 'RegistryError';
    return new ImageError(kind, text, { retryable: isRetryableStatus(status), details: { status, registryMessage: msg } });
  }
}

function causeText(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const c = err?.cause;
  if (c?.code || c?.message) return `${c.code ?? ''}${c.code && c.message ? ' ' : ''}${c.message ?? ''}`.trim();
  return err?.message ?? String(e);
}
