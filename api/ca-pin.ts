// CA public key pins (`sha256:<hex>`): the hash of a CA certificate's
// SubjectPublicKeyInfo, as kubeadm prints them. The join command carries one so an
// agent can tell the real controller from an impostor before trusting it.
import { X509Certificate, createHash } from 'node:crypto';
import { BadRequestError } from './errors.js';

export function caPinOf(caPem: string | Buffer): string {
  const cert = new X509Certificate(caPem);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

export function parseCaPin(pin: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(pin.trim().toLowerCase());
  if (!m) throw new BadRequestError(`invalid --ca-hash "${pin}": expected sha256:<64 hex digits>`);
  return `sha256:${m[1]}`;
}

/** Constant-time comparison of two pins. */
export function pinMatches(caPem: string | Buffer, pin: string): boolean {
  const a = Buffer.from(caPinOf(caPem));
  const b = Buffer.from(parseCaPin(pin));
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
