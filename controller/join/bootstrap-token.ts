// Bootstrap tokens `[a-z0-9]{6}.[a-z0-9]{16}`: the public id names the token,
// the secret proves possession. Only a hash of the secret is stored.
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { BadRequestError, UnauthorizedError } from '../../api/index.js';

export const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface ParsedToken {
  id: string;
  secret: string;
}

/** What is stored for a token (in etcd, under /flotilla/bootstraptokens/<id>). */
export interface BootstrapTokenRecord {
  id: string;
  secretSha256: string;
  /** RFC 3339; absent = never expires. */
  expires?: string;
  description?: string;
  createdAt: string;
  usages: string[];
}

function randomString(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export function generateToken(): string {
  return `${randomString(6)}.${randomString(16)}`;
}

export function parseToken(token: string): ParsedToken {
  const m = TOKEN_RE.exec(token.trim());
  if (!m) throw new BadRequestError('invalid bootstrap token: expected the form [a-z0-9]{6}.[a-z0-9]{16}');
  return { id: m[1]!, secret: m[2]! };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newTokenRecord(token: string, nowMs: number, ttlMs: number | undefined, description?: string): BootstrapTokenRecord {
  const { id, secret } = parseToken(token);
  return {
    id,
    secretSha256: hashSecret(secret),
    ...(ttlMs && ttlMs > 0 ? { expires: new Date(nowMs + ttlMs).toISOString() } : {}),
    ...(description ? { description } : {}),
    createdAt: new Date(nowMs).toISOString(),
    usages: ['authentication', 'signing'],
  };
}

/** Throws UnauthorizedError (one message for every failure, so ids cannot be probed). */
export function verifyToken(token: string, record: BootstrapTokenRecord | undefined, nowMs: number): void {
  let parsed: ParsedToken;
  try {
    parsed = parseToken(token);
  } catch {
    throw new UnauthorizedError('invalid bootstrap token: expected the form [a-z0-9]{6}.[a-z0-9]{16}');
  }
  if (!record || record.id !== parsed.id) throw new UnauthorizedError('bootstrap token is not valid or has expired');
  const a = Buffer.from(hashSecret(parsed.secret), 'hex');
  const b = Buffer.from(record.secretSha256, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new UnauthorizedError('bootstrap token is not valid or has expired');
  if (record.expires && Date.parse(record.expires) <= nowMs) throw new UnauthorizedError('bootstrap token is not valid or has expired');
}

/** Parses a TTL like `24h`, `30m`, `90s`, `0` (never expires). */
export function parseTtl(s: string): number {
  const m = /^(\d+)(h|m|s)?$/.exec(s.trim());
  if (!m) throw new BadRequestError(`invalid --ttl "${s}": expected a duration like 24h, 30m or 0`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * (unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : 1000);
}
