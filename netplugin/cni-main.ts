#!/usr/bin/env node
// flotilla-cni: the pod network as a standalone CNI 1.0 plugin (reads CNI_* env and stdin).
const cmd = process.env.CNI_COMMAND;
if (cmd === 'VERSION') {
  process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['1.0.0'] }) + '\n');
  process.exit(0);
}
process.stdout.write(
  JSON.stringify({ cniVersion: '1.0.0', code: 4, msg: `CNI_COMMAND ${cmd ?? '(unset)'} is not supported yet` }) + '\n',
);
process.exit(1);
