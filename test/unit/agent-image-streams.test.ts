import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../api/index.js';
import { ImageError } from '../../node-agent/images/index.js';
import { userFacingError } from '../../node-agent/streams/images.js';

const FILE = '/var/lib/flotilla/image-transfers/import-0123abcd.tar';

describe("the agent's image RPCs: errors as the user reads them", () => {
  it('an archive the importer refuses is a 400 naming "the uploaded tar", not the scratch file', () => {
    const e = userFacingError(new ImageError('InvalidArchive', `${FILE}: no oci-layout file (only OCI image layout tars can be imported)`), FILE, 'the uploaded tar');
    expect(e).toMatchObject({ code: 'BadRequest', message: 'the uploaded tar: no oci-layout file (only OCI image layout tars can be imported)' });
  });

  it('other errors keep their code; those that do not mention the file pass as they are', () => {
    const missing = new ImageError('ImageNotPresent', 'image "docker.io/library/nothere:1" is not in the store');
    expect(userFacingError(missing, FILE, 'the exported tar')).toBe(missing);
    const io = new NotFoundError(`ENOENT: ${FILE}`);
    expect(userFacingError(io, FILE, 'the uploaded tar')).toMatchObject({ code: 'NotFound', message: 'ENOENT: the uploaded tar' });
  });
});
