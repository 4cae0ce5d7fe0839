export { Mutex, type LockOptions, type LockHolder } from './mutex.js';
export { Lock, type LockGuard } from './lock.js';
export { RWMutex } from './rw-mutex.js';
export { Semaphore } from './semaphore.js';
