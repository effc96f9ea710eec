// rtnetlink: the wire codec (codec.ts, messages.ts, constants.ts), request/ack/
// dump with typed errors (connection.ts), the high-level client (client.ts) and
// namespace sysctls (sysctl.ts).
export * from './codec.js';
export * from './messages.js';
export * from './connection.js';
export * from './client.js';
export * from './sysctl.js';
export * as rtnl from './constants.js';
