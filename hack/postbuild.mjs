// After tsc: make the compiled entry points of package.json "bin" executable.
import { chmodSync, readFileSync, existsSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const [name, path] of Object.entries(pkg.bin)) {
  const file = new URL(`../${path}`, import.meta.url);
  if (!existsSync(file)) {
    console.error(`postbuild: bin ${name} -> ${path} was not built`);
    process.exit(1);
  }
  chmodSync(file, 0o755);
}
