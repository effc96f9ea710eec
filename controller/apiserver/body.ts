// Request bodies: JSON or YAML objects, patch documents by media type.
import { BadRequestError } from '../../api/index.js';
import { parseYamlStream, yamlToJson, YamlValueError } from '../../api/yaml11.js';
import { MAX_BODY_BYTES, RequestEntityTooLargeError, UnsupportedMediaTypeError } from './media-errors.js';
import type { PatchType } from './resource-api.js';
import { PROTOBUF_MEDIA_TYPE, parseProtobufObject } from './protobuf.js';

export { MAX_BODY_BYTES };

export { RequestEntityTooLargeError, UnsupportedMediaTypeError };

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequestError(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * A YAML body read as kube-apiserver reads one (sigs.k8s.io/yaml on go-yaml
 * v2: `yes` is true, `010` is 8), by the same decoding `flotctl apply` uses.
 * One document only: a body is one object.
 */
function parseYaml(text: string): unknown {
  const { documents, position } = parseYamlStream(text);
  const invalid = (offset: number | undefined, what: string): BadRequestError => {
    const pos = offset === undefined ? undefined : position(offset);
    return new BadRequestError(`the request body is not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${what}`);
  };
  for (const doc of documents) {
    const err = doc.errors[0];
    if (err) throw invalid(err.pos[0], err.message.split('\n')[0]!);
  }
  const filled = documents.filter((d) => d.contents !== null);
  if (filled.length > 1) throw invalid(filled[1]!.contents!.range?.[0], `expected one document, found ${filled.length}`);
  if (filled.length === 0) return null;
  try {
    return yamlToJson(filled[0]!);
  } catch (e) {
    if (e instanceof YamlValueError) throw invalid(e.offset, e.message);
    throw e;
  }
}

/** An object body (create, update, binding, DeleteOptions) in JSON or YAML. */
export function parseObjectBody(contentType: string | undefined, raw: Buffer | undefined): unknown {
  const mt = mediaType(contentType);
  if (mt === PROTOBUF_MEDIA_TYPE && raw && raw.length > 0) return parseProtobufObject(raw);
  const text = raw ? raw.toString('utf8') : '';
  if (text.trim() === '') return undefined;
  if (mt === 'application/json' || mt === '' || mt === 'text/plain') return parseJson(text);
  if (mt === 'application/yaml' || mt === 'application/x-yaml' || mt === 'text/yaml') return parseYaml(text);
  throw new UnsupportedMediaTypeError(
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (for ConfigMap, Secret, Namespace) (got ${mt})`,
  );
}

/** The patch kind of a PATCH request's media type. */
export function patchTypeOf(contentType: string | undefined): PatchType {
  const mt = mediaType(contentType);
  switch (mt) {
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/json-patch+json':
      return 'json';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+cbor':
      throw new UnsupportedMediaTypeError(
        'server-side apply (application/apply-patch+yaml) is not supported by this server: use client-side apply (kubectl apply --server-side=false)',
      );
    default:
      throw new UnsupportedMediaTypeError(
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${mt || 'none'})`,
      );
  }
}

export function parsePatchBody(raw: Buffer | undefined): unknown {
  const text = raw ? raw.toString('utf8') : '';
  if (text.trim() === '') throw new BadRequestError('the patch is empty');
  return parseJson(text);
}
