#!/usr/bin/env node
// flotilla-cni: the pod network as a standalone CNI 1.0 plugin. Reads the CNI_*
// environment and the network config on stdin, prints the CNI result or error
// object on stdout (logs go to stderr, warnings and up unless FLOTILLA_LOG_LEVEL
// says otherwise) and exits 0 or 1.
import { componentLogger, createRootLogger } from '../api/index.js';
import { runCni } from './cni/plugin.js';

async function readStdin(): Promise<string> {
  if (process.env.CNI_COMMAND === 'VERSION') return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const root = createRootLogger({ level: process.env.FLOTILLA_LOG_LEVEL ?? 'warn' });
const out = await runCni(process.env, await readStdin(), componentLogger('flotilla-cni', root));
process.stdout.write(out.stdout, () => {
  root.flush?.();
  process.exit(out.exitCode);
});
