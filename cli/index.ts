// Public entry of cli/: `flotctl`, the kubectl-like client.
export const COMPONENT = 'cli';
