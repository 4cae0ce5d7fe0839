import { EventEmitter } from 'eventemitter3';
import { detached } from '../core/call-scope.js';
import type { CoordContext } from '../core/context.js';
import { abortError, raceAbort, withDeadline, type WaitOptions } from '../core/deadline.js';
import { AbortedError, isTransient, SessionExpiredError, UnavailableError } from '../core/errors.js';
import { GhostSweeper, type GhostHold } from '../core/ghost-sweeper.js';
import { Release } from '../core/release.js';
import { withRetry } from '../core/retry.js';
import { assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import type { Session } from '../core/session.js';
import { assertMetadata, encodeInstance, type ServiceMetadata } from './codec.js';
import { InstanceKey } from './instance-key.js';
import type { LeasePool } from './lease-pool.js';

/** Events of a {@link Registration}. */
export interface RegistrationEvents {
  /** The lease under the instance is, or may be, gone: discovery may no longer list it. Re-registering starts. */
  lost: [err: SessionExpiredError];
  /** Registered again, under a new lease (`leaseId`), after a `lost`. */
  restored: [leaseId: bigint];
  /** A re-registration attempt failed; it is retried with back-off until it succeeds or the registration closes. */
  error: [err: Error];
}

/** @internal What {@link ServiceRegistry.register} hands to a registration. */
export interface RegistrationInit {
  ctx: CoordContext;
  pool: LeasePool;
  service: string;
  id: string;
  address: string;
  metadata: ServiceMetadata;
  ttlSeconds: number;
}

/**
 * One registered instance of a service: the key `services/<service>/<id>` holding
 * `{"Addr": address, "Metadata": metadata}`, attached to a lease shared with the process's other
 * registrations of the same TTL. It lives until `deregister()`/`close()`, or `coord.close()`.
 *
 * @example
 * ```ts
 * const reg = await coord.registry('payments').register({ address: '10.0.0.7:8443', metadata: { zone: 'a' } });
 * reg.on('lost', () => console.warn('not discoverable right now'));
 * reg.on('restored', () => console.info('discoverable again'));
 * await reg.update({ zone: 'a', draining: true });
 * await reg.deregister();
 * ```
 *
 * Failure modes: when the lease is lost (etcd unreachable for about the TTL, lease revoked by an operator,
 * etcd restarted without its data) it emits `lost` (declared on this process's monotonic clock, before the
 * server deletes the key), then re-registers under a new lease with back-off until it succeeds or is closed,
 * and emits `restored`. It never overwrites the key of another live instance with the same id: a
 * re-registration only replaces a key that is absent or attached to one of this registration's own earlier
 * leases; otherwise it keeps retrying (and emits `error`) until that key goes away.
 */
export class Registration extends EventEmitter<RegistrationEvents> {
  /** The service name. */
  readonly service: string;
  /** The instance id: the last part of its key. */
  readonly id: string;
  /** `services/<service>/<id>`, relative to the coordinator's namespace. */
  readonly key: string;
  /** The published address (`host:port`). */
  readonly address: string;
  /** TTL of the registration's lease, in seconds. */
  readonly ttlSeconds: number;
  readonly #ctx: CoordContext;
  readonly #pool: LeasePool;
  readonly #fullKey: Buffer;
  readonly #instance: InstanceKey;
  readonly #closed = new AbortController();
  /** Leases this registration has written its key under; a key on one of them is its own to replace. */
  readonly #ownLeases = new Set<bigint>();
  #metadata: ServiceMetadata;
  #session: Session | undefined;
  /** The key's create revision under `#session` (set with it): the guard of the deregister's delete. */
  #createRevision = 0n;
  #recovering: Promise<void> | undefined;
  /** The shutdown, once: resolves with the retried delete of the key, if one is needed. Never rejects. */
  #closing: Promise<Release | undefined> | undefined;
  #untrack: () => void = () => undefined;
  readonly #onLost = (err: SessionExpiredError): void => this.#lose(err);
  /**
   * The key is this registration's from `start()` until its delete is confirmed: a register write of
   * unknown outcome applied late after that would advertise a deregistered instance, so the ghost sweeper
   * deletes such a key once this hold is released (issue 15 f3).
   */
  readonly #hold: GhostHold;

  /** @internal use `coord.registry(service).register(…)` */
  constructor(init: RegistrationInit) {
    super();
    this.#ctx = init.ctx;
    this.#pool = init.pool;
    this.service = init.service;
    this.id = init.id;
    this.key = `services/${init.service}/${init.id}`;
    this.address = init.address;
    this.ttlSeconds = init.ttlSeconds;
    this.#metadata = init.metadata;
    this.#fullKey = init.ctx.keyspace.key(this.key);
    this.#instance = new InstanceKey(init.ctx, this.#fullKey, this.key);
    this.#hold = GhostSweeper.of(init.ctx).hold(this.#fullKey);
  }

  /** The metadata last given (to `register` or `update`). */
  get metadata(): ServiceMetadata {
    return this.#metadata;
  }

  /** The lease the key is attached to now; `undefined` while lost (re-registering) or after close. */
  get leaseId(): bigint | undefined {
    return this.#session?.leaseId;
  }

  /** True while the key is registered under a live lease. */
  get registered(): boolean {
    return this.#session !== undefined && !this.#session.done;
  }

  /** Aborted once the registration is deregistered or closed. */
  get closedSignal(): AbortSignal {
    return this.#closed.signal;
  }

  /** @internal First registration: retried on transient errors while `signal` and `timeoutMs` allow. */
  async start(signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<void> {
    await GhostSweeper.of(this.#ctx).settled(this.#fullKey, signal);
    await withRetry((_, attempt) => this.#registerOnce(attempt), {
      signal,
      timeoutMs,
      retries: 8,
      what: `registry: register "${this.key}"`,
      shouldRetry: (err) => err instanceof UnavailableError || err instanceof SessionExpiredError,
    });
    this.#untrack = this.#ctx.track(this);
  }

  /**
   * Replaces the instance's metadata. Resolves once etcd holds it; while the registration is lost it waits
   * for the re-registration, which writes the new metadata.
   *
   * @throws InvalidArgumentError for metadata that is not JSON-serializable or too large, before any request
   * @throws AbortedError when the registration is closed, or `signal`/`timeoutMs` fire first
   */
  async update(metadata: ServiceMetadata, opts: WaitOptions = {}): Promise<void> {
    assertMetadata(metadata);
    encodeInstance(this.address, metadata, this.#fullKey.length);
    const what = `registry: update "${this.key}"`;
    const wait = withDeadline(opts.signal, opts.timeoutMs, this.#closed.signal);
    try {
      this.#metadata = metadata;
      for (;;) {
        if (wait.signal.aborted) throw abortError(wait.signal, what);
        const session = this.#session;
        if (session && !session.done) {
          if (await this.#instance.update(this.#value(), session.leaseId, wait.signal)) return;
          // The key is gone or no longer ours while the session looked alive (revoked, or deleted by hand).
          if (this.#session === session)
            this.#lose(new SessionExpiredError(`${what}: the instance's key is gone`));
          continue; // look again: re-registering now (wait for it), or already on a new lease (write there)
        }
        await this.#nextRestore(wait.signal, what);
      }
    } finally {
      wait.dispose();
    }
  }

  /**
   * Removes the instance: deletes its key (only if it is still attached to this registration's lease) and
   * stops keeping it; the registration is closed at once. The delete is retried until confirmed, in the
   * background while the lease lives, so a call that failed can simply be made again (it waits for the
   * same delete); once it is confirmed every call resolves.
   *
   * @example
   * ```ts
   * await reg.deregister({ timeoutMs: 5000 });
   * ```
   *
   * @throws UnavailableError when etcd does not confirm the delete within a few attempts or `timeoutMs`
   *   (it goes on in the background; the key lives at most until its lease ends)
   * @throws AbortedError when `signal` aborts (the delete goes on)
   */
  async deregister(opts: WaitOptions = {}): Promise<void> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const what = `registry: deregister "${this.key}"`;
    // Without `timeoutMs` the call still settles within the coordinator's request timeout (issue 16 f1).
    const timeoutMs = opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs;
    const deadline = withDeadline(opts.signal, timeoutMs);
    try {
      this.#closing ??= this.#shutdown();
      const release = await raceAbort(this.#closing, deadline.signal, what).catch((err: unknown) => {
        if (deadline.timedOut && !opts.signal?.aborted)
          throw new UnavailableError(`${what}: not confirmed within ${timeoutMs} ms`, { cause: err });
        throw err;
      });
      await release?.run({ signal: opts.signal, timeoutMs: deadline.remaining() });
    } finally {
      deadline.dispose();
    }
  }

  /** Like {@link deregister}, but never rejects and waits at most one request timeout. Called by `coord.close()`. */
  async close(): Promise<void> {
    await this.deregister({ timeoutMs: this.#ctx.requester.requestTimeoutMs }).catch(() => undefined);
  }

  /** Deregisters, for `await using`: the same as {@link Registration.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #value(): Buffer {
    return encodeInstance(this.address, this.#metadata, this.#fullKey.length);
  }

  /**
   * One registration write under the current lease of this TTL. The key is created if absent; a key already
   * there is replaced only when it is attached to this registration's own lease (current, or one it lost);
   * another lease's key is a live instance with the same id and is never overwritten.
   */
  async #registerOnce(call: { signal?: AbortSignal; remainingMs?: number | undefined } = {}): Promise<void> {
    const signal = call.signal ? AbortSignal.any([call.signal, this.#closed.signal]) : this.#closed.signal;
    const session = await this.#pool.acquire(this.ttlSeconds, signal);
    let createRevision: bigint;
    try {
      this.#ownLeases.add(session.leaseId);
      // The request deadline, not the caller's signal: an abort mid-write would hide whether it applied.
      const arm = () =>
        GhostSweeper.of(this.#ctx).arm(this.#fullKey, {
          leaseId: session.leaseId,
          alive: session.signal,
          what: `registry: "${this.key}"`,
        });
      createRevision = await this.#instance.register(
        () => this.#value(),
        session.leaseId,
        this.#ownLeases,
        call.remainingMs,
        arm,
      );
    } catch (err) {
      this.#pool.release(session);
      throw err;
    }
    if (this.#closed.signal.aborted) {
      // Closed while writing: shutdown() has waited for us, so the key is ours to remove here.
      await this.#instance.delete(createRevision).catch(() => undefined);
      this.#pool.release(session);
      throw new AbortedError(`registry: "${this.key}" closed`);
    }
    if (session.done) {
      // Lost while we wrote: the key may be gone with it; try again on the next lease.
      this.#pool.release(session);
      throw session.signal.reason as Error;
    }
    this.#session = session;
    this.#createRevision = createRevision;
    this.#ownLeases.clear();
    this.#ownLeases.add(session.leaseId);
    session.on('lost', this.#onLost);
  }

  /** The lease is gone (or the key is): report it once and re-register in the background. */
  #lose(err: SessionExpiredError): void {
    const session = this.#session;
    if (!session || this.#closed.signal.aborted) return;
    session.off('lost', this.#onLost);
    this.#session = undefined;
    this.#pool.release(session);
    this.emit('lost', err);
    // Re-registering outlives whatever call noticed the loss: never under that call's deadline.
    const recovering = detached(() => this.#recover());
    this.#recovering = recovering;
    void recovering.finally(() => {
      if (this.#recovering === recovering) this.#recovering = undefined;
    });
  }

  async #recover(): Promise<void> {
    const signal = this.#closed.signal;
    try {
      await withRetry(() => this.#registerOnce(), {
        signal,
        retries: Number.MAX_SAFE_INTEGER,
        minTimeoutMs: 100,
        maxTimeoutMs: 2000,
        shouldRetry: (err) => {
          if (signal.aborted) return false;
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
          return true;
        },
      });
      const leaseId = this.#session?.leaseId;
      if (leaseId !== undefined && !signal.aborted) this.emit('restored', leaseId);
    } catch {
      // Only ends early when the registration is closed.
    }
  }

  #nextRestore(signal: AbortSignal, what: string): Promise<void> {
    let listener: (() => void) | undefined;
    const restored = new Promise<void>((resolve) => {
      listener = () => resolve();
      this.once('restored', listener);
    });
    return raceAbort(restored, signal, what).finally(() => this.off('restored', listener));
  }

  async #shutdown(): Promise<Release | undefined> {
    this.#closed.abort(new AbortedError(`registry: "${this.key}" closed`));
    this.#untrack();
    await this.#recovering;
    const session = this.#session;
    this.#session = undefined;
    if (!session) {
      this.#hold();
      return undefined;
    }
    session.off('lost', this.#onLost);
    const createRevision = this.#createRevision;
    // On coord.close() the default session's revoke removes every key at once; skip a delete per instance.
    // A lost lease took the key with it.
    if ((this.#ctx.closedSignal.aborted && this.ttlSeconds === this.#ctx.ttlSeconds) || session.done) {
      this.#pool.release(session);
      this.#hold();
      return undefined;
    }
    const release = new Release({
      what: `registry: deregister "${this.key}"`,
      alive: session.signal,
      attempt: () => this.#instance.delete(createRevision, 0),
    });
    // The lease is given back (a separate one is revoked by its last user) once the key is gone, or once
    // the lease is (the key went with it). Revoking earlier would also remove the key, but a revoke is no
    // more certain to arrive than the delete.
    const done = () => {
      this.#pool.release(session);
      this.#hold();
    };
    const follow = (): Promise<void> =>
      release.run().then(done, (err: unknown) => {
        if (isTransient(err) && !session.signal.aborted) return follow();
        done();
      });
    void follow();
    return release;
  }
}
