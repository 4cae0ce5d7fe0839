export { Mutex, type LockOptions } from './mutex.js';
export { type LockHolder } from './holder.js';
export { Lock, type LockGuard, type LockEvents } from './lock.js';
export { RWMutex } from './rw-mutex.js';
export { Semaphore, MAX_PERMITS_PER_CALL, type SemaphoreAcquireOptions } from './semaphore.js';
export { WriteLock, type DowngradeOptions } from './write-lock.js';
export { type LockParticipant } from './participants.js';
export { MultiLock, MAX_MULTI_LOCK_NAMES, type MultiLockOptions } from './multi-lock.js';
export { MultiLockHandle } from './multi-lock-handle.js';
