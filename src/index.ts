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
export { StoreResetError } from './core/epoch.js';
export { type WatchHubEvents } from './core/watch-hub.js';
export { Session, type SessionOptions, type SessionEvents } from './core/session.js';
export { type ConnectOptions } from './core/connect.js';
export { type KeyValue } from './core/kv.js';
export { type WatchBatch, type WatchEvent } from './core/watch-hub.js';
export { type WaitOptions } from './core/deadline.js';
export { RangeQuery, type RangeOptions } from './range/range.js';
export type { SnapshotReason } from './range/follow.js';
export {
  Election,
  Term,
  runAsLeader,
  once,
  type ElectionOptions,
  type LeaderInfo,
  type CampaignValue,
  type RunAsLeaderOptions,
  type OnceOptions,
  type OnceResult,
  type OnceRecord,
  type OnceAttempt,
  type OnceSlot,
  SlotSkipped,
} from './election/index.js';
export {
  schedule,
  CronJob,
  type ScheduleOptions,
  type CronRun,
  type CronEvents,
  type CronRanEvent,
  type CronSkippedEvent,
  type CronFailedEvent,
  type CronHistoryEntry,
  type OverlapPolicy,
} from './cron/index.js';
export {
  ServiceRegistry,
  Registration,
  ServiceDiscovery,
  InvalidInstanceError,
  type RegisterOptions,
  type RegistrationEvents,
  type DiscoveryEvents,
  type PickStrategy,
  type ServiceInstance,
  type ServiceMetadata,
  type JsonValue,
} from './registry/index.js';
export {
  Mutex,
  Lock,
  RWMutex,
  WriteLock,
  Semaphore,
  MultiLock,
  MultiLockHandle,
  MAX_MULTI_LOCK_NAMES,
  type MultiLockOptions,
  MAX_PERMITS_PER_CALL,
  type SemaphoreAcquireOptions,
  type DowngradeOptions,
  type LockParticipant,
  type LockOptions,
  type LockHolder,
  type LockGuard,
  type LockEvents,
} from './lock/index.js';
export {
  Queue,
  Job,
  JobLostError,
  QueueFullError,
  MAX_PUSH_MANY,
  type PeekedJob,
  MAX_PRIORITY,
  type LostJobState,
  type SettleOptions,
  type QueueOptions,
  type PushOptions,
  type ProcessOptions,
  type JobHandler,
  type NackOptions,
  type QueueStats,
  type QueueCodec,
  type DeadLetterInfo,
} from './queue/index.js';
export {
  Counter,
  AtomicCounter,
  IdGenerator,
  INT64_MIN,
  INT64_MAX,
  type AtomicCounterOptions,
  type CounterCallOptions,
  type IdGeneratorOptions,
  type ReservedBlock,
} from './counter/index.js';
export {
  Barrier,
  DoubleBarrier,
  type BarrierHoldOptions,
  type DoubleBarrierOptions,
} from './barrier/index.js';
export {
  WatchedConfig,
  ConfigValidationError,
  type ConfigChangeInfo,
  type ConfigConflict,
  type ConfigDefaults,
  type ConfigObject,
  type ConfigValue,
  type ConfigWriteOptions,
  type DeepPartial,
  type WatchedConfigEvents,
  type WatchedConfigOptions,
} from './config/index.js';
export {
  Store,
  KeyConflictError,
  KeyWatch,
  TreeWatch,
  type KVPair,
  type KVValue,
  type KVChange,
  type KeyUpdate,
  type TreeUpdate,
  type KVCallOptions,
  type PutOptions,
  type DeleteOptions,
  type WriteGuard,
  type GuardHolder,
  type KVLockOptions,
  type KVWatchOptions,
} from './kv/index.js';
