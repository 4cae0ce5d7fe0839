export { connect, Coordinator } from './coordinator.js';
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
  type CoordErrorCode,
} from './core/errors.js';
export { Session, type SessionOptions, type SessionEvents } from './core/session.js';
export { type ConnectOptions } from './core/connect.js';
export { type KeyValue } from './core/kv.js';
export { type WatchBatch, type WatchEvent } from './core/watch-hub.js';
export { type WaitOptions } from './core/deadline.js';
export { RangeQuery, type RangeOptions } from './range/range.js';
