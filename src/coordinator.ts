import type { Etcd3 } from 'etcd3';
import type { ConnectOptions, ResolvedOptions } from './core/connect.js';
import { CoordinatorCore } from './core/coordinator.js';
import type { Session } from './core/session.js';
import { RangeQuery, type RangeOptions } from './range/range.js';

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
  /** @internal use {@link connect} */
  constructor(client: Etcd3, owns: boolean, resolved: ResolvedOptions, session: Session) {
    super(client, owns, resolved, session);
  }

  /** @internal */
  static connect(opts: ConnectOptions): Promise<Coordinator> {
    return CoordinatorCore.open(Coordinator, opts);
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
