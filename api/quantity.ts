// Kubernetes resource quantities (`250m`, `1`, `0.5`, `128Mi`, `1G`, `1e3`).
// Values are exact: a BigInt numerator over a power of ten, so `0.1` + `0.2`
// is `300m` and `1.5Gi` is `1536Mi` without float noise.
import { BadRequestError } from './errors.js';

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/** The message Kubernetes gives for a quantity that does not parse. */
export const QUANTITY_SYNTAX_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

export class InvalidQuantityError extends BadRequestError {
  readonly value: string;
  constructor(value: string, message: string = QUANTITY_SYNTAX_MESSAGE) {
    super(message);
    this.value = value;
  }
}

const BINARY_SUFFIX: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const DECIMAL_BY_EXP = new Map<number, string>(Object.entries(DECIMAL_SUFFIX).map(([s, e]) => [e, s]));
const BINARY_BY_POWER = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

const QUANTITY_RE = /^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
/** Decimal exponents beyond this are refused: they are never real resources and cost memory. */
const MAX_EXPONENT = 60;
const MAX_LENGTH = 64;

const TEN = 10n;
function pow10(n: number): bigint {
  return TEN ** BigInt(n);
}
function abs(n: bigint): bigint {
  return n < 0n ? -n : n;
}
/** Integer division rounding toward +infinity (Kubernetes rounds quantities up). */
function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n === b > 0n ? q + 1n : q;
}

export class Quantity {
  /** value = num / 10^scale, scale >= 0 */
  private readonly num: bigint;
  private readonly scale: number;
  readonly format: QuantityFormat;

  private constructor(num: bigint, scale: number, format: QuantityFormat) {
    // keep the representation small: strip factors of ten from the denominator
    while (scale > 0 && num % TEN === 0n) {
      num /= TEN;
      scale--;
    }
    if (num === 0n) scale = 0;
    this.num = num;
    this.scale = scale;
    this.format = format;
  }

  static fromParts(num: bigint, scale: number, format: QuantityFormat): Quantity {
    return new Quantity(num, Math.max(0, scale), format);
  }

  /** An integer quantity (bytes, pods, cores). */
  static fromInt(n: number | bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(BigInt(n), 0, format);
  }

  /** A quantity of milli-units (e.g. millicores). */
  static fromMilli(n: number | bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(BigInt(n), 3, format);
  }

  isZero(): boolean {
    return this.num === 0n;
  }

  sign(): -1 | 0 | 1 {
    return this.num === 0n ? 0 : this.num < 0n ? -1 : 1;
  }

  /** The value in whole units, rounded up (Kubernetes `Value()`): bytes for memory, cores for cpu. */
  value(): bigint {
    return ceilDiv(this.num, pow10(this.scale));
  }

  /** The value in thousandths, rounded up (Kubernetes `MilliValue()`): millicores for cpu. */
  milliValue(): bigint {
    return this.scale <= 3 ? this.num * pow10(3 - this.scale) : ceilDiv(this.num, pow10(this.scale - 3));
  }

  /** Milli-units as a JS number (millicores). */
  toMilli(): number {
    return Number(this.milliValue());
  }

  /** Whole units rounded up as a JS number (bytes for memory). */
  toBytes(): number {
    return Number(this.value());
  }

  /** Approximate float value, for display and ratios only. */
  toNumber(): number {
    return Number(this.num) / 10 ** this.scale;
  }

  cmp(other: Quantity): -1 | 0 | 1 {
    const s = Math.max(this.scale, other.scale);
    const a = this.num * pow10(s - this.scale);
    const b = other.num * pow10(s - other.scale);
    return a === b ? 0 : a < b ? -1 : 1;
  }

  equals(other: Quantity): boolean {
    return this.cmp(other) === 0;
  }

  add(other: Quantity): Quantity {
    const s = Math.max(this.scale, other.scale);
    return new Quantity(this.num * pow10(s - this.scale) + other.num * pow10(s - other.scale), s, this.format);
  }

  sub(other: Quantity): Quantity {
    return this.add(other.neg());
  }

  neg(): Quantity {
    return new Quantity(-this.num, this.scale, this.format);
  }

  /** The canonical string, as Kubernetes serialises it (`1500m`, `1536Mi`, `1k`, `1e3`). */
  toString(): string {
    if (this.num === 0n) return '0';
    // Anything below a nano-unit is rounded up to it.
    let m: bigint;
    let e: number;
    if (this.scale > 9) {
      m = ceilDiv(this.num, pow10(this.scale - 9));
      e = -9;
    } else {
      m = this.num;
      e = -this.scale;
    }
    if (this.format === 'BinarySI' && e >= 0) {
      const whole = m * pow10(e);
      if (abs(whole) >= 1024n) {
        let power = 0;
        let v = whole;
        while (power < 6 && v % 1024n === 0n) {
          v /= 1024n;
          power++;
        }
        return `${v}${BINARY_BY_POWER[power]}`;
      }
    }
    while (m % TEN === 0n) {
      m /= TEN;
      e++;
    }
    // exponent must be a multiple of three (and at most 18 for SI suffixes)
    while (((e % 3) + 3) % 3 !== 0) {
      m *= TEN;
      e--;
    }
    if (this.format === 'DecimalExponent') return e === 0 ? `${m}` : `${m}e${e}`;
    while (e > 18) {
      m *= 1000n;
      e -= 3;
    }
    return `${m}${DECIMAL_BY_EXP.get(e)}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/**
 * Parses a Kubernetes quantity. Throws InvalidQuantityError (a BadRequestError)
 * with Kubernetes' own message when `s` does not match the syntax.
 */
export function parseQuantity(s: string | number): Quantity {
  if (typeof s === 'number') {
    if (!Number.isFinite(s)) throw new InvalidQuantityError(String(s));
    s = numberToQuantityString(s);
  }
  if (typeof s !== 'string') throw new InvalidQuantityError(String(s));
  if (s.length === 0) throw new InvalidQuantityError(s, 'quantity must not be empty');
  if (s.length > MAX_LENGTH) throw new InvalidQuantityError(s, 'quantity is too long');
  const m = QUANTITY_RE.exec(s);
  if (!m) throw new InvalidQuantityError(s);
  const [, sign, digits, suffix = ''] = m;
  const dot = digits!.indexOf('.');
  const intPart = dot < 0 ? digits! : digits!.slice(0, dot);
  const fracPart = dot < 0 ? '' : digits!.slice(dot + 1);
  let num = BigInt((intPart || '0') + fracPart);
  if (sign === '-') num = -num;
  let scale = fracPart.length;
  let format: QuantityFormat = 'DecimalSI';
  if (suffix in BINARY_SUFFIX) {
    format = 'BinarySI';
    num *= 1024n ** BigInt(BINARY_SUFFIX[suffix]!);
  } else {
    let exp: number;
    if (suffix in DECIMAL_SUFFIX) {
      exp = DECIMAL_SUFFIX[suffix]!;
    } else {
      format = 'DecimalExponent';
      exp = Number(suffix.slice(1));
      if (!Number.isSafeInteger(exp) || Math.abs(exp) > MAX_EXPONENT) {
        throw new InvalidQuantityError(s, 'quantity exponent is out of range');
      }
    }
    if (exp >= 0) num *= pow10(exp);
    else scale += -exp;
  }
  return Quantity.fromParts(num, scale, format);
}

/** Like parseQuantity but returns undefined instead of throwing. */
export function tryParseQuantity(s: unknown): Quantity | undefined {
  if (typeof s !== 'string' && typeof s !== 'number') return undefined;
  try {
    return parseQuantity(s);
  } catch {
    return undefined;
  }
}

function numberToQuantityString(n: number): string {
  // JSON numbers such as `cpu: 0.5` or `memory: 1e9`; String() may give exponent form.
  const str = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(str);
  if (!m) return str;
  return `${m[1]}${m[2]}${m[3] ? `.${m[3]}` : ''}e${Number(m[4])}`;
}
