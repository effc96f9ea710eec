#!/usr/bin/env node
// flotilla-agent: the node agent daemon.
const USAGE = `Usage: flotilla-agent <command> [flags]

Commands:
  join     join a cluster: --server HOST:PORT --token T --ca-hash sha256:H [--node-name N] [--node-ip IP]
  run      run the agent with the credential kept in its state dir

Run 'flotilla-agent <command> --help' for the flags of a command.
`;

const args = process.argv.slice(2);
if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}
process.stderr.write(`flotilla-agent: unknown command "${args[0]}"\n\n${USAGE}`);
process.exit(2);
