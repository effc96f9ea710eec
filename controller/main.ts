#!/usr/bin/env node
// flotilla-controller: the control plane daemon.
const USAGE = `Usage: flotilla-controller <command> [flags]

Commands:
  init     create the cluster CA, admin kubeconfig and network config; print the join command
  run      serve the API (starts a managed etcd unless --etcd-endpoints is given)

Run 'flotilla-controller <command> --help' for the flags of a command.
`;

const args = process.argv.slice(2);
if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}
process.stderr.write(`flotilla-controller: unknown command "${args[0]}"\n\n${USAGE}`);
process.exit(2);
