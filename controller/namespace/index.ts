// Public entry of controller/namespace: the namespace controller (leader).
export { NamespaceController, type NamespaceControllerOptions, type ObjectDeleter } from './controller.js';
