// Public entry of controller/gc: the garbage collector (leader) and its dependency graph.
export {
  GarbageCollector,
  FOREGROUND_DELETION,
  ORPHAN,
  REASON_OWNER_REF_INVALID_NAMESPACE,
  type GarbageCollectorApi,
  type GarbageCollectorOptions,
} from './collector.js';
export { DependencyGraph, type Identity, type OwnerRef } from './graph.js';
