// Reading `-f` arguments: files, directories (recursively: .yaml, .yml, .json)
// and `-` for stdin, each decoded as multi-document YAML by api's decodeManifests
// (YAML 1.1 as kubectl reads it: `yes` is true, `010` is 8; see api/yaml11.ts).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeManifests, type DecodedManifest } from '../api/index.js';
import { CliError } from './errors.js';
import type { Io } from './session.js';

const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** Every manifest file under a directory, sorted, recursively. */
export function listManifestFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listManifestFiles(p));
    else if (MANIFEST_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) out.push(p);
  }
  return out;
}

/** Decodes every object the -f arguments name, in order. Throws ManifestError (file:line:col) or CliError. */
export async function readManifests(paths: string[], io: Io): Promise<DecodedManifest[]> {
  if (paths.length === 0) throw new CliError('must specify one of -f and -k');
  const out: DecodedManifest[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push(...decodeManifests(await io.readStdin(), 'STDIN'));
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new CliError(`the path "${p}" does not exist`);
    }
    const files = isDir ? listManifestFiles(p) : [p];
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        throw new CliError(`unable to read "${f}": ${(e as Error).message}`);
      }
      out.push(...decodeManifests(text, f));
    }
  }
  if (out.length === 0) throw new CliError('no objects passed to apply');
  return out;
}
