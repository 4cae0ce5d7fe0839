import type { Etcd3 } from 'etcd3';
import type { ConnectOptions, ResolvedOptions } from './core/connect.js';
import { CoordinatorCore } from './core/coordinator.js';
import type { WaitOptions } from './core/deadline.js';
import type { Session } from './core/session.js';
import { assertOptionalDuration, assertOptionalSignal } from './core/validate.js';
import { RangeQuery, type RangeOptions } from './range/range.js';
import { ServiceDiscovery, ServiceRegistry } from './registry/index.js';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { WatchedConfig, type ConfigValue, type WatchedConfigOptions } from './config/index.js';
import { Election, type ElectionOptions } from './election/election.js';
import {
  MultiLock,
  Mutex,
  RWMutex,
  Semaphore,
  type LockOptions,
  type MultiLockOptions,
} from './lock/index.js';
import { Queue, type QueueOptions } from './queue/index.js';
import {
  AtomicCounter,
  Counter,
  IdGenerator,
  type AtomicCounterOptions,
  type IdGeneratorOptions,
} from './counter/index.js';
import { Barrier, DoubleBarrier, type DoubleBarrierOptions } from './barrier/index.js';
import { Store } from './kv/index.js';

/**
 * The facade an app holds: `connect()` returns one. Each recipe has a factory here; everything it makes
 * is released by `close()`.
 *
 * @example
 * ```ts
 * const coord = await connect({ namespace: 'myapp/' });
 * for await (const kv of coord.range('jobs/')) console.log(kv.key.toString());
 * await coord.close();
 * ```
 */
export class Coordinator extends CoordinatorCore {
  #kv: Store | undefined;

  /** @internal use {@link connect} */
  constructor(client: Etcd3, owns: boolean, resolved: ResolvedOptions, session: Session) {
    super(client, owns, resolved, session);
  }

  /** @internal */
  static connect(opts: ConnectOptions): Promise<Coordinator> {
    return CoordinatorCore.open(Coordinator, opts);
  }

  /**
   * The coordinator's key-value Store (libkv's `Store`): get/put/list/atomic ops, TTL keys, `watch` and
   * `watchTree` on the shared watch stream, and `lock`. Keys are relative to the namespace. See {@link Store}.
   *
   * @example
   * ```ts
   * await coord.kv.put('nodes/a', '10.0.0.1:80', { ttlSeconds: 5 });
   * for await (const { pairs } of coord.kv.watchTree('nodes/', { signal })) console.log(pairs.length);
   * ```
   *
   * Failure modes: its TTL leases and open watches are released by `coord.close()`.
   */
  get kv(): Store {
    this.#kv ??= new Store(this);
    return this.#kv;
  }

  /**
   * A leader election named `name` (keys `<name>/<leaseId hex>`, as `etcdctl elect`). See {@link Election}.
   *
   * @throws InvalidArgumentError for an empty name or one with a NUL byte (before any request)
   */
  election(name: string, opts: ElectionOptions = {}): Election {
    return new Election(this, name, opts);
  }

  /**
   * Loads the config under `prefix` (a snapshot, then every change) and keeps it current. See {@link WatchedConfig}.
   *
   * @example
   * ```ts
   * const cfg = await coord.config('app/config/', { schema: AppConfig, defaults: { db: { pool: 10 } } });
   * cfg.on('change', (next) => apply(next));
   * ```
   *
   * @throws TypeError / InvalidArgumentError for a bad prefix, schema or defaults (before any request)
   * @throws ConfigValidationError when the stored config does not pass the schema on load
   * @throws UnavailableError / AbortedError when the first snapshot cannot be read in time
   */
  async config<S extends StandardSchemaV1 | undefined = undefined>(
    prefix: string,
    opts: WatchedConfigOptions<S> = {},
  ): Promise<WatchedConfig<ConfigValue<S>>> {
    const o = opts as WatchedConfigOptions<StandardSchemaV1 | undefined>;
    return new WatchedConfig<ConfigValue<S>>(this, prefix, o).start(o);
  }

  /**
   * The service registry of `service`: `register({ address, metadata?, id?, ttlSeconds? })` keeps an instance
   * under `services/<service>/<id>` with lease keepalive and re-registers it after lease loss. See {@link ServiceRegistry}.
   *
   * @example
   * ```ts
   * const reg = await coord.registry('payments').register({ address: '10.0.0.7:8443' });
   * ```
   *
   * @throws InvalidArgumentError for an empty service name or one holding `/` (before any request)
   */
  registry(service: string): ServiceRegistry {
    return new ServiceRegistry(this, service);
  }

  /**
   * A live cache of `service`'s instances: resolves once the first consistent snapshot is read, then follows
   * every change. Closed by `coord.close()`. See {@link ServiceDiscovery}.
   *
   * @example
   * ```ts
   * const svc = await coord.discovery('payments');
   * const next = svc.pick('round-robin');
   * ```
   *
   * @throws InvalidArgumentError for an empty service name or one holding `/` (before any request)
   * @throws UnavailableError when the first snapshot cannot be read within `timeoutMs` (default: `requestTimeoutMs`)
   * @throws AbortedError when `signal` aborts first
   */
  async discovery(service: string, opts: WaitOptions = {}): Promise<ServiceDiscovery> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const svc = new ServiceDiscovery(this, service);
    await svc.start(opts);
    return svc;
  }

  /**
   * A fair mutex with fencing tokens on `<name>/<leaseId hex>` (excludes against `etcdctl lock`). See {@link Mutex}.
   *
   * @example
   * ```ts
   * await coord.mutex('jobs/nightly').withLock(async (lock) => run(lock.signal));
   * ```
   *
   * @throws InvalidArgumentError for an empty name or one with a NUL byte (before any request)
   */
  mutex(name: string, opts: LockOptions = {}): Mutex {
    return new Mutex(this, name, opts);
  }

  /**
   * Several mutexes taken all-or-nothing and deadlock-free: one txn enqueues in every name's queue (keys
   * `<name>/<leaseId hex>`, as `mutex(name)` and `etcdctl lock`), then it waits to be first in all. See
   * {@link MultiLock}.
   *
   * @example
   * ```ts
   * await coord.multiLock(['accounts/alice', 'accounts/bob']).withLock(async (held) => transfer(held.signal));
   * ```
   *
   * @throws TypeError when `names` is not an array; InvalidArgumentError for no names, a bad name or the
   *   same name twice (before any request)
   */
  multiLock(names: readonly string[], opts: MultiLockOptions = {}): MultiLock {
    return new MultiLock(this, names, opts);
  }

  /**
   * A fair readers-writer lock (writers are not starved). See {@link RWMutex}.
   *
   * @throws InvalidArgumentError for an empty name or one with a NUL byte (before any request)
   */
  rwMutex(name: string, opts: LockOptions = {}): RWMutex {
    return new RWMutex(this, name, opts);
  }

  /**
   * A fair counting semaphore with `permits` holders at most. See {@link Semaphore}.
   *
   * @throws InvalidArgumentError for a bad name or `permits` < 1 (before any request)
   */
  semaphore(name: string, permits: number, opts: LockOptions = {}): Semaphore {
    return new Semaphore(this, name, permits, opts);
  }

  /**
   * A distributed work queue (at-least-once, ack/nack, priorities, delays, dead letters, batches; bounded
   * with `maxSize`). See {@link Queue}. Use one handle per queue per process: all its `pop()`/`process()`
   * calls share one watch.
   *
   * @throws InvalidArgumentError for a bad name (empty, NUL, `/`), `maxAttempts`, `deadLetter` or `maxSize`
   *   (before any request)
   */
  queue<T = unknown>(name: string, opts: QueueOptions<T> = {}): Queue<T> {
    return new Queue<T>(this, name, opts);
  }

  /**
   * A version-based counter: `increment()` is one put, values unique and gap-free. See {@link Counter}.
   *
   * @throws InvalidArgumentError for an empty name or one with a NUL byte (before any request)
   */
  counter(name: string): Counter {
    return new Counter(this, name);
  }

  /**
   * A compare-and-set counter that moves by any amount. See {@link AtomicCounter}.
   *
   * @throws InvalidArgumentError for a bad name or `maxRetries` (before any request)
   */
  atomicCounter(name: string, opts: AtomicCounterOptions = {}): AtomicCounter {
    return new AtomicCounter(this, name, opts);
  }

  /**
   * Unique ids handed out from blocks reserved on an {@link AtomicCounter} (hi/lo): one request per
   * `blockSize` ids. See {@link IdGenerator}.
   *
   * @throws InvalidArgumentError / TypeError for a bad name or `blockSize` (before any request)
   */
  idGenerator(name: string, opts: IdGeneratorOptions = {}): IdGenerator {
    return new IdGenerator(this, name, opts);
  }

  /**
   * A barrier: `hold()` / `release()` / `wait()`. See {@link Barrier}.
   *
   * @throws InvalidArgumentError for a bad name (before any request)
   */
  barrier(name: string): Barrier {
    return new Barrier(this, name);
  }

  /**
   * A double barrier for `count` participants: `enter()` / `leave()`. See {@link DoubleBarrier}.
   *
   * @throws InvalidArgumentError for a bad name or a `count` that is not an integer ≥ 1 (before any request)
   */
  doubleBarrier(name: string, count: number, opts: DoubleBarrierOptions = {}): DoubleBarrier {
    return new DoubleBarrier(this, name, count, opts);
  }

  /**
   * Iterates every key under `prefix` at one revision, page by page. See {@link RangeQuery}.
   *
   * @throws InvalidArgumentError for a page size below 1 (before any request)
   */
  range(prefix: string | Buffer, opts: RangeOptions = {}): RangeQuery {
    return new RangeQuery(this, prefix, opts);
  }
}

/**
 * Connects to etcd and grants the default session's lease, within `dialTimeoutMs`.
 *
 * @example
 * ```ts
 * const coord = await connect({ endpoints: ['127.0.0.1:2379'], namespace: 'myapp/', ttlSeconds: 10 });
 * ```
 *
 * @throws InvalidArgumentError / TypeError for bad options (an endpoint that is not host:port, a TTL below 2 s), before any request
 * @throws UnavailableError when etcd does not answer within `dialTimeoutMs` (default 5 s): never hangs
 * @throws PermissionDeniedError for wrong credentials
 *
 * Failure modes: a coordinator whose default session is lost keeps working: recipes grant a new lease on
 * their next call (`coord.session` is replaced).
 */
export function connect(opts: ConnectOptions = {}): Promise<Coordinator> {
  return Coordinator.connect(opts);
}
