// Bearer tokens for API users. Compared in constant time: both sides are hashed
// to SHA-256 first so that neither the length nor a common prefix leaks.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A random admin token: 48 characters of base64url (36 random bytes). */
export function generateAdminToken(): string {
  return randomBytes(36).toString('base64url');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** A set of accepted tokens; `check` costs the same whatever the input. */
export class TokenAuthenticator {
  private readonly digests: { user: string; digest: Buffer }[];

  constructor(tokens: { token: string; user: string }[]) {
    this.digests = tokens.map((t) => ({ user: t.user, digest: digest(t.token) }));
  }

  /** The user a `Authorization` header value speaks for, or undefined. */
  authenticate(header: string | undefined): string | undefined {
    if (!header) return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return undefined;
    const d = digest(m[1]!);
    let user: string | undefined;
    for (const t of this.digests) {
      // no early exit: every token is compared
      if (timingSafeEqual(d, t.digest) && user === undefined) user = t.user;
    }
    return user;
  }
}
