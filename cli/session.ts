// What every command gets: its global flags, the output streams, the clock,
// and (made on first use) the REST client and the resource resolver.
import type { Command } from 'commander';
import { RestClient, type Transport } from './client.js';
import { CliError } from './errors.js';
import { loadKubeconfig, resolveConnection, type ConnectionConfig, type ConnectionFlags } from './kubeconfig.js';
import { ResourceResolver } from './resources.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** All of stdin, for `apply -f -`. */
  readStdin(): Promise<string>;
  /** Raw bytes to stdout/stderr (exec output need not be text); absent: decoded as UTF-8. */
  writeOut?(chunk: Uint8Array): void;
  writeErr?(chunk: Uint8Array): void;
  /** Stdin as it arrives (exec -i); close() lets the process exit while stdin is still open. */
  openStdin?(): { chunks: AsyncIterable<Uint8Array>; close(): void };
}

export const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
    return Buffer.concat(chunks).toString('utf8');
  },
  writeOut: (c) => void process.stdout.write(c),
  writeErr: (c) => void process.stderr.write(c),
  openStdin: () => ({ chunks: process.stdin, close: () => process.stdin.destroy() }),
};

export interface GlobalFlags extends ConnectionFlags {
  requestTimeout?: string;
}

/** Adds the flags every command accepts (kubectl's global flags). */
export function addGlobalFlags(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <path>', 'path to the kubeconfig file')
    .option('--context <name>', 'the kubeconfig context to use')
    .option('--cluster <name>', 'the kubeconfig cluster to use')
    .option('--user <name>', 'the kubeconfig user to use')
    .option('-s, --server <url>', 'the address of the API server')
    .option('--token <token>', 'bearer token for authentication')
    .option('--certificate-authority <path>', 'path to a CA certificate file')
    .option('--insecure-skip-tls-verify', "don't verify the server's certificate")
    .option('-n, --namespace <namespace>', 'the namespace scope for this request')
    .option('--request-timeout <duration>', 'how long to wait for a single request (e.g. 5s, 1m; 0 = no limit)');
}

/** `5s`, `1m`, `500ms`, `2h`, a bare number of seconds → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new CliError(`invalid value "${text}" for ${flag}: use a duration like 30s, 5m or 1h`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

export class Session {
  private transportValue?: Transport;
  private resolverValue?: ResourceResolver;
  private connValue?: ConnectionConfig;

  constructor(
    readonly flags: GlobalFlags,
    readonly io: Io,
    readonly now: () => number = () => Date.now(),
    private readonly env: NodeJS.ProcessEnv = process.env,
    transport?: Transport,
  ) {
    if (transport) this.transportValue = transport;
  }

  connection(): ConnectionConfig {
    this.connValue ??= resolveConnection(loadKubeconfig(this.flags, this.env), this.flags);
    return this.connValue;
  }

  get client(): Transport {
    if (!this.transportValue) {
      const timeoutMs = this.flags.requestTimeout ? parseDuration(this.flags.requestTimeout, '--request-timeout') : 0;
      this.transportValue = new RestClient(this.connection(), { timeoutMs });
    }
    return this.transportValue;
  }

  get resources(): ResourceResolver {
    this.resolverValue ??= new ResourceResolver(this.client);
    return this.resolverValue;
  }

  /** The namespace of namespaced requests: -n, else the context's, else `default`. */
  get namespace(): string {
    if (this.flags.namespace !== undefined && this.flags.namespace !== '') return this.flags.namespace;
    if (this.transportValue && !this.connValue) return 'default';
    return this.connection().namespace;
  }

  /** True when the user chose the namespace with -n. */
  get namespaceExplicit(): boolean {
    return this.flags.namespace !== undefined && this.flags.namespace !== '';
  }

  async close(): Promise<void> {
    await this.transportValue?.close();
  }
}
