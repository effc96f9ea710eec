// The REST client: Kubernetes paths over HTTPS with the kubeconfig's CA, bearer
// token or client certificate. Error replies become ApiStatusError (the server's
// Status message), transport failures become ConnectionError with kubectl's wording.
import { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { WatchEvent, KubeObject, Status } from '../api/index.js';
import type { ConnectionConfig } from './kubeconfig.js';
import { ApiStatusError, ConnectionError } from './errors.js';

export const CLIENT_VERSION = 'v0.1.0';

export type Query = Record<string, string | number | boolean | string[] | undefined>;

export interface RequestOptions {
  query?: Query;
  /** A JSON-serialisable body, or a string sent as is. */
  body?: unknown;
  /** A body streamed as it is produced (exec -i); takes the place of `body`. */
  bodyStream?: AsyncIterable<Uint8Array>;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  /** How long the answer may take once the body is sent (an upload the server works on first); default the client's. */
  headersTimeoutMs?: number;
}

export interface Transport {
  readonly server: string;
  requestJson<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
  requestText(method: string, path: string, opts?: RequestOptions): Promise<string>;
  /** Streams the reply body (logs -f, exec); the error reply of a failed call is thrown first. */
  stream(method: string, path: string, opts?: RequestOptions): Promise<AsyncIterable<Uint8Array>>;
  /** Yields watch events until the server ends the stream; an ERROR event is thrown as ApiStatusError. */
  watch<T extends KubeObject = KubeObject>(path: string, query?: Query, signal?: AbortSignal): AsyncGenerator<WatchEvent<T>>;
  close(): Promise<void>;
}

export function buildUrl(server: string, path: string, query?: Query): string {
  const url = new URL(server.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, item);
    else if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  }
  return url.toString();
}

/** Turns a transport failure into kubectl's message for it. */
export function connectionErrorFor(server: string, err: unknown): ConnectionError {
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    /* keep undefined */
  }
  const host = url?.hostname ?? server;
  const port = url?.port || (url?.protocol === 'http:' ? '80' : '443');
  const hostPort = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  // undici wraps the socket error; walk the cause chain for the code.
  let e: unknown = err;
  let code: string | undefined;
  let message = err instanceof Error ? err.message : String(err);
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c && c !== 'UND_ERR_SOCKET' && c !== 'UND_ERR') {
      code = c;
      message = e.message;
      break;
    }
    e = (e as Error).cause;
  }
  switch (code) {
    case 'ECONNREFUSED':
      return new ConnectionError(`The connection to the server ${hostPort} was refused - did you specify the right host or port?`, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConnectionError(`Unable to connect to the server: dial tcp: lookup ${host}: no such host`, { cause: err });
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new ConnectionError(`Unable to connect to the server: dial tcp ${hostPort}: i/o timeout`, { cause: err });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new ConnectionError(`Unable to connect to the server: dial tcp ${hostPort}: connect: no route to host`, { cause: err });
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return new ConnectionError('Unable to connect to the server: x509: certificate signed by unknown authority', { cause: err });
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return new ConnectionError('Unable to connect to the server: x509: certificate has expired or is not yet valid', { cause: err });
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new ConnectionError(`Unable to connect to the server: x509: ${message}`, { cause: err });
    case 'ECONNRESET':
      return new ConnectionError(`Unable to connect to the server: the connection to ${hostPort} was reset`, { cause: err });
    default:
      return new ConnectionError(`Unable to connect to the server: ${message}`, { cause: err });
  }
}

export class RestClient implements Transport {
  readonly server: string;
  private readonly conn: ConnectionConfig;
  private readonly dispatcher: Agent;

  constructor(conn: ConnectionConfig, opts: { timeoutMs?: number } = {}) {
    this.conn = conn;
    this.server = conn.server;
    let url: URL;
    try {
      url = new URL(conn.server);
    } catch {
      throw new ConnectionError(`Unable to connect to the server: invalid server address "${conn.server}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ConnectionError(`Unable to connect to the server: unsupported protocol scheme "${url.protocol.replace(/:$/, '')}"`);
    }
    const timeout = opts.timeoutMs && opts.timeoutMs > 0 ? opts.timeoutMs : undefined;
    this.dispatcher = new Agent({
      connect: {
        ...(conn.ca !== undefined ? { ca: conn.ca } : {}),
        ...(conn.cert !== undefined ? { cert: conn.cert } : {}),
        ...(conn.key !== undefined ? { key: conn.key } : {}),
        ...(conn.tlsServerName !== undefined ? { servername: conn.tlsServerName } : {}),
        rejectUnauthorized: !conn.insecureSkipTlsVerify,
        timeout: 10_000,
      },
      headersTimeout: timeout ?? 60_000,
      bodyTimeout: timeout ?? 0,
    });
  }

  private headers(opts: RequestOptions): Record<string, string> {
    const h: Record<string, string> = {
      accept: opts.accept ?? 'application/json',
      'user-agent': `flotctl/${CLIENT_VERSION}`,
    };
    if (this.conn.token) h.authorization = `Bearer ${this.conn.token}`;
    else if (this.conn.username !== undefined) {
      h.authorization = `Basic ${Buffer.from(`${this.conn.username}:${this.conn.password ?? ''}`).toString('base64')}`;
    }
    if (opts.body !== undefined || opts.bodyStream !== undefined) h['content-type'] = opts.contentType ?? 'application/json';
    return h;
  }

  private async send(method: string, path: string, opts: RequestOptions): Promise<Dispatcher.ResponseData> {
    const body = opts.bodyStream ? Readable.from(opts.bodyStream, { objectMode: false }) : (opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    try {
      return await request(buildUrl(this.server, path, opts.query), {
        method: method as Dispatcher.HttpMethod,
        headers: this.headers(opts),
        dispatcher: this.dispatcher,
        ...(body !== undefined ? { body } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.headersTimeoutMs !== undefined ? { headersTimeout: opts.headersTimeoutMs } : {}),
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw connectionErrorFor(this.server, e);
    }
  }

  private async failIfError(res: Dispatcher.ResponseData): Promise<void> {
    if (res.statusCode < 400) return;
    const text = await res.body.text();
    throw ApiStatusError.fromResponse(res.statusCode, text);
  }

  async requestText(method: string, path: string, opts: RequestOptions = {}): Promise<string> {
    const res = await this.send(method, path, opts);
    await this.failIfError(res);
    try {
      return await res.body.text();
    } catch (e) {
      throw connectionErrorFor(this.server, e);
    }
  }

  async requestJson<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const text = await this.requestText(method, path, opts);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ConnectionError(`error: the server sent a reply that is not JSON for ${method} ${path}`);
    }
  }

  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const res = await this.send(method, path, opts);
    await this.failIfError(res);
    return res.body;
  }

  async *watch<T extends KubeObject = KubeObject>(path: string, query: Query = {}, signal?: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const body = await this.stream('GET', path, { query: { ...query, watch: 'true' }, ...(signal ? { signal } : {}) });
    let buffered = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line !== '') yield parseWatchLine<T>(line);
        }
      }
    } catch (e) {
      if ((e as Error).name === 'AbortError' || e instanceof ApiStatusError) throw e;
      throw connectionErrorFor(this.server, e);
    }
    if (buffered.trim() !== '') yield parseWatchLine<T>(buffered.trim());
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }
}

function parseWatchLine<T extends KubeObject>(line: string): WatchEvent<T> {
  let ev: WatchEvent<T>;
  try {
    ev = JSON.parse(line) as WatchEvent<T>;
  } catch {
    throw new ConnectionError('error: the server sent a watch event that is not JSON');
  }
  if (ev.type === 'ERROR') {
    const status = ev.object as unknown as Status;
    throw new ApiStatusError(status, status.code ?? 500);
  }
  return ev;
}
