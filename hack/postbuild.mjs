// After tsc: copy non-TypeScript assets (the .proto files) next to the compiled
// code and make the compiled entry points of package.json "bin" executable.
import { chmodSync, cpSync, readFileSync, existsSync } from 'node:fs';

const root = new URL('../', import.meta.url);
cpSync(new URL('api/proto/', root), new URL('dist/api/proto/', root), { recursive: true });

const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
for (const [name, path] of Object.entries(pkg.bin)) {
  const file = new URL(path, root);
  if (!existsSync(file)) {
    console.error(`postbuild: bin ${name} -> ${path} was not built`);
    process.exit(1);
  }
  chmodSync(file, 0o755);
}
