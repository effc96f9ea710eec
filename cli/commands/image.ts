// flotctl image import FILE.tar [--node N]... [--name REF] | export IMAGE -o FILE.tar --node N | list [--node N]...
// A node's image store through the controller and the node's agent: the
// docker save/load path for hosts without a registry. import without --node
// goes to every Ready node.
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import type { KubeList, Node } from '../../api/index.js';
import { MAX_IMAGE_TAR_BYTES } from '../../api/streams-protocol.js';
import { action, type CliEnv } from '../command.js';
import { CliError, formatError } from '../errors.js';
import { formatTable } from '../printers/tabwriter.js';
import { addGlobalFlags, type Session } from '../session.js';

export const NODE_IMAGES_PATH = (node: string) => `/apis/flotilla.io/v1/nodes/${encodeURIComponent(node)}/images`;

interface NodeImage {
  name: string;
  digest: string;
  size: number;
}

/** How docker prints a name: `busybox:1.35` for `docker.io/library/busybox:1.35`, `me/app:1` for `docker.io/me/app:1`. */
export function familiarImageName(name: string): string {
  if (name.startsWith('docker.io/library/')) return name.slice('docker.io/library/'.length);
  if (name.startsWith('docker.io/')) return name.slice('docker.io/'.length);
  return name;
}

/** REPOSITORY and TAG columns of a stored name (`<none>` for a name by digest only). */
export function splitImageName(name: string): { repository: string; tag: string } {
  const familiar = familiarImageName(name);
  const at = familiar.indexOf('@');
  const base = at >= 0 ? familiar.slice(0, at) : familiar;
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) return { repository: base.slice(0, colon), tag: base.slice(colon + 1) };
  return { repository: base, tag: '<none>' };
}

/** `sha256:0123456789ab`: the digest as an image id is shown. */
export function shortDigest(digest: string): string {
  const m = /^(sha256:)([0-9a-f]{12})/.exec(digest);
  return m ? `${m[1]}${m[2]}` : digest;
}

/** `1.2MB`-style sizes, as docker and crictl print them (SI units). */
export function humanSize(bytes: number): string {
  if (bytes < 1000) return `${bytes}B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 'B';
  for (const unit of units) {
    if (v < 1000) break;
    v /= 1000;
    u = unit;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)}${u}`;
}

export function imageRows(images: NodeImage[], node?: string): string[][] {
  return images.map((i) => {
    const { repository, tag } = splitImageName(i.name);
    return [...(node !== undefined ? [node] : []), repository, tag, shortDigest(i.digest), humanSize(i.size)];
  });
}

const isReady = (n: Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** The nodes named with --node, or every Ready node. */
async function targetNodes(session: Session, named: string[] | undefined, what: string): Promise<string[]> {
  if (named && named.length > 0) return [...new Set(named)];
  const list = await session.client.requestJson<KubeList<Node>>('GET', '/api/v1/nodes');
  const ready = list.items.filter(isReady).map((n) => n.metadata.name!).sort();
  if (ready.length === 0) throw new CliError(`no Ready nodes to ${what}`);
  return ready;
}

/** How long a node may take to import an uploaded tar before flotctl gives up. */
const IMPORT_ANSWER_TIMEOUT_MS = 15 * 60_000;

interface ImportOptions {
  node?: string[];
  name?: string;
}

export async function runImageImport(session: Session, opts: ImportOptions, args: string[]): Promise<number> {
  if (args.length !== 1) throw new CliError('image import takes one file: flotctl image import FILE.tar [--node NODE]');
  const file = args[0]!;
  const st = await stat(file).catch(() => undefined);
  if (!st) throw new CliError(`${file}: no such file`);
  if (!st.isFile()) throw new CliError(`${file}: not a file (an OCI image layout tar is expected)`);
  if (st.size > MAX_IMAGE_TAR_BYTES) throw new CliError(`${file}: ${humanSize(st.size)} is more than a node accepts (2 GiB)`);
  let failed = 0;
  for (const node of await targetNodes(session, opts.node, 'import to')) {
    try {
      const r = await session.client.requestJson<{ images: string[] }>('POST', NODE_IMAGES_PATH(node), {
        bodyStream: createReadStream(file),
        contentType: 'application/x-tar',
        // The node imports (unpacks, verifies, stores) before it answers: minutes for a big tar.
        headersTimeoutMs: IMPORT_ANSWER_TIMEOUT_MS,
        ...(opts.name ? { query: { name: opts.name } } : {}),
      });
      for (const name of r.images) session.io.out(`imported ${familiarImageName(name)} on ${node}\n`);
    } catch (e) {
      failed++;
      session.io.err(`${formatError(e)}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

interface ExportOptions {
  node?: string[];
  output?: string;
}

export async function runImageExport(session: Session, opts: ExportOptions, args: string[]): Promise<number> {
  if (args.length !== 1) throw new CliError('image export takes one image: flotctl image export IMAGE -o FILE.tar --node NODE');
  const image = args[0]!;
  const nodes = opts.node ?? [];
  if (nodes.length !== 1) throw new CliError('image export needs the node to export from: --node NODE (exactly one)');
  if (!opts.output) throw new CliError('image export needs a file to write: -o FILE.tar (or -o - for stdout)');
  const node = nodes[0]!;
  const body = await session.client.stream('GET', `${NODE_IMAGES_PATH(node)}/${encodeURIComponent(image)}/export`, { accept: 'application/x-tar' });
  if (opts.output === '-') {
    const write = session.io.writeOut;
    if (!write) throw new CliError('this output cannot take binary data: use -o FILE.tar');
    for await (const chunk of body) write(chunk);
    return 0;
  }
  // Written beside the target and renamed: a broken transfer never leaves a truncated FILE.tar.
  const tmp = `${opts.output}.tmp-${process.pid}`;
  const out = createWriteStream(tmp, { mode: 0o644 });
  // Settled (never rejected unobserved) whatever happens to the file.
  const closed = finished(out).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += chunk.length;
      if (!out.write(chunk)) {
        const err = await Promise.race([new Promise<undefined>((resolve) => out.once('drain', () => resolve(undefined))), closed]);
        if (err) throw err;
      }
    }
    out.end();
    const err = await closed;
    if (err) throw err;
    await rename(tmp, opts.output);
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw new CliError(`exporting ${image} from ${node}: ${(e as Error).message || 'the transfer broke off'}`);
  }
  session.io.out(`exported ${image} on ${node} to ${opts.output} (${humanSize(bytes)})\n`);
  return 0;
}

interface ListOptions {
  node?: string[];
}

export async function runImageList(session: Session, opts: ListOptions): Promise<number> {
  const nodes = await targetNodes(session, opts.node, 'list');
  const many = nodes.length > 1 || !opts.node?.length;
  const rows: string[][] = [];
  for (const node of nodes) {
    const list = await session.client.requestJson<{ items: NodeImage[] }>('GET', NODE_IMAGES_PATH(node));
    rows.push(...imageRows(list.items ?? [], many ? node : undefined));
  }
  if (rows.length === 0) {
    session.io.err(`No images found on ${nodes.join(', ')}\n`);
    return 0;
  }
  session.io.out(formatTable([...(many ? ['NODE'] : []), 'REPOSITORY', 'TAG', 'DIGEST', 'SIZE'], rows));
  return 0;
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function register(program: Command, env: CliEnv): void {
  const image = program
    .command('image')
    .description("manage nodes' images without a registry: image import FILE.tar, image export IMAGE -o FILE.tar --node N, image list --node N");
  addGlobalFlags(
    image
      .command('import')
      .description('import the images of an OCI image layout tar (docker save / skopeo copy oci-archive:) on nodes; default: every Ready node')
      .argument('[file]')
      .option('--node <name>', 'a node to import on (repeatable)', collect)
      .option('--name <image>', 'the name for images the tar does not name'),
  ).action(action<ImportOptions>(env, (s, o, a) => runImageImport(s, o, a)));
  addGlobalFlags(
    image
      .command('export')
      .description("write one of a node's images as an OCI image layout tar")
      .argument('[image]')
      .option('--node <name>', 'the node to export from', collect)
      .option('-o, --output <file>', 'the tar file to write (- for stdout)'),
  ).action(action<ExportOptions>(env, (s, o, a) => runImageExport(s, o, a)));
  addGlobalFlags(
    image
      .command('list')
      .description("list nodes' images (REPOSITORY TAG DIGEST SIZE); default: every Ready node")
      .option('--node <name>', 'a node to list (repeatable)', collect),
  ).action(action<ListOptions>(env, (s, o) => runImageList(s, o)));
}
