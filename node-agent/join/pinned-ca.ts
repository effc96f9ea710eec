// Trust on first use, done right: before the agent trusts anything the
// controller says, it fetches the controller's certificate chain over TLS,
// finds the CA whose public key matches the --ca-hash pin, and checks that the
// serving certificate was signed by it. Only then does it talk gRPC with that CA.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { ForbiddenError, UnavailableError } from '../../api/index.js';
import { caPinOf, parseCaPin } from '../../api/ca-pin.js';

function splitHostPort(server: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(server.trim());
  if (!m) throw new UnavailableError(`invalid server address "${server}": expected HOST:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Connects to `server`, returns the CA certificate (PEM) that matches `pin`. */
export async function fetchPinnedCa(server: string, pin: string, timeoutMs = 10_000): Promise<string> {
  const want = parseCaPin(pin);
  const { host, port } = splitHostPort(server);
  const chain = await new Promise<tls.DetailedPeerCertificate>((resolve, reject) => {
    const sock = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: /^[\d.]+$/.test(host) ? undefined : host });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new UnavailableError(`timed out connecting to ${server}`));
    }, timeoutMs);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = sock.getPeerCertificate(true);
      sock.end();
      resolve(peer);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(new UnavailableError(`cannot reach the controller at ${server}: ${e.message}`, { cause: e }));
    });
  });
  if (!chain || !chain.raw) throw new ForbiddenError(`the server at ${server} presented no certificate`);
  const leaf = new X509Certificate(chain.raw);
  const seen = new Set<string>();
  for (let c: tls.DetailedPeerCertificate | undefined = chain; c && c.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    const cert = new X509Certificate(c.raw);
    if (caPinOf(cert.toString()) !== want) continue;
    if (!cert.ca) continue;
    if (cert.fingerprint256 !== leaf.fingerprint256 && !leaf.verify(cert.publicKey)) continue;
    return cert.toString();
  }
  throw new ForbiddenError(
    `the controller at ${server} is not the cluster you meant: its CA does not match --ca-hash ${want} (refusing to trust it)`,
  );
}
