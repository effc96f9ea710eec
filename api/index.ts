// Public entry of api/: the shared object model and the small shared pieces
// (typed errors, clock, logging) that every other folder builds on.
export * from './errors.js';
export * from './clock.js';
export * from './log.js';
export * from './meta.js';
export * from './types.js';
export * from './kind.js';
export * from './registry.js';
export * from './kinds/index.js';
export * from './resources.js';
export * from './quantity.js';
export * from './helpers.js';
export * from './defaults.js';
export * from './validation-rules.js';
export * from './validation.js';
export * from './selectors.js';
export * from './patch.js';
export * from './manifest.js';
export * from './schema.js';
export * from './printers/age.js';
export * from './printers/table.js';
