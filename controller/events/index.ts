// Public entry of controller/events: recording v1 Events with aggregation.
export { StoreEventRecorder, eventNamespace } from './recorder.js';
export type { EventRecorder, StoreEventRecorderOptions } from './recorder.js';
