// Public entry of controller/queue: the keyed, de-duplicating, rate-limited
// work queue and runController, which makes a controller one reconcile(key).
export { WorkQueue, type WorkQueueOptions, type QueueObserver } from './work-queue.js';
export { ExponentialBackoff, type RateLimiter, type ExponentialBackoffOptions } from './rate-limiter.js';
export { runController, type RunControllerOptions, type ReconcileResult, type Syncable } from './run-controller.js';
export { BinaryHeap } from './heap.js';
