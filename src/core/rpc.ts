import type { CallOptions } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { invalidateAuthToken, isAuthStaleError } from './auth.js';
import { toCoordError } from './errors.js';
import { abortError, raceAbort } from './deadline.js';

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

  /** `client`: the client the requests go through, so a stale auth token can be renewed (see `run`). */
  constructor(
    readonly requestTimeoutMs: number,
    client?: Etcd3,
  ) {
    this.#client = client;
  }

  /** gRPC call options carrying the deadline for a request starting now. */
  callOptions(timeoutMs?: number): CallOptions {
    const ms = Math.max(1, Math.min(timeoutMs ?? this.requestTimeoutMs, this.requestTimeoutMs));
    return { deadline: new Date(Date.now() + ms) };
  }

  /**
   * Runs `fn` with call options carrying the deadline.
   *
   * @throws UnavailableError when etcd does not answer in time (with `mayHaveApplied` for writes)
   * @throws AbortedError when `signal` aborts first
   */
  async run<T>(
    what: string,
    fn: (options: CallOptions) => Promise<T>,
    opts: RequestOptions = {},
  ): Promise<T> {
    const { signal } = opts;
    if (signal?.aborted) throw abortError(signal, what);
    try {
      return await raceAbort(this.#call(fn, opts.timeoutMs), signal, what, opts.onLate);
    } catch (err) {
      throw toCoordError(err, what, opts.write ?? false);
    }
  }

  async #call<T>(fn: (options: CallOptions) => Promise<T>, timeoutMs: number | undefined): Promise<T> {
    const options = this.callOptions(timeoutMs);
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
