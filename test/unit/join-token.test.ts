import { describe, expect, it } from 'vitest';
import { generateToken, newTokenRecord, parseToken, parseTtl, verifyToken, TOKEN_RE } from '../../controller/join/bootstrap-token.js';
import { parseCaPin } from '../../api/ca-pin.js';

const T0 = Date.UTC(2026, 0, 1);

describe('[join] bootstrap tokens', () => {
  it('are generated in the form [a-z0-9]{6}.[a-z0-9]{16} and differ each time', () => {
    const a = generateToken();
    expect(a).toMatch(TOKEN_RE);
    expect(generateToken()).not.toBe(a);
  });

  it('verify against their stored record, which keeps only a hash of the secret', () => {
    const t = generateToken();
    const rec = newTokenRecord(t, T0, 24 * 3600_000);
    expect(JSON.stringify(rec)).not.toContain(parseToken(t).secret);
    expect(() => verifyToken(t, rec, T0 + 1000)).not.toThrow();
  });

  it.each([
    ['a wrong secret', (t: string) => `${t.slice(0, 7)}${'x'.repeat(16)}`, T0, 'bootstrap token is not valid or has expired'],
    ['an expired token', (t: string) => t, T0 + 25 * 3600_000, 'bootstrap token is not valid or has expired'],
    ['a malformed token', () => 'abc.def', T0, 'invalid bootstrap token: expected the form [a-z0-9]{6}.[a-z0-9]{16}'],
  ])('refuse %s with a clear message', (_what, mutate, now, msg) => {
    const t = generateToken();
    const rec = newTokenRecord(t, T0, 24 * 3600_000);
    expect(() => verifyToken(mutate(t), rec, now)).toThrow(msg);
  });

  it('never expire with a TTL of 0', () => {
    const t = generateToken();
    const rec = newTokenRecord(t, T0, parseTtl('0'));
    expect(rec.expires).toBeUndefined();
    expect(() => verifyToken(t, rec, T0 + 10 * 365 * 86400_000)).not.toThrow();
  });

  it('parse TTLs and reject bad ones', () => {
    expect(parseTtl('24h')).toBe(86_400_000);
    expect(parseTtl('30m')).toBe(1_800_000);
    expect(parseTtl('90')).toBe(90_000);
    expect(() => parseTtl('1d')).toThrow('invalid --ttl "1d"');
  });

  it('CA pins must be sha256 and 64 hex digits', () => {
    expect(parseCaPin(`sha256:${'A'.repeat(64)}`)).toBe(`sha256:${'a'.repeat(64)}`);
    expect(() => parseCaPin('md5:abc')).toThrow('invalid --ca-hash "md5:abc": expected sha256:<64 hex digits>');
  });
});
