export { Store } from './store.js';
export { KeyConflictError } from './errors.js';
export { KeyWatch, type KeyUpdate } from './watch-key.js';
export { TreeWatch, type TreeUpdate, type KVChange } from './watch-tree.js';
export { type KVPair, type KVValue } from './kv-pair.js';
export {
  type KVCallOptions,
  type PutOptions,
  type DeleteOptions,
  type KVLockOptions,
  type KVWatchOptions,
} from './options.js';
export { type WriteGuard, type GuardHolder } from './guarded.js';
