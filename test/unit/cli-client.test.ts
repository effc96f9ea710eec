// The REST client over real TLS on loopback: CA verification, bearer token,
// Status errors, watch streams. The server here is a few lines of node:https
// answering canned replies; the real API server is in test/integration.
import { createServer, type Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import forge from 'node-forge';
import { RestClient } from '../../cli/client.js';
import { ApiStatusError, ConnectionError, formatError } from '../../cli/errors.js';

function selfSignedCa(): { caPem: string; certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const ca = forge.pki.createCertificate();
  ca.publicKey = keys.publicKey;
  ca.serialNumber = '01';
  ca.validity.notBefore = new Date(Date.now() - 60_000);
  ca.validity.notAfter = new Date(Date.now() + 3600_000);
  ca.setSubject([{ name: 'commonName', value: 'test-ca' }]);
  ca.setIssuer([{ name: 'commonName', value: 'test-ca' }]);
  ca.setExtensions([{ name: 'basicConstraints', cA: true }]);
  ca.sign(keys.privateKey, forge.md.sha256.create());
  const leafKeys = forge.pki.rsa.generateKeyPair(2048);
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = leafKeys.publicKey;
  leaf.serialNumber = '02';
  leaf.validity.notBefore = ca.validity.notBefore;
  leaf.validity.notAfter = ca.validity.notAfter;
  leaf.setSubject([{ name: 'commonName', value: 'apiserver' }]);
  leaf.setIssuer(ca.subject.attributes);
  leaf.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }]);
  leaf.sign(keys.privateKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(ca), certPem: forge.pki.certificateToPem(leaf), keyPem: forge.pki.privateKeyToPem(leafKeys.privateKey) };
}

let server: Server;
let url: string;
let ca: string;
let otherCa: string;
const seen: { auth?: string; contentType?: string; body?: string } = {};

beforeAll(async () => {
  const pki = selfSignedCa();
  ca = pki.caPem;
  otherCa = selfSignedCa().caPem;
  server = createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.auth = req.headers.authorization;
      seen.contentType = req.headers['content-type'];
      seen.body = body;
      if (req.url === '/version') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ gitVersion: 'v1.28.0' }));
      } else if (req.url?.startsWith('/api/v1/namespaces/default/pods?') && req.url.includes('watch=true')) {
        res.setHeader('content-type', 'application/json');
        res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }) + '\n');
        setTimeout(() => {
          // an event split across two chunks, then a 410 inside the stream
          res.write('{"type":"DELETED","object":{"metadata":');
          res.write('{"name":"a"}}}\n');
          res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version: 1 (5)' } }) + '\n');
        }, 20);
      } else if (req.url === '/api/v1/namespaces/default/pods/web') {
        res.statusCode = 404;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: 'pods "web" not found', details: { name: 'web', kind: 'pods' } }));
      } else {
        res.statusCode = 200;
        res.end('{}');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const client = (over: Partial<ConstructorParameters<typeof RestClient>[0]> = {}) =>
  new RestClient({ server: url, ca, token: 'tok.en', insecureSkipTlsVerify: false, namespace: 'default', ...over });

describe('REST client over TLS', () => {
  it('trusts the kubeconfig CA and sends the bearer token', async () => {
    const c = client();
    expect(await c.requestJson('GET', '/version')).toEqual({ gitVersion: 'v1.28.0' });
    expect(seen.auth).toBe('Bearer tok.en');
    await c.close();
  });

  it('refuses a server signed by another CA', async () => {
    const c = client({ ca: otherCa });
    const e = await c.requestJson('GET', '/version').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectionError);
    expect(formatError(e)).toBe('Unable to connect to the server: x509: certificate signed by unknown authority');
    await c.close();
  });

  it('turns a Status reply into ApiStatusError with the server message', async () => {
    const c = client();
    const e = await c.requestJson('GET', '/api/v1/namespaces/default/pods/web').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiStatusError);
    expect(formatError(e)).toBe('Error from server (NotFound): pods "web" not found');
    await c.close();
  });

  it('sends bodies as JSON with the content type asked for', async () => {
    const c = client();
    await c.requestJson('PATCH', '/api/v1/namespaces/default/pods/x', { body: { a: 1 }, contentType: 'application/strategic-merge-patch+json' });
    expect(seen.contentType).toBe('application/strategic-merge-patch+json');
    expect(seen.body).toBe('{"a":1}');
    await c.close();
  });

  it('reads watch events line by line and throws the ERROR event as a Status error', async () => {
    const c = client();
    const events: string[] = [];
    const e = await (async () => {
      for await (const ev of c.watch('/api/v1/namespaces/default/pods', { resourceVersion: '1' })) events.push(`${ev.type} ${ev.object.metadata.name}`);
    })().catch((x: unknown) => x);
    expect(events).toEqual(['ADDED a', 'DELETED a']);
    expect(e).toBeInstanceOf(ApiStatusError);
    expect((e as ApiStatusError).httpCode).toBe(410);
    await c.close();
  });
});
