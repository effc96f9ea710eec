// The controller's side of `flotctl image`: a node's image store through its
// agent's stream port (ImportImage, ExportImage, ListImages). The node must be
// known (404 otherwise) and Ready (503): an image sent to a node that is not
// there would only fail later and less clearly.
import type * as grpc from '@grpc/grpc-js';
import {
  FlotillaError,
  NotFoundError,
  UnavailableError,
  type Logger,
  type Node,
} from '../../api/index.js';
import {
  IMAGE_TAR_CHUNK_BYTES,
  MAX_IMAGE_TAR_BYTES,
  type ImageTarChunkMsg,
  type ImportImageResponseMsg,
  type ListImagesResponseMsg,
  type NodeImageMsg,
} from '../../api/streams-protocol.js';
import type { Store } from '../storage/store.js';
import { CallReader } from './call-reader.js';
import type { NodeConn } from './node-conn.js';

export type NodeImage = NodeImageMsg;

export interface NodeImagesProvider {
  /** The images stored on the node, by name. */
  list(nodeName: string): Promise<NodeImage[]>;
  /** Sends an OCI layout tar to the node's store; the image names it recorded. */
  import(nodeName: string, tar: AsyncIterable<Uint8Array>, opts?: { name?: string }): Promise<string[]>;
  /** One image of the node as an OCI layout tar; errors (unknown image…) are thrown before the first byte. */
  export(nodeName: string, image: string): Promise<AsyncIterable<Uint8Array>>;
}

/** Too much to upload: the limit is the agent's too. */
export class ImageTarTooLargeError extends FlotillaError {
  constructor() {
    super('RequestEntityTooLarge', `the image tar is larger than ${MAX_IMAGE_TAR_BYTES} bytes (2 GiB), the most a node accepts`);
  }
}

/** Throws unless the node can take an image request now: known (404) and Ready (503). */
export function checkImageNode(nodeName: string, node: Node | undefined): Node {
  if (!node) throw new NotFoundError(`nodes "${nodeName}" not found`, { kind: 'nodes', name: nodeName });
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') {
    const why = ready ? `${ready.status}${ready.reason ? `, ${ready.reason}` : ''}` : 'no Ready condition yet';
    throw new UnavailableError(`node "${nodeName}" is not Ready (${why}): its images cannot be reached now`);
  }
  return node;
}

/** Splits `chunk` into messages no larger than the protocol's chunk size. */
export function* tarMessages(chunk: Uint8Array, size = IMAGE_TAR_CHUNK_BYTES): Generator<Buffer> {
  const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  for (let at = 0; at < b.length; at += size) yield b.subarray(at, Math.min(b.length, at + size));
}

type Client = NodeConn['client'];

export function createNodeImages(o: {
  store: Store;
  connect(nodeName: string, node?: Node): Promise<NodeConn>;
  convertFor(nodeName: string, conn: NodeConn): (e: unknown) => FlotillaError;
  log: Logger;
}): NodeImagesProvider {
  async function open(nodeName: string): Promise<NodeConn> {
    let node: Node | undefined;
    try {
      node = await o.store.get<Node>({ resource: 'nodes', name: nodeName });
    } catch (e) {
      if (!(e instanceof FlotillaError && e.code === 'NotFound')) throw e;
    }
    return o.connect(nodeName, checkImageNode(nodeName, node));
  }

  return {
    async list(nodeName) {
      const conn = await open(nodeName);
      const convert = o.convertFor(nodeName, conn);
      const r = await new Promise<ListImagesResponseMsg>((resolve, reject) =>
        (conn.client.ListImages as Client['ListImages']).call(conn.client, {}, (err: unknown, res: ListImagesResponseMsg) => (err ? reject(convert(err)) : resolve(res))),
      );
      return (r.images ?? []).map((i) => ({ name: i.name, digest: i.digest, size: Number(i.size ?? 0) }));
    },

    async import(nodeName, tar, opts = {}) {
      const conn = await open(nodeName);
      const convert = o.convertFor(nodeName, conn);
      let call!: grpc.ClientWritableStream<ImageTarChunkMsg>;
      let failed = false;
      const result = new Promise<ImportImageResponseMsg>((resolve, reject) => {
        call = (conn.client.ImportImage as (cb: (err: unknown, res: ImportImageResponseMsg) => void) => grpc.ClientWritableStream<ImageTarChunkMsg>).call(
          conn.client,
          (err, res) => (err ? reject(convert(err)) : resolve(res)),
        );
      });
      const over = result.then(
        () => undefined,
        () => {
          failed = true;
        },
      );
      let bytes = 0;
      let first = true;
      try {
        for await (const chunk of tar) {
          if (failed) break;
          bytes += chunk.length;
          if (bytes > MAX_IMAGE_TAR_BYTES) throw new ImageTarTooLargeError();
          for (const data of tarMessages(chunk)) {
            const msg: ImageTarChunkMsg = first && opts.name ? { data, name: opts.name } : { data };
            first = false;
            // The node's disk paces the upload, the upload paces the HTTP client.
            if (!call.write(msg)) await Promise.race([new Promise((resolve) => call.once('drain', resolve)), over]);
            if (failed) break;
          }
        }
      } catch (e) {
        call.cancel();
        await over;
        if (e instanceof FlotillaError) throw e;
        throw new UnavailableError(`the upload broke off after ${bytes} bytes: ${(e as Error).message}`);
      }
      if (first && opts.name && !failed) call.write({ data: Buffer.alloc(0), name: opts.name });
      if (!failed) call.end();
      const r = await result;
      o.log.info({ node: nodeName, images: r.images, bytes }, 'images imported on a node');
      return r.images ?? [];
    },

    async export(nodeName, image) {
      const conn = await open(nodeName);
      const call = (conn.client.ExportImage as (req: unknown) => grpc.ClientReadableStream<ImageTarChunkMsg>).call(conn.client, { image });
      const reader = new CallReader<ImageTarChunkMsg>(call, o.convertFor(nodeName, conn));
      // The agent writes the tar before its first chunk: errors until then are the HTTP answer.
      const first = await reader.next();
      if (first.done) throw new UnavailableError(`the agent of node "${nodeName}" ended the export of ${image} without sending the tar`);
      return {
        [Symbol.asyncIterator]: () => {
          let pending: Buffer | undefined = first.value.data;
          return {
            next: async (): Promise<IteratorResult<Uint8Array>> => {
              if (pending) {
                const v = pending;
                pending = undefined;
                return { value: v, done: false };
              }
              for (;;) {
                const r = await reader.next();
                if (r.done) return { value: undefined, done: true };
                if (r.value.data && r.value.data.length > 0) return { value: r.value.data, done: false };
              }
            },
            return: async (): Promise<IteratorResult<Uint8Array>> => {
              await reader.return();
              return { value: undefined, done: true };
            },
          };
        },
      };
    },
  };
}
