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
