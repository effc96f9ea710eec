// Cache and queue keys: `namespace/name`, or `name` for cluster-scoped objects
// (api's objectKey makes them; this splits them again).

/** `ns/name` → { namespace: 'ns', name }; `name` → { name }. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
