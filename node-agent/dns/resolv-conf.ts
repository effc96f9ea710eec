// resolv.conf(5) read and written: the node's upstream resolvers and search
// domains come from the host's file; a pod's file is written from these parts.
export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  /** `ndots:5`, `edns0`: name or name:value, in order. */
  options: string[];
}

/** The parts of a resolv.conf; unknown lines and comments are left out, the last `search`/`domain` wins (as glibc reads it). */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') out.searches = rest.filter((s) => s !== '');
    else if (key === 'options') out.options.push(...rest.filter((s) => s !== ''));
  }
  return out;
}

/** The file's text: search, nameservers, options (the order container runtimes write). */
export function formatResolvConf(c: ResolvConf): string {
  const lines: string[] = [];
  if (c.searches.length > 0) lines.push(`search ${c.searches.join(' ')}`);
  for (const ns of c.nameservers) lines.push(`nameserver ${ns}`);
  if (c.options.length > 0) lines.push(`options ${c.options.join(' ')}`);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
