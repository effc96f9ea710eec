#!/usr/bin/env node
// flotctl: the kubectl-like client. All the work is in program.ts; this file
// only hands it the process and turns its answer into an exit code.
import { runCli } from './program.js';

// `flotctl get pods | head -1`: a closed pipe ends the command quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // runCli never throws; this is the last guard against a stack trace reaching a user
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
