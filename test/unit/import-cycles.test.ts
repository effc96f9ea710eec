// No module imports itself back, type-only imports included: a cycle (the
// scheduler's framework → node-info → taint plugin → framework was one) makes
// load order matter and hides what depends on what.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every import cycle among the TypeScript files under `dirs`, as `a.ts -> b.ts -> …`. */
function cycles(dirs: string[]): string[] {
  const files = new Set(dirs.flatMap((d) => sources(join(root, d))));
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps: string[] = [];
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.[^']+)'/g)) {
      const target = resolve(dirname(f), m[1]!.replace(/\.js$/, '.ts'));
      if (files.has(target)) deps.push(target);
    }
    graph.set(f, deps);
  }
  const found = new Set<string>();
  const done = new Set<string>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (n: string) => {
    stack.push(n);
    onStack.add(n);
    for (const d of graph.get(n) ?? []) {
      if (onStack.has(d)) found.add(stack.slice(stack.indexOf(d)).map((x) => relative(root, x)).join(' -> '));
      else if (!done.has(d)) visit(d);
    }
    stack.pop();
    onStack.delete(n);
    done.add(n);
  };
  for (const f of files) if (!done.has(f)) visit(f);
  return [...found];
}

describe('[layout] imports', () => {
  it.each(['controller', 'api', 'netplugin', 'node-agent', 'cli'])('%s/ has no import cycle', (dir) => {
    expect(cycles([dir])).toEqual([]);
  });
});
