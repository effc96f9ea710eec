// Values quoted in error messages: short ones as Kubernetes prints them, long
// ones cut with their length, objects as JSON (never [object Object]).
import { describe, expect, it } from 'vitest';
import { cutValue, quoteValue } from '../../api/quote.js';

describe('[api] values quoted in messages', () => {
  it('a short string is double-quoted, numbers and booleans bare, null and undefined as null', () => {
    expect(quoteValue('web')).toBe('"web"');
    expect(quoteValue('say "hi"')).toBe('"say \\"hi\\""');
    expect(quoteValue(8080)).toBe('8080');
    expect(quoteValue(true)).toBe('true');
    expect(quoteValue(null)).toBe('null');
    expect(quoteValue(undefined)).toBe('null');
  });

  it('a 1 MiB string is cut to 256 characters, with an ellipsis and its length', () => {
    const q = quoteValue('x'.repeat(1024 * 1024));
    expect(q).toBe(`"${'x'.repeat(256)}..." (1048576 characters)`);
  });

  it('objects and arrays are JSON, cut when long; a cycle is named by its type', () => {
    expect(quoteValue({ a: 1 })).toBe('{"a":1}');
    expect(quoteValue([1, 'b'])).toBe('[1,"b"]');
    const big = quoteValue({ k: 'v'.repeat(1000) });
    expect(big.length).toBeLessThan(300);
    expect(big).toMatch(/\.\.\. \(1008 characters\)$/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(quoteValue(cyclic)).toBe('<object>');
    expect(quoteValue(() => 1)).toBe('<function>');
  });

  it('cutValue leaves a short value alone and cuts a long one at the given length', () => {
    expect(cutValue('abc')).toBe('abc');
    expect(cutValue('abcdef', 3)).toBe('abc... (6 characters)');
  });
});
