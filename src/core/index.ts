export {
  CoordError,
  LockTimeoutError,
  LockLostError,
  SessionExpiredError,
  NotLeaderError,
  NoLeaderError,
  ConflictError,
  CompactedError,
  UnavailableError,
  PermissionDeniedError,
  InvalidArgumentError,
  AbortedError,
  isTransient,
  toCoordError,
  type CoordErrorCode,
} from './errors.js';
export { Session, type SessionOptions, type SessionEvents } from './session.js';
export { CoordinatorCore } from './coordinator.js';
export { type ConnectOptions } from './connect.js';
export { type CoordContext, type Closable } from './context.js';
export { DeletionWatch } from './deletion-watch.js';
export {
  WatchHub,
  type WatchBatch,
  type WatchEvent,
  type WatchHandlers,
  type WatchRange,
  type WatchSubscription,
} from './watch-hub.js';
export { type KeyValue } from './kv.js';
export { Keyspace, prefixEnd, keyAfter, leaseHex } from './keys.js';
export {
  withDeadline,
  sleep,
  raceAbort,
  abortError,
  throwIfAborted,
  type WaitOptions,
  type Deadline,
} from './deadline.js';
export { withRetry, type RetryOptions, type Attempt } from './retry.js';
export { Requester, type RequestOptions } from './rpc.js';
