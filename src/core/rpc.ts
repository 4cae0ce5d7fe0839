import type { CallOptions } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { invalidateAuthToken, isAuthStaleError } from './auth.js';
import { currentScope, inScope, scopeRemaining, type CallScope } from './call-scope.js';
import { toCoordError, UnavailableError } from './errors.js';
import { abortError, DeadlineExceeded, raceAbort, withDeadline } from './deadline.js';
import { EndpointHealth } from './endpoints.js';
import { wasNeverSent } from './refused.js';

/**
 * How long after its deadline a request is abandoned if gRPC has not ended it (it always has, unless the
 * event loop was blocked): part of the documented slack of every `timeoutMs`.
 */
export const REQUEST_GRACE_MS = 100;

/** Per-request options. */
export interface RequestOptions {
  signal?: AbortSignal | undefined;
  /** Deadline for this one request; defaults to the coordinator's `requestTimeoutMs`. */
  timeoutMs?: number | undefined;
  /**
   * The request writes. A write that gets no answer is reported with `mayHaveApplied`, and the caller
   * decides whether repeating it is safe.
   */
  write?: boolean;
  /** Called with the result when the request completes after the caller gave up (to release what it holds). */
  onLate?: (value: unknown) => void;
}

/**
 * Runs single requests against etcd with a deadline that always exists (so nothing hangs on a blackholed
 * connection), the caller's abort signal, and errors mapped to the `CoordError` family.
 */
export class Requester {
  readonly #client: Etcd3 | undefined;
  /** A refusal is the whole story only with our endpoint policy (etcd3's default one retries blindly). */
  readonly #refusalsFinal: boolean;

  /** `client`: the client the requests go through, so a stale auth token can be renewed (see `run`). */
  constructor(
    readonly requestTimeoutMs: number,
    client?: Etcd3,
  ) {
    this.#client = client;
    this.#refusalsFinal = EndpointHealth.governs(client);
  }

  /** gRPC call options carrying the deadline for a request starting now. */
  callOptions(timeoutMs?: number): CallOptions {
    return { deadline: new Date(Date.now() + this.#timeoutFor(timeoutMs, currentScope())) };
  }

  /** The request's timeout: the caller's, at most `requestTimeoutMs`, at most what the call has left. */
  #timeoutFor(timeoutMs: number | undefined, scope: CallScope | undefined): number {
    const left = scopeRemaining(scope) ?? Infinity;
    return Math.max(1, Math.min(timeoutMs ?? this.requestTimeoutMs, this.requestTimeoutMs, left));
  }

  /**
   * Runs `fn` with call options carrying the deadline. Inside a call with a deadline (see `withRetry`),
   * the request's deadline is capped at what the call has left and the request stops when the call does:
   * the call's `timeoutMs` bounds every request it makes, whichever step is running.
   *
   * @throws UnavailableError when etcd does not answer in time (`mayHaveApplied` for a write that may have
   *   been delivered; never for a request refused before it reached etcd)
   * @throws AbortedError when `signal` aborts first
   */
  async run<T>(
    what: string,
    fn: (options: CallOptions) => Promise<T>,
    opts: RequestOptions = {},
  ): Promise<T> {
    const { signal } = opts;
    const write = opts.write ?? false;
    const outer = currentScope();
    if (signal?.aborted) throw abortError(signal, what);
    if (outer?.signal.aborted) throw this.#cut(outer.signal.reason, what, false, false);
    const ms = this.#timeoutFor(opts.timeoutMs, outer);
    // Backstop only: gRPC's own deadline normally ends the request at `ms`.
    const guard = withDeadline(signal, ms + REQUEST_GRACE_MS, outer?.signal);
    const scope: CallScope = { signal: guard.signal, expiresAt: performance.now() + ms, active: true };
    try {
      return await raceAbort(
        inScope(scope, () => this.#call(fn, ms)),
        guard.signal,
        what,
        opts.onLate,
      );
    } catch (err) {
      const reason: unknown = guard.signal.reason;
      const cut = guard.signal.aborted && (err === reason || (err as Error).cause === reason);
      // A deadline, whether the call's (the scope) or one passed in as `signal` (`withRetry` hands each
      // attempt its deadline signal): the request was sent and a write may have applied. Which of gRPC's
      // deadline and this one fires first is a race, and the answer must not depend on it.
      if (cut && reason instanceof DeadlineExceeded) throw this.#cut(reason, what, true, write);
      throw toCoordError(err, what, write && !(this.#refusalsFinal && wasNeverSent(err)));
    } finally {
      guard.dispose();
    }
  }

  /** The error for a request stopped by its call's deadline (or its own backstop). */
  #cut(reason: unknown, what: string, sent: boolean, write: boolean): Error {
    if (!(reason instanceof DeadlineExceeded)) return toCoordError(reason, what, false);
    const message = !sent
      ? `${what}: the deadline of ${reason.timeoutMs} ms passed before the request was sent`
      : `${what}: etcd did not answer in time${write ? ' (the write may have been applied)' : ''}`;
    return new UnavailableError(message, { cause: reason, mayHaveApplied: sent && write });
  }

  async #call<T>(fn: (options: CallOptions) => Promise<T>, ms: number): Promise<T> {
    const options: CallOptions = { deadline: new Date(Date.now() + ms) };
    try {
      return await fn(options);
    } catch (err) {
      // etcd refused a token issued before the last RBAC change (JWT tokens: every change), which etcd3
      // does not renew by itself: drop it and repeat once, within the same deadline. The request was
      // refused before being applied, so repeating a write is safe.
      if (this.#client === undefined || !isAuthStaleError(err) || !invalidateAuthToken(this.#client))
        throw err;
      return fn(options);
    }
  }
}
