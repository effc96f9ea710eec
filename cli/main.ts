#!/usr/bin/env node
// flotctl: the kubectl-like client.
const USAGE = `Usage: flotctl <command> [flags]

Commands:
  apply -f FILE      create or update objects from YAML
  get TYPE [NAME]    list or show objects
  describe TYPE NAME show an object with its events
  delete TYPE NAME   delete objects
  version            print client and server versions
`;

const args = process.argv.slice(2);
if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}
process.stderr.write(`flotctl: unknown command "${args[0]}"\n\n${USAGE}`);
process.exit(2);
