// How a value the client sent is shown inside an error message. A message
// must stay readable whatever was sent: a 1 MiB name is cut (with its length,
// so the reader knows it was cut), and an object is shown as JSON, never as
// `[object Object]`.

/** Longest part of a value shown in a message, in characters. */
export const MAX_QUOTED_CHARS = 256;

/** `s` cut to `max` characters plus `...` and its full length; `s` itself when short. */
export function cutValue(s: string, max = MAX_QUOTED_CHARS): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max)}... (${s.length} characters)`;
}

/**
 * A value quoted for a message: strings in double quotes (Go's %q, as
 * kube-apiserver writes them), numbers and booleans bare, anything else as
 * JSON; all cut to a sane length. A string cut short reads
 * `"aaaa..." (1048576 characters)`.
 */
export function quoteValue(v: unknown, max = MAX_QUOTED_CHARS): string {
  if (typeof v === 'string') {
    if (v.length <= max) return JSON.stringify(v);
    return `${JSON.stringify(`${v.slice(0, max)}...`)} (${v.length} characters)`;
  }
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return cutValue(jsonOf(v), max);
}

/** JSON of anything, or a type name when it has none (a cycle, a function). */
function jsonOf(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    if (s !== undefined) return s;
  } catch {
    /* a cycle: fall through */
  }
  return `<${Array.isArray(v) ? 'array' : typeof v}>`;
}

/** A value shown bare in a message, as `(${value})`: a string cut, anything else as quoteValue shows it. */
export function plainValue(v: unknown, max = MAX_QUOTED_CHARS): string {
  return typeof v === 'string' ? cutValue(v, max) : quoteValue(v, max);
}
