import type { CoordContext } from '../core/context.js';
import { ConflictError } from '../core/errors.js';
import { assertOptionalDuration, assertOptionalSignal, assertTtlSeconds } from '../core/validate.js';
import {
  assertAddress,
  assertInstanceId,
  assertMetadata,
  assertServiceName,
  defaultInstanceId,
  encodeInstance,
  servicePrefix,
  type ServiceMetadata,
} from './codec.js';
import { LeasePool } from './lease-pool.js';
import { Registration } from './registration.js';

/** Options of {@link ServiceRegistry.register}. */
export interface RegisterOptions {
  /** Instance id, the last part of the key. Default `<hostname>-<pid>-<6 random hex>`. No `/`. */
  id?: string;
  /** Where clients reach the instance: `host:port` (or `[ipv6]:port`, optionally `scheme://host:port`). */
  address: string;
  /** JSON-serializable plain object published with the address. Default `{}`. */
  metadata?: ServiceMetadata;
  /**
   * Lease TTL in seconds (integer ≥ 2). Default: the coordinator's, which puts the instance on the default
   * session's lease. Registrations asking for another TTL share one separate lease per TTL.
   */
  ttlSeconds?: number;
  /** Gives up registering (between attempts; each request has its own deadline). */
  signal?: AbortSignal;
  /** Gives up registering after this many milliseconds. Default: the coordinator's `requestTimeoutMs`. */
  timeoutMs?: number;
}

/**
 * Registers instances of one service under `services/<service>/<id>` with lease keepalive and automatic
 * re-registration after lease loss. Every registration of a coordinator with the same TTL shares one lease
 * (one keepalive stream, whatever the number of instances).
 *
 * @example
 * ```ts
 * const registry = coord.registry('payments');
 * await using reg = await registry.register({ address: '10.0.0.7:8443', metadata: { version: '1.4.2' } });
 * ```
 *
 * Failure modes: see {@link Registration}.
 */
export class ServiceRegistry {
  /** The service name. */
  readonly service: string;
  readonly #ctx: CoordContext;

  /**
   * @throws InvalidArgumentError for an empty service name, or one holding `/` or NUL
   */
  constructor(ctx: CoordContext, service: string) {
    assertServiceName(service);
    this.#ctx = ctx;
    this.service = service;
  }

  /**
   * Registers one instance and keeps it registered until `deregister()`/`close()` or `coord.close()`.
   * Every argument is checked before any request.
   *
   * @example
   * ```ts
   * const reg = await coord.registry('payments').register({ id: 'pay-1', address: 'pay-1.internal:8443' });
   * ```
   *
   * @throws InvalidArgumentError / TypeError for an address without port, metadata that is not
   *   JSON-serializable or over etcd's request limit, a TTL below 2 s, an id with `/`
   * @throws ConflictError when the id is already registered by another live instance (another lease), or
   *   by another registration of this coordinator
   * @throws UnavailableError when etcd stays unreachable through the retries
   */
  async register(opts: RegisterOptions): Promise<Registration> {
    if (opts === null || typeof opts !== 'object') throw new TypeError('Expected `opts` to be an object');
    assertAddress(opts.address);
    const id = opts.id ?? defaultInstanceId();
    assertInstanceId(id);
    const metadata = opts.metadata ?? {};
    assertMetadata(metadata);
    const ttlSeconds = opts.ttlSeconds ?? this.#ctx.ttlSeconds;
    assertTtlSeconds(ttlSeconds, 'ttlSeconds');
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const key = `${servicePrefix(this.service)}${id}`;
    encodeInstance(opts.address, metadata, this.#ctx.keyspace.key(key).length);

    const pool = LeasePool.of(this.#ctx);
    if (!pool.claim(key)) {
      throw new ConflictError(`registry: "${key}" is already registered by this coordinator`);
    }
    const reg = new Registration({
      ctx: this.#ctx,
      pool,
      service: this.service,
      id,
      address: opts.address,
      metadata,
      ttlSeconds,
    });
    reg.closedSignal.addEventListener('abort', () => pool.unclaim(key), { once: true });
    try {
      // Without `timeoutMs` the first registration is bound by the request timeout (a public call); only
      // the background re-registration after a lease loss retries without a bound.
      await reg.start(opts.signal, opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs);
      return reg;
    } catch (err) {
      await reg.close();
      throw err;
    }
  }
}
