// callerNode: the node a gRPC call speaks for comes from its client certificate,
// read once per connection (HTTP/2 session), never mixed up between connections.
import * as grpc from '@grpc/grpc-js';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callerNode } from '../../controller/agentapi/node-service.js';
import { signNodeCsr } from '../../controller/join/node-certificate.js';
import { generateCa, issueServingCert } from '../../controller/pki/certs.js';
import { createNodeCsr } from '../../node-agent/join/credentials.js';

const now = Date.now();
const ca = generateCa({ nowMs: now });
const serving = issueServingCert(ca, { hosts: ['127.0.0.1'], nowMs: now });

const whoami = {
  WhoAmI: {
    path: '/test.Who/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: string) => Buffer.from(v),
    requestDeserialize: (b: Buffer) => b.toString(),
    responseSerialize: (v: string) => Buffer.from(v),
    responseDeserialize: (b: Buffer) => b.toString(),
  },
} satisfies grpc.ServiceDefinition;

let server: grpc.Server;
let port: number;

function clientFor(node: string): grpc.Client {
  const { csrPem, keyPem } = createNodeCsr(node);
  const certPem = signNodeCsr(csrPem, node, ca, now);
  const creds = grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(keyPem), Buffer.from(certPem));
  return new grpc.Client(`127.0.0.1:${port}`, creds);
}

function ask(c: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest<string, string>(whoami.WhoAmI.path, whoami.WhoAmI.requestSerialize, whoami.WhoAmI.responseDeserialize, 'who', (e, v) =>
      e ? reject(e) : resolve(v!),
    ),
  );
}

describe('[agentapi] callerNode', () => {
  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(whoami, {
      WhoAmI: (call: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => {
        try {
          cb(null, callerNode(call));
        } catch (e) {
          cb({ code: grpc.status.UNAUTHENTICATED, details: (e as Error).message } as grpc.ServiceError);
        }
      },
    });
    const creds = grpc.ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(serving.certPem), private_key: Buffer.from(serving.keyPem) }], true);
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
  });

  afterAll(() => {
    server?.forceShutdown();
  });

  it('names the node of each connection, reading its certificate once per connection', async () => {
    const read = vi.spyOn(TLSSocket.prototype, 'getPeerCertificate');
    const a = clientFor('node-a');
    const b = clientFor('node-b');
    try {
      const answers = await Promise.all([ask(a), ask(b), ask(a), ask(b), ask(a), ask(b)]);
      expect(answers).toEqual(['node-a', 'node-b', 'node-a', 'node-b', 'node-a', 'node-b']);
      for (let i = 0; i < 10; i++) expect(await ask(a)).toBe('node-a');
      // Two connections, sixteen calls: the server read a certificate once per connection,
      // not once per call (the clients' own reads, checking the server, are not counted).
      const serverReads = read.mock.instances.filter((sock) => (sock as unknown as { _tlsOptions?: { isServer?: boolean } })._tlsOptions?.isServer === true);
      expect(serverReads).toHaveLength(2);
    } finally {
      read.mockRestore();
      a.close();
      b.close();
    }
  });
});
