export { Mutex, type LockOptions } from './mutex.js';
export { type LockHolder } from './holder.js';
export { Lock, type LockGuard, type LockEvents } from './lock.js';
export { RWMutex } from './rw-mutex.js';
export { Semaphore } from './semaphore.js';
export { MultiLock, MAX_MULTI_LOCK_NAMES, type MultiLockOptions } from './multi-lock.js';
export { MultiLockHandle } from './multi-lock-handle.js';
