import type { CallOptions } from '@grpc/grpc-js';
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
  constructor(readonly requestTimeoutMs: number) {}

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
      return await raceAbort(fn(this.callOptions(opts.timeoutMs)), signal, what, opts.onLate);
    } catch (err) {
      throw toCoordError(err, what, opts.write ?? false);
    }
  }
}
