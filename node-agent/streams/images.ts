// The image RPCs of the agent's stream port (ImportImage, ExportImage,
// ListImages): `flotctl image import|export|list` through the controller, the
// docker save/load path of hosts without a registry. A tar is staged in a
// scratch file under the agent's state dir (the importer and exporter work on
// files), removed when the call ends whatever happens.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type * as grpc from '@grpc/grpc-js';
import { BadRequestError, FlotillaError, NotSupportedError, toFlotillaError, type Logger } from '../../api/index.js';
import {
  IMAGE_TAR_CHUNK_BYTES,
  MAX_IMAGE_TAR_BYTES,
  streamErrorToGrpc,
  type ExportImageRequestMsg,
  type ImageTarChunkMsg,
  type ImportImageResponseMsg,
  type ListImagesResponseMsg,
  type NodeImageMsg,
} from '../../api/streams-protocol.js';
import type { ImageService } from '../images/index.js';

/** What the stream port needs of the node's image store. */
export interface ImageAdmin {
  /** Imports every image of an OCI layout tar; the names recorded. */
  importImage(tarPath: string, opts?: { name?: string }): Promise<string[]>;
  /** Writes one stored image as an OCI layout tar (NotFound when it is not stored). */
  exportImage(ref: string, tarPath: string): Promise<void>;
  listImages(): Promise<NodeImageMsg[]>;
}

export interface ImageAdminOptions {
  admin: ImageAdmin;
  /** Where tars in transit are staged (under the agent's state dir). */
  scratchDir: string;
}

/** The ImageAdmin of a node's ImageService. */
export function imageAdminOf(images: ImageService): ImageAdmin {
  return {
    importImage: (tarPath, opts = {}) => images.importImage(tarPath, opts.name ? { name: opts.name } : {}),
    exportImage: (ref, tarPath) => images.exportImage(ref, tarPath),
    listImages: async () => {
      const out: NodeImageMsg[] = [];
      for (const rec of await images.listImages()) {
        // A record whose blobs are gone is as good as absent (a pull would fetch it again).
        const info = await images.getImage(rec.name).catch(() => undefined);
        if (!info) continue;
        out.push({ name: rec.name, digest: info.manifestDigest, size: info.size + info.manifest.config.size });
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },
  };
}

/**
 * The importer's and exporter's errors as the user should read them: the
 * scratch file's path means nothing to them ("the uploaded tar" does), and bad
 * input of theirs (an archive that is no OCI layout, a reference that does not
 * parse) is a 400.
 */
export function userFacingError(e: unknown, file: string, label: string): unknown {
  const fe = toFlotillaError(e);
  if (!fe.message.includes(file) && fe.code !== 'Invalid') return e;
  const message = fe.message.split(file).join(label);
  if (fe.code === 'Invalid') return new BadRequestError(message);
  return new FlotillaError(fe.code, message, { retryable: fe.retryable, cause: e });
}

/** Removes scratch tars a previous agent left behind (it stopped mid-transfer). */
export async function clearImageScratch(dir: string): Promise<void> {
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    if (/^(import|export)-[0-9a-f]+\.tar/.test(n)) await rm(join(dir, n), { force: true });
  }
}

type Authorize = (call: unknown) => void;

export function imageHandlers(o: { images?: ImageAdminOptions; nodeName: string; log: Logger; authorize: Authorize }): grpc.UntypedServiceImplementation {
  const need = (): ImageAdminOptions => {
    if (!o.images) throw new NotSupportedError(`node "${o.nodeName}" has no image store (a hollow node)`);
    return o.images;
  };
  const scratchFile = async (kind: 'import' | 'export'): Promise<string> => {
    const dir = need().scratchDir;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return join(dir, `${kind}-${randomBytes(8).toString('hex')}.tar`);
  };

  return {
    ImportImage: (call: grpc.ServerReadableStream<ImageTarChunkMsg, ImportImageResponseMsg>, callback: grpc.sendUnaryData<ImportImageResponseMsg>) => {
      const run = async (): Promise<ImportImageResponseMsg> => {
        o.authorize(call);
        const { admin } = need();
        const file = await scratchFile('import');
        try {
          return await receiveAndImport(admin, file);
        } finally {
          // Gone before the answer: whoever hears "imported" finds no copy left behind.
          await rm(file, { force: true });
        }
      };
      const receiveAndImport = async (admin: ImageAdmin, file: string): Promise<ImportImageResponseMsg> => {
        if (call.cancelled) throw new BadRequestError('the upload was cancelled');
        const out = createWriteStream(file, { mode: 0o600 });
        const closed = finished(out).catch((e: unknown) => e);
        let bytes = 0;
        let name: string | undefined;
        try {
          await new Promise<void>((resolve, reject) => {
            let failed = false;
            const fail = (e: unknown) => {
              failed = true;
              reject(e);
            };
            call.on('data', (m: ImageTarChunkMsg) => {
              if (failed) return;
              if (bytes === 0 && m.name) name = m.name;
              const data = m.data ?? Buffer.alloc(0);
              bytes += data.length;
              if (bytes > MAX_IMAGE_TAR_BYTES) {
                fail(new FlotillaError('RequestEntityTooLarge', `the image tar is larger than ${MAX_IMAGE_TAR_BYTES} bytes (2 GiB), the most a node accepts`));
                return;
              }
              // The sender is paced by the disk (gRPC flow control does the rest).
              if (data.length > 0 && !out.write(data)) {
                call.pause();
                out.once('drain', () => call.resume());
              }
            });
            // A disk that fails (full) fails the upload instead of leaving the call paused for a drain that never comes.
            out.once('error', (e) => fail(e));
            call.on('end', () => resolve());
            call.on('error', (e) => fail(e));
            call.on('cancelled', () => fail(new BadRequestError('the upload was cancelled')));
          });
        } finally {
          out.end();
          const err = await closed;
          if (err) throw err;
        }
        if (bytes === 0) throw new BadRequestError('the upload is empty: expected an OCI image layout tar');
        const images = await admin.importImage(file, name ? { name } : {}).catch((e: unknown) => {
          throw userFacingError(e, file, 'the uploaded tar');
        });
        o.log.info({ images, bytes }, 'images imported');
        return { images };
      };
      run().then(
        (r) => callback(null, r),
        (e: unknown) => {
          const fe = toFlotillaError(e);
          o.log.debug({ err: fe.message, code: fe.code }, 'image import failed');
          callback(streamErrorToGrpc(fe));
        },
      );
    },

    ExportImage: (call: grpc.ServerWritableStream<ExportImageRequestMsg, ImageTarChunkMsg>) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      const send = async (file: string) => {
        for await (const chunk of createReadStream(file, { highWaterMark: IMAGE_TAR_CHUNK_BYTES, signal: ac.signal })) {
          if (ac.signal.aborted) return;
          // A slow reader slows the file read, never the agent's memory.
          if (!call.write({ data: chunk as Buffer })) await new Promise<void>((resolve) => {
            call.once('drain', resolve);
            ac.signal.addEventListener('abort', () => resolve(), { once: true });
          });
        }
      };
      const run = async () => {
        o.authorize(call);
        const { admin } = need();
        const ref = (call.request.image ?? '').trim();
        if (!ref) throw new BadRequestError('an image reference is required');
        const file = await scratchFile('export');
        try {
          await admin.exportImage(ref, file).catch((e: unknown) => {
            throw userFacingError(e, file, 'the exported tar');
          });
          await send(file);
        } finally {
          await rm(file, { force: true });
        }
        if (ac.signal.aborted) return;
        o.log.info({ image: ref }, 'image exported');
        call.end();
      };
      run().catch((e: unknown) => {
        if (ac.signal.aborted) return;
        const fe = toFlotillaError(e);
        o.log.debug({ err: fe.message, code: fe.code }, 'image export failed');
        // grpc-js sends the status from its own 'error' listener (see server.ts).
        call.emit('error', streamErrorToGrpc(fe));
      });
    },

    ListImages: (call: grpc.ServerUnaryCall<unknown, ListImagesResponseMsg>, callback: grpc.sendUnaryData<ListImagesResponseMsg>) => {
      const run = async (): Promise<ListImagesResponseMsg> => {
        o.authorize(call);
        return { images: await need().admin.listImages() };
      };
      run().then(
        (r) => callback(null, r),
        (e: unknown) => callback(streamErrorToGrpc(e)),
      );
    },
  };
}
