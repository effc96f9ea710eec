// The Kubernetes-shaped REST API of the controller.
export * from './app.js';
export * from './status.js';
export * from './resource-api.js';
export * from './table.js';
export * from './discovery.js';
export * from './body.js';
