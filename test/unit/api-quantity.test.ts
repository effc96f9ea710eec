import { describe, expect, it } from 'vitest';
import { BadRequestError, parseQuantity, Quantity, tryParseQuantity } from '../../api/index.js';

const SYNTAX = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

describe('[api] quantities', () => {
  it.each([
    // input, millis, whole units (rounded up), canonical form
    ['250m', 250, 1, '250m'],
    ['1', 1000, 1, '1'],
    ['0.5', 500, 1, '500m'],
    ['.5', 500, 1, '500m'],
    ['1.', 1000, 1, '1'],
    ['1000m', 1000, 1, '1'],
    ['1500m', 1500, 2, '1500m'],
    ['2', 2000, 2, '2'],
    ['128Mi', 128 * 1024 ** 2 * 1000, 128 * 1024 ** 2, '128Mi'],
    ['1Gi', 1024 ** 3 * 1000, 1024 ** 3, '1Gi'],
    ['1024Mi', 1024 ** 3 * 1000, 1024 ** 3, '1Gi'],
    ['1.5Gi', 1.5 * 1024 ** 3 * 1000, 1.5 * 1024 ** 3, '1536Mi'],
    ['0.5Ki', 512000, 512, '512'],
    ['1Ki', 1024000, 1024, '1Ki'],
    ['1G', 1e12, 1e9, '1G'],
    ['1000M', 1e12, 1e9, '1G'],
    ['1500', 1.5e6, 1500, '1500'],
    ['1000', 1e6, 1000, '1k'],
    ['1k', 1e6, 1000, '1k'],
    ['1e3', 1e6, 1000, '1e3'],
    ['1.5e3', 1.5e6, 1500, '1500'],
    ['12E6', 12e9, 12e6, '12e6'],
    ['100n', 1, 1, '100n'],
    ['1u', 1, 1, '1u'],
    ['0', 0, 0, '0'],
    ['0Mi', 0, 0, '0'],
    ['+5', 5000, 5, '5'],
    ['-1', -1000, -1, '-1'],
    ['1E', 1e21, 1e18, '1E'],
  ])('parses %s as %d milli-units, %d units, canonical %s', (input, milli, units, canonical) => {
    const q = parseQuantity(input);
    expect(q.toMilli()).toBe(milli);
    expect(q.toBytes()).toBe(units);
    expect(q.toString()).toBe(canonical);
    expect(JSON.stringify({ q })).toBe(`{"q":"${canonical}"}`);
  });

  it('rounds values below a nano-unit up to one', () => {
    expect(parseQuantity('0.1n').toString()).toBe('1n');
  });

  it('accepts JSON numbers as quantities', () => {
    expect(parseQuantity(0.5).toString()).toBe('500m');
    expect(parseQuantity(2).toMilli()).toBe(2000);
    expect(parseQuantity(1e21).toString()).toBe('1e21');
  });

  it.each([['abc'], ['1.2.3'], ['1Kb'], ['Mi'], ['1 Mi'], [' 1'], ['1mi'], ['--1'], ['1e'], ['0x10'], ['1KiB']])(
    'rejects %j with the Kubernetes message',
    (input) => {
      expect(() => parseQuantity(input)).toThrow(BadRequestError);
      expect(() => parseQuantity(input)).toThrow(SYNTAX);
    },
  );

  it('rejects an empty string, absurd exponents and non-finite numbers', () => {
    expect(() => parseQuantity('')).toThrow('quantity must not be empty');
    expect(() => parseQuantity('1e999999')).toThrow('quantity exponent is out of range');
    expect(() => parseQuantity(Number.NaN)).toThrow(SYNTAX);
    expect(tryParseQuantity({})).toBeUndefined();
    expect(tryParseQuantity('nope')).toBeUndefined();
  });

  it('compares and adds exactly, without float noise', () => {
    const sum = parseQuantity('100m').add(parseQuantity('200m'));
    expect(sum.toString()).toBe('300m');
    expect(parseQuantity('0.1').add(parseQuantity('0.2')).equals(parseQuantity('300m'))).toBe(true);
    expect(parseQuantity('1Gi').cmp(parseQuantity('1G'))).toBe(1);
    expect(parseQuantity('1000m').cmp(parseQuantity('1'))).toBe(0);
    expect(parseQuantity('1').sub(parseQuantity('250m')).toString()).toBe('750m');
    expect(parseQuantity('1Gi').add(parseQuantity('512Mi')).toString()).toBe('1536Mi');
  });

  it('builds quantities from integers and millis', () => {
    expect(Quantity.fromMilli(1500).toString()).toBe('1500m');
    expect(Quantity.fromInt(4 * 1024 ** 3, 'BinarySI').toString()).toBe('4Gi');
    expect(Quantity.fromInt(110).toString()).toBe('110');
    expect(parseQuantity('3Gi').milliValue()).toBe(3n * 1024n ** 3n * 1000n);
  });
});

describe('[api] quantity properties', () => {
  it('the canonical form parses back to the same value', () => {
    const suffixes = ['', 'm', 'k', 'M', 'G', 'Ki', 'Mi', 'Gi', 'n', 'u', 'e3', 'e-2', 'E'];
    let s = 12345;
    const next = (): number => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return s;
    };
    for (let i = 0; i < 2000; i++) {
      const int = next() % 100000;
      const frac = next() % 3 === 0 ? `.${next() % 1000}` : '';
      const input = `${int}${frac}${suffixes[next() % suffixes.length]}`;
      const q = parseQuantity(input);
      const back = parseQuantity(q.toString());
      // values below a nano-unit round up, so compare at nano precision
      expect(back.cmp(q) >= 0 && back.sub(q).cmp(parseQuantity('1n')) < 0, `${input} -> ${q.toString()}`).toBe(true);
    }
  });
});
