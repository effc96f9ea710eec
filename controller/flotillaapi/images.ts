// A node's image store over REST (admin only, like all of /apis/flotilla.io/v1),
// for `flotctl image`: the docker save/load path of hosts without a registry.
//   GET  /apis/flotilla.io/v1/nodes/{node}/images                  the node's images
//   POST /apis/flotilla.io/v1/nodes/{node}/images[?name=REF]       body: an OCI layout tar, streamed
//   GET  /apis/flotilla.io/v1/nodes/{node}/images/{ref}/export     the image as an OCI layout tar
//   GET  /apis/flotilla.io/v1/nodes/{node}/images/export?image=REF (the same, the reference in the query)
// Bodies are streams here (the tar goes to the node as it arrives), never
// buffered whole, so this is a plugin of its own with its own body parser.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../api/index.js';
import { MAX_IMAGE_TAR_BYTES } from '../../api/streams-protocol.js';
import { ImageTarTooLargeError, type NodeImagesProvider } from '../streams/index.js';
import { FLOTILLA_API } from './routes.js';

export interface NodeImageApiDeps {
  images: NodeImagesProvider;
}

type Query = Record<string, string | string[] | undefined>;

function q1(q: unknown, name: string): string | undefined {
  const v = (q as Query)[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** `busybox_1.35.tar` for `docker.io/library/busybox:1.35`: a file name for Content-Disposition. */
export function exportFileName(ref: string): string {
  const last = ref.split('/').pop() ?? 'image';
  return `${last.replace(/[^A-Za-z0-9._-]+/g, '_') || 'image'}.tar`;
}

const EMPTY_UPLOAD = 'the request body must be an OCI image layout tar (flotctl image import FILE.tar)';

/** The upload as it flows, held to the size limit (chunked uploads announce no length) and refused when empty. */
export async function* limitedUpload(body: AsyncIterable<Uint8Array>, max = MAX_IMAGE_TAR_BYTES): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  // A request stream stays open when the reader stops early: the route drains it, so the client reads the answer.
  const chunks = body instanceof Readable ? body.iterator({ destroyOnReturn: false }) : body;
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    if (bytes > max) throw new ImageTarTooLargeError();
    if (chunk.length > 0) yield chunk;
  }
  if (bytes === 0) throw new BadRequestError(EMPTY_UPLOAD);
}

/** Reads what is left of a request body and drops it. */
async function drain(body: Readable): Promise<void> {
  if (body.readableEnded || body.destroyed) return;
  await new Promise<void>((resolve) => {
    body.once('end', resolve);
    body.once('close', resolve);
    body.once('error', () => resolve());
    body.resume();
  });
}

export function registerNodeImageApi(app: FastifyInstance, d: NodeImageApiDeps): void {
  const base = `${FLOTILLA_API}/nodes/:node/images`;
  void app.register(async (scope) => {
    // The upload is handed on as a stream; the size limit is enforced while it flows.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scope.get<{ Params: { node: string } }>(base, async (req) => ({
      kind: 'NodeImageList',
      apiVersion: 'flotilla.io/v1',
      node: req.params.node,
      items: await d.images.list(req.params.node),
    }));

    scope.post<{ Params: { node: string } }>(base, async (req, reply) => {
      const length = Number(req.headers['content-length'] ?? NaN);
      const body = req.body as Readable | undefined;
      try {
        if (length > MAX_IMAGE_TAR_BYTES) throw new ImageTarTooLargeError();
        if (!body || length === 0) throw new BadRequestError(EMPTY_UPLOAD);
        const name = q1(req.query, 'name');
        const images = await d.images.import(req.params.node, limitedUpload(body), name ? { name } : {});
        return reply.code(201).send({ kind: 'NodeImageImport', apiVersion: 'flotilla.io/v1', node: req.params.node, images });
      } catch (e) {
        // The answer is read only once the client has sent its upload: the rest of
        // it is read and dropped first (a 2 GiB excess is cut off, the 413 is its answer).
        if (body && e instanceof ImageTarTooLargeError) reply.header('connection', 'close');
        else if (body) await drain(body);
        throw e;
      }
    });

    const serveExport = async (req: FastifyRequest, reply: FastifyReply, node: string, image: string | undefined) => {
      if (!image) throw new BadRequestError('the image to export is required: …/images/{image}/export or …/images/export?image=REF');
      const tar = await d.images.export(node, image);
      return reply
        .type('application/x-tar')
        .header('content-disposition', `attachment; filename="${exportFileName(image)}"`)
        .send(Readable.from(tar, { objectMode: false }));
    };
    scope.get<{ Params: { node: string } }>(`${base}/export`, (req, reply) => serveExport(req, reply, req.params.node, q1(req.query, 'image')));
    scope.get<{ Params: { node: string; image: string } }>(`${base}/:image/export`, (req, reply) => serveExport(req, reply, req.params.node, req.params.image));
  });
}
