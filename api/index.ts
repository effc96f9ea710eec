// Public entry of api/: the shared object model and the small shared pieces
// (typed errors, clock, logging) that every other folder builds on.
export * from './errors.js';
export * from './clock.js';
export * from './log.js';
export * from './meta.js';
