// What kinds share unless their descriptor says otherwise.
import { column, type Printer } from '../kind.js';
import { age } from '../printers/age.js';
import { dns1123SubdomainErrors } from '../validation-rules.js';

/** Names are DNS-1123 subdomains unless a kind says otherwise (namespaces: labels). */
export const DEFAULT_NAME_RULE = dns1123SubdomainErrors;

/** NAME and AGE, as kubectl shows a kind it has no columns for. */
export const DEFAULT_PRINTER: Printer = {
  columns: [column('Name', { format: 'name' }), column('Age')],
  cells: (o, now) => {
    const md = (o.metadata ?? {}) as { name?: string; creationTimestamp?: string };
    return [md.name ?? '', age(md.creationTimestamp, now)];
  },
};

export const FALLBACK = { nameRule: DEFAULT_NAME_RULE, printer: DEFAULT_PRINTER };
