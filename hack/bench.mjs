// npm run bench: runs every benchmark in hack/bench/*.mjs (each measures its
// figure against a baseline in the same run) and writes docs/BENCHMARKS.md.
//
// A benchmark module exports `meta = { title, issue }` and
// `async function run(ctx)` returning
//   { command, rows: [{ metric, value, baseline, baselineLabel, unit, ratio, target, pass }], notes }
// Usage: npm run bench [-- NAME ...]   (NAME = file name without .mjs)
import { readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import os from 'node:os';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'hack', 'bench');
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs'))
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.mjs$/, '')))
  .sort();

const sections = [];
let failed = 0;
for (const f of files) {
  const mod = await import(pathToFileURL(join(dir, f)).href);
  const title = mod.meta?.title ?? f;
  process.stderr.write(`bench: ${title} ...\n`);
  try {
    const r = await mod.run({ root });
    sections.push({ file: f, title, issue: mod.meta?.issue, ...r });
    for (const row of r.rows) if (row.pass === false) failed++;
  } catch (e) {
    failed++;
    sections.push({ file: f, title, error: String(e?.stack ?? e) });
  }
}

const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : (v ?? ''));
let md = `# Benchmarks\n\nMeasured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} ` +
  `(${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}). ` +
  `Every figure has its baseline measured in the same run; compare ratios, not absolute numbers, across machines.\n`;
for (const s of sections) {
  md += `\n## ${s.title}${s.issue ? ` (${s.issue})` : ''}\n\n`;
  if (s.error) {
    md += `Failed:\n\n\`\`\`\n${s.error}\n\`\`\`\n`;
    continue;
  }
  md += `Command: \`${s.command ?? `npm run bench -- ${s.file.replace(/\.mjs$/, '')}`}\`\n\n`;
  md += `| metric | value | baseline | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |\n`;
  for (const r of s.rows) {
    const unit = r.unit ? ` ${r.unit}` : '';
    md += `| ${r.metric} | ${fmt(r.value)}${unit} | ${r.baseline === undefined ? '' : `${fmt(r.baseline)}${unit} (${r.baselineLabel ?? 'baseline'})`} | ${r.ratio === undefined ? '' : fmt(r.ratio)} | ${r.target ?? ''} | ${r.pass === undefined ? '' : r.pass ? 'yes' : 'no'} |\n`;
  }
  if (s.notes) md += `\n${s.notes}\n`;
}
writeFileSync(join(root, 'docs', 'BENCHMARKS.md'), md);
process.stderr.write(`bench: wrote docs/BENCHMARKS.md (${sections.length} benchmarks, ${failed} below target or failed)\n`);
process.exit(failed > 0 ? 1 : 0);
