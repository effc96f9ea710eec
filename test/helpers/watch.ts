// Reading watches in tests: take what arrives, up to a count or a deadline.

/** Reads from `iter` until `n` values arrived or `ms` passed; the iterator stays open. */
export async function take<T>(iter: AsyncIterator<T>, n: number, ms = 5000): Promise<T[]> {
  const out: T[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const r = await Promise.race([iter.next(), new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), left))]);
    if (r === 'timeout' || r.done) break;
    out.push(r.value);
  }
  return out;
}

/**
 * Reads a watch response body (one JSON event a line) until it ends; ERROR
 * events and a read failure that is not the abort ending it go to `errors`.
 */
export async function readWatchEvents(
  body: AsyncIterable<Buffer | string>,
  onEvent: (type: string, obj: any) => void,
  errors: unknown[],
  signal: AbortSignal,
): Promise<void> {
  let buf = '';
  try {
    for await (const chunk of body) {
      buf += chunk.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        const ev = JSON.parse(line) as { type: string; object: unknown };
        if (ev.type === 'ERROR') errors.push(ev.object);
        else onEvent(ev.type, ev.object);
      }
    }
  } catch (e) {
    // an abort is how a watch ends
    if (!signal.aborted) errors.push(e);
  }
}
