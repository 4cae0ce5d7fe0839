import { AbortedError, CoordError } from './errors.js';

/** Options every blocking call takes. */
export interface WaitOptions {
  /** Cancels the wait; the call rejects with `AbortedError` (or the signal's own `CoordError` reason). */
  signal?: AbortSignal | undefined;
  /**
   * Gives up after this many milliseconds; the call rejects with its recipe's timeout error. An upper
   * bound on the whole call, whatever step is running (requests, retries, a session renewal), once the
   * recipe hands it to the core (`withRetry`, `Requester.run`, `currentSession`). Slack: the call settles
   * at most `REQUEST_GRACE_MS` / `ATTEMPT_GRACE_MS` (100 ms) after the deadline, plus event-loop latency;
   * in practice within a few milliseconds, because gRPC's own deadline ends the request at the same time.
   */
  timeoutMs?: number | undefined;
}

/** Reason placed on a {@link Deadline}'s signal when its timer fires. */
export class DeadlineExceeded extends Error {
  constructor(readonly timeoutMs: number) {
    super(`deadline of ${timeoutMs} ms exceeded`);
    this.name = 'DeadlineExceeded';
  }
}

/** A caller's signal combined with a timeout. `dispose()` clears the timer and removes the listener. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** `performance.now()` at which the timeout fires, if there is one. */
  readonly expiresAt: number | undefined;
  /** Milliseconds left (never negative), or `undefined` without a timeout. */
  remaining(): number | undefined;
  readonly timedOut: boolean;
  dispose(): void;
}

/**
 * Combines an optional caller signal and an optional timeout into one signal. One helper for every recipe,
 * so no recipe leaks a timer or an abort listener.
 */
export function withDeadline(
  signal?: AbortSignal,
  timeoutMs?: number,
  ...more: (AbortSignal | undefined)[]
): Deadline {
  const controller = new AbortController();
  const parents = [signal, ...more].filter((s): s is AbortSignal => s !== undefined);
  const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  let timer: NodeJS.Timeout | undefined;
  const expiresAt = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
  const dispose = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    for (const parent of parents) parent.removeEventListener('abort', onAbort);
  };
  for (const parent of parents) {
    if (parent.aborted) {
      controller.abort(parent.reason);
      break;
    }
    parent.addEventListener('abort', onAbort, { once: true });
  }
  if (timeoutMs !== undefined && !controller.signal.aborted) {
    timer = setTimeout(() => controller.abort(new DeadlineExceeded(timeoutMs)), timeoutMs);
  }
  if (controller.signal.aborted) dispose();
  else controller.signal.addEventListener('abort', dispose, { once: true });
  return {
    signal: controller.signal,
    expiresAt,
    remaining: () => (expiresAt === undefined ? undefined : Math.max(0, expiresAt - performance.now())),
    get timedOut() {
      return controller.signal.reason instanceof DeadlineExceeded;
    },
    dispose,
  };
}

/**
 * The error to throw for an aborted signal: a `CoordError` reason as is, a timeout as `onTimeout()`,
 * anything else as `AbortedError` with the reason as its cause.
 */
export function abortError(signal: AbortSignal, what: string, onTimeout?: (ms: number) => Error): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof CoordError) return reason;
  if (reason instanceof DeadlineExceeded && onTimeout) return onTimeout(reason.timeoutMs);
  if (reason instanceof DeadlineExceeded)
    return new AbortedError(`${what}: timed out after ${reason.timeoutMs} ms`, { cause: reason });
  return new AbortedError(`${what}: aborted`, { cause: reason });
}

/** Throws {@link abortError} when the signal is already aborted. */
export function throwIfAborted(
  signal: AbortSignal | undefined,
  what: string,
  onTimeout?: (ms: number) => Error,
): void {
  if (signal?.aborted) throw abortError(signal, what, onTimeout);
}

/**
 * Settles with `promise`, or rejects with {@link abortError} as soon as `signal` aborts. The promise keeps
 * running; the caller must make sure whatever it holds is released (its result is handed to `onLate`).
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
  onLate?: (value: T) => void,
  onTimeout?: (ms: number) => Error,
): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.then(
      (v) => onLate?.(v),
      () => undefined,
    );
    return Promise.reject(abortError(signal, what, onTimeout));
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      settled = true;
      reject(abortError(signal, what, onTimeout));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (settled) onLate?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (!settled) reject(err as Error);
      },
    );
  });
}

/** Resolves after `ms`, or rejects with {@link abortError} when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal, what = 'sleep'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal, what));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!, what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
