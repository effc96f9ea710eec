// Public entry of controller/informers: shared informers over the Store (one
// list+watch and one cache per resource in the process), their indexes, and
// the list/watch/relist loop they run on.
export { InformerFactory, type InformerFactoryOptions, type InformerForOptions } from './factory.js';
export { SharedInformer, type InformerHandler, type HandlerOptions, type HandlerRegistration, type SharedInformerOptions } from './informer.js';
export {
  IndexedCache,
  INDEX_NAMESPACE,
  INDEX_NODE,
  INDEX_OWNER,
  STANDARD_INDEXERS,
  byNamespace,
  byNodeName,
  byOwnerUid,
  type IndexFunc,
} from './indexer.js';
export { runListWatch, storeSource, type BackoffOptions, type ListWatchOptions, type ListWatchSink, type ListWatchSource } from './list-watch.js';
export { splitKey } from './keys.js';
