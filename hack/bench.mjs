// npm run bench: runs every benchmark in hack/bench/*.mjs (each measures its
// figure against a baseline in the same run) and updates docs/BENCHMARKS.md.
//
// A benchmark module exports `meta = { title, issue }` and
// `async function run(ctx)` returning
//   { command, rows: [{ metric, value, baseline, baselineLabel, unit, ratio, target, pass }], notes }
// Usage: npm run bench [-- NAME ...]   (NAME = file name without .mjs)
//
// Only the sections of the benchmarks that ran are replaced; every other
// section of docs/BENCHMARKS.md is kept as it is (hand-written notes
// included). Sections are written in the order of the bench files, each
// preceded by a marker `<!-- bench:NAME -->` so it can be found again, and each
// says when and where it was measured. Sections written before the markers are
// recognised by their `## title` heading. A benchmark that fails keeps its
// previous figures below the failure.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import os from 'node:os';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'hack', 'bench');
const docPath = join(root, 'docs', 'BENCHMARKS.md');
const only = process.argv.slice(2);
const allFiles = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs'))
  .sort();
const nameOf = (f) => f.replace(/\.mjs$/, '');
const unknown = only.filter((n) => !allFiles.some((f) => nameOf(f) === n));
if (unknown.length > 0) {
  process.stderr.write(`bench: no such benchmark: ${unknown.join(', ')} (have: ${allFiles.map(nameOf).join(', ')})\n`);
  process.exit(2);
}
const files = allFiles.filter((f) => only.length === 0 || only.includes(nameOf(f)));

// ---------------------------------------------------------------- the existing document

const HEADER =
  '# Benchmarks\n\nWritten by `npm run bench [-- NAME ...]`, which replaces only the sections of the benchmarks it ran; ' +
  'each section says when and on what it was measured. Every figure has its baseline measured in the same run; ' +
  'compare ratios, not absolute numbers, across machines.\n';

/**
 * Splits the document into its header and sections. A section starts at a
 * `<!-- bench:NAME -->` marker, or at a `## ` heading that no marker precedes.
 */
function parseDoc(text) {
  const lines = text.split('\n');
  const starts = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = /^<!-- bench:([\w.-]+) -->\s*$/.exec(lines[i]);
    if (marker) starts.push({ line: i, name: marker[1] });
    else if (lines[i].startsWith('## ') && !(i > 0 && /^<!-- bench:[\w.-]+ -->\s*$/.test(lines[i - 1]))) starts.push({ line: i, name: undefined });
  }
  const header = lines.slice(0, starts[0]?.line ?? lines.length).join('\n');
  const sections = starts.map((s, k) => {
    const body = lines.slice(s.line, starts[k + 1]?.line ?? lines.length).join('\n').replace(/\n+$/, '');
    const heading = /^## (.*)$/m.exec(body)?.[1]?.trim() ?? '';
    return { name: s.name, heading, body };
  });
  return { header, sections };
}

const today = new Date().toISOString().slice(0, 10);
const machine = `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;

// Titles of every bench file, to recognise sections written before the markers.
const metas = new Map();
for (const f of allFiles) {
  const mod = await import(pathToFileURL(join(dir, f)).href);
  metas.set(nameOf(f), { mod, title: mod.meta?.title ?? f, issue: mod.meta?.issue });
}
const headingOf = (m) => `${m.title}${m.issue ? ` (${m.issue})` : ''}`;

// ---------------------------------------------------------------- run

const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : (v ?? ''));

function render(name, m, r) {
  let md = `## ${headingOf(m)}\n\n`;
  md += `Measured on ${today} (${machine}).\n\n`;
  md += `Command: \`${r.command ?? `npm run bench -- ${name}`}\`\n\n`;
  md += `| metric | value | baseline | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |\n`;
  for (const row of r.rows) {
    const unit = row.unit ? ` ${row.unit}` : '';
    md += `| ${row.metric} | ${row.value === undefined ? '' : `${fmt(row.value)}${unit}`} | ${row.baseline === undefined ? '' : `${fmt(row.baseline)}${unit} (${row.baselineLabel ?? 'baseline'})`} | ${row.ratio === undefined ? '' : fmt(row.ratio)} | ${row.target ?? ''} | ${row.pass === undefined ? '' : row.pass ? 'yes' : 'no'} |\n`;
  }
  if (r.notes) md += `\n${r.notes}\n`;
  return md.replace(/\n+$/, '');
}

function renderFailure(name, m, error, previous) {
  let md = `## ${headingOf(m)}\n\nLast run on ${today} (${machine}) failed:\n\n\`\`\`\n${error}\n\`\`\``;
  if (previous) {
    // Keep the figures of the last good run (without an older failure block or its heading).
    const prevBody = previous
      .replace(/^## .*\n+/, '')
      .replace(/^Last run on [^\n]* failed:\n\n```\n[\s\S]*?\n```\n*(Previous figures:\n*)?/, '');
    if (prevBody.trim()) md += `\n\nPrevious figures:\n\n${prevBody}`;
  }
  return md.replace(/\n+$/, '');
}

const fresh = new Map();
const failures = new Map(); // name -> error text (rendered with the previous figures at write time)
let failed = 0;
for (const f of files) {
  const name = nameOf(f);
  const m = metas.get(name);
  process.stderr.write(`bench: ${m.title} ...\n`);
  try {
    const r = await m.mod.run({ root });
    fresh.set(name, render(name, m, r));
    for (const row of r.rows) if (row.pass === false) failed++;
  } catch (e) {
    failed++;
    process.stderr.write(`bench: ${name} failed: ${e?.stack ?? e}\n`);
    failures.set(name, String(e?.stack ?? e));
  }
}

// ---------------------------------------------------------------- write

/** The sections of docs/BENCHMARKS.md as it is now, by bench name; and those of no bench file. */
function readExisting() {
  const existing = existsSync(docPath) ? parseDoc(readFileSync(docPath, 'utf8')) : { header: '', sections: [] };
  // The date the old single header line gave for every section ("Measured by `npm run bench` on DATE (…)").
  const legacy = /Measured by `npm run bench` on (\d{4}-\d{2}-\d{2}) \(([^)]*)\)/.exec(existing.header);

  const old = new Map(); // bench name -> existing section body (with its marker added)
  const orphans = []; // sections that belong to no bench file: kept, at the end
  for (const s of existing.sections) {
    let name = s.name;
    if (!name) {
      for (const [n, m] of metas) {
        if (s.heading === headingOf(m) || s.heading === m.title || s.heading.startsWith(`${m.title} (`)) name = n;
      }
    }
    let body = s.body;
    if (legacy && !/^(Measured on|Last run on) /m.test(body)) {
      // Pre-marker section: give it the date the old header stated for it.
      body = body.replace(/^(## .*\n)/, `$1\nMeasured on ${legacy[1]} (${legacy[2]}).\n`);
    }
    if (name && metas.has(name) && !old.has(name)) old.set(name, body.replace(/^<!-- bench:[\w.-]+ -->\n/, ''));
    else orphans.push(body);
  }
  return { old, orphans };
}

// Read the document only now: other work may have changed it while the benchmarks ran.
const { old, orphans } = readExisting();
for (const [name, error] of failures) fresh.set(name, renderFailure(name, metas.get(name), error, old.get(name)));

let md = HEADER;
for (const f of allFiles) {
  const name = nameOf(f);
  const body = fresh.get(name) ?? old.get(name);
  if (body === undefined) continue; // never measured
  md += `\n<!-- bench:${name} -->\n${body}\n`;
}
for (const body of orphans) md += `\n${body}\n`;
writeFileSync(docPath, md);
process.stderr.write(
  `bench: updated docs/BENCHMARKS.md (ran ${fresh.size}: ${[...fresh.keys()].join(', ') || 'none'}; kept ${[...old.keys()].filter((n) => !fresh.has(n)).length} other sections; ${failed} below target or failed)\n`,
);
process.exit(failed > 0 ? 1 : 0);
