// The table as the kernel holds it (`nft -j list table`), reduced to what a
// drift check compares with the plan: which chains exist and how many rules
// each has, which sets exist, and every map element with its verdict. Pure:
// the applier runs nft, this only reads its JSON. Comparing rule counts rather
// than rule text keeps the check independent of how nft prints expressions; a
// rule deleted or added by hand, a flushed chain, a lost map element or a
// retargeted verdict are all seen.
import type { ProxyPlan } from './rules.js';

export interface KernelTable {
  chains: Map<string, number>;
  sets: Set<string>;
  maps: Map<string, Map<string, string>>;
}

type Json = Record<string, unknown>;

const PROTO_NUMBERS: Record<string, string> = { '6': 'tcp', '17': 'udp', '132': 'sctp' };

function keyText(k: unknown): string {
  const parts = k && typeof k === 'object' && 'concat' in (k as Json) ? ((k as Json).concat as unknown[]) : [k];
  return parts.map((p) => PROTO_NUMBERS[String(p)] ?? String(p)).join(' . ');
}

function verdictText(v: unknown): string {
  if (!v || typeof v !== 'object') return String(v);
  const [kind, arg] = Object.entries(v as Json)[0] ?? ['?', null];
  const target = arg && typeof arg === 'object' ? (arg as Json).target : undefined;
  return target !== undefined ? `${kind} ${String(target)}` : kind;
}

/** Parses `nft -j list table` output; a missing table is `undefined` (pass '' for "nft said there is none"). */
export function parseKernelTable(json: string): KernelTable | undefined {
  if (json.trim() === '') return undefined;
  const items = ((JSON.parse(json) as Json).nftables ?? []) as Json[];
  const t: KernelTable = { chains: new Map(), sets: new Set(), maps: new Map() };
  for (const it of items) {
    if (it.chain) t.chains.set(String((it.chain as Json).name), 0);
    else if (it.set) t.sets.add(String((it.set as Json).name));
    else if (it.map) {
      const m = it.map as Json;
      const elems = new Map<string, string>();
      for (const e of (m.elem ?? []) as unknown[]) {
        if (Array.isArray(e)) elems.set(keyText(e[0]), verdictText(e[1]));
      }
      t.maps.set(String(m.name), elems);
    }
  }
  for (const it of items) {
    if (!it.rule) continue;
    const chain = String((it.rule as Json).chain);
    t.chains.set(chain, (t.chains.get(chain) ?? 0) + 1);
  }
  return t;
}

/** Every way KERNEL differs from PLAN, one readable line each; [] when they agree. */
export function tableDrift(plan: ProxyPlan, kernel: KernelTable | undefined): string[] {
  if (!kernel) return ['table missing'];
  const out: string[] = [];
  for (const [name, c] of plan.chains) {
    const n = kernel.chains.get(name);
    if (n === undefined) out.push(`chain ${name} missing`);
    else if (n !== c.rules.length) out.push(`chain ${name} has ${n} rules, expected ${c.rules.length}`);
  }
  for (const name of kernel.chains.keys()) if (!plan.chains.has(name)) out.push(`chain ${name} unexpected`);
  for (const name of plan.sets.keys()) if (!kernel.sets.has(name)) out.push(`set ${name} missing`);
  for (const name of kernel.sets) if (!plan.sets.has(name)) out.push(`set ${name} unexpected`);
  for (const [name, m] of plan.maps) {
    const got = kernel.maps.get(name);
    if (!got) {
      out.push(`map ${name} missing`);
      continue;
    }
    for (const [k, v] of m.elements) {
      const g = got.get(k);
      if (g === undefined) out.push(`map ${name}: element ${k} missing`);
      else if (g !== v) out.push(`map ${name}: element ${k} is "${g}", expected "${v}"`);
    }
    for (const k of got.keys()) if (!m.elements.has(k)) out.push(`map ${name}: element ${k} unexpected`);
  }
  for (const name of kernel.maps.keys()) if (!plan.maps.has(name)) out.push(`map ${name} unexpected`);
  return out;
}
