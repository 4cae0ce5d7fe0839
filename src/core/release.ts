import { setMaxListeners } from 'node:events';
import { detached } from './call-scope.js';
import { Backoff } from './backoff.js';
import { abortError, sleep, withDeadline } from './deadline.js';
import { isTransient, UnavailableError } from './errors.js';

/** Options of {@link Release.run}. */
export interface ReleaseRunOptions {
  /** Stops *waiting* (the release itself keeps going in the background). */
  signal?: AbortSignal | undefined;
  /** Stops waiting after this long; the call rejects with the last failure (or `UnavailableError`). */
  timeoutMs?: number | undefined;
}

/** How a {@link Release} is driven. */
export interface ReleaseSpec {
  /** Names the release in errors, e.g. `mutex "jobs/a": unlock`. */
  what: string;
  /**
   * One attempt. Must be safe to repeat after an attempt of unknown outcome (a delete guarded by the
   * key's create revision, a delete of a key only this caller writes): it runs until one succeeds.
   */
  attempt: (signal: AbortSignal) => Promise<void>;
  /**
   * While this signal is live the release keeps retrying in the background (the session's signal: once
   * the lease is gone, etcd removes the key itself and retrying is pointless).
   */
  alive: AbortSignal;
  /** Failed attempts a caller waits through before its call rejects (the loop goes on). Default 3. */
  failuresPerCall?: number;
  /** Largest back-off between background attempts, ms. Default 1000 (so a healed etcd is noticed quickly). */
  maxBackoffMs?: number;
  /**
   * How long a caller that gives no `timeoutMs` waits (the coordinator's `requestTimeoutMs`, so every
   * public release settles within its deadline). Default: no bound beyond `failuresPerCall`.
   */
  defaultTimeoutMs?: number | undefined;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
  failures: number;
}

/**
 * A release (unlock, resign, deregister, leave) that keeps trying until it is confirmed: the shared piece
 * behind every recipe's release, so that a release whose answer was lost is neither remembered as failed
 * for ever nor silently dropped (etcd 3.6's `TestMutexStaleUnlockDoesNotDeleteSameSessionRelock` and
 * `TestElectionResignCanRetryAfterError` expect a retried release to succeed).
 *
 * `run()` starts (or joins) one background loop of attempts with jittered back-off. The loop stops when
 * an attempt succeeds, when an attempt fails with a non-transient error, or when `alive` aborts. Each
 * caller's promise resolves when the release is confirmed, and rejects — surfacing the failure — after
 * `failuresPerCall` failed attempts, its own `timeoutMs`/`signal`, or the loop's end without success. The
 * loop keeps going after a caller gave up; calling `run()` again waits for the next attempts.
 *
 * @example
 * ```ts
 * const release = new Release({ what: 'mutex "a": unlock', attempt: (signal) => deleteMyKey(signal), alive: session.signal });
 * await release.run();            // rejects with UnavailableError if etcd stays unreachable…
 * await release.run();            // …and can simply be called again; meanwhile it retries by itself
 * ```
 *
 * @throws UnavailableError (or the attempt's own error) from `run()` as described above
 *
 * Failure modes: etcd unreachable → callers reject, the loop retries every ≤ `maxBackoffMs` while the
 * session lives and deletes the key once etcd answers; session lost → the loop stops (the lease takes
 * the key with it) and callers still waiting reject with the last failure.
 */
export class Release {
  readonly #spec: ReleaseSpec;
  readonly #waiters = new Set<Waiter>();
  #done = false;
  #looping = false;
  #last: unknown;
  /** Some attempt got no answer: it may have applied (now or later), whatever the later attempts say. */
  #uncertain = false;
  /** Attempts sent and not answered yet. */
  #inFlight = 0;

  constructor(spec: ReleaseSpec) {
    this.#spec = spec;
  }

  /** True once an attempt has succeeded. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Releases, or waits for the release already under way. See the class doc for when it rejects.
   *
   * @throws UnavailableError (or the attempt's error) when the release is not confirmed in time
   * @throws AbortedError when `signal` aborts first (the release goes on in the background)
   */
  run(opts: ReleaseRunOptions = {}): Promise<void> {
    if (this.#done) return Promise.resolve();
    const timeoutMs = opts.timeoutMs ?? this.#spec.defaultTimeoutMs;
    const deadline = withDeadline(opts.signal, timeoutMs);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        failures: 0,
        resolve: () => {
          finish();
          resolve();
        },
        reject: (err) => {
          finish();
          reject(err);
        },
      };
      const finish = () => {
        this.#waiters.delete(waiter);
        deadline.signal.removeEventListener('abort', onAbort);
        deadline.dispose();
      };
      const onAbort = () => {
        if (deadline.timedOut && !opts.signal?.aborted) {
          const last = this.#last;
          waiter.reject(
            this.#unconfirmed(
              last instanceof Error
                ? last
                : new UnavailableError(`${this.#spec.what}: not confirmed within ${timeoutMs} ms`),
            ),
          );
        } else waiter.reject(abortError(deadline.signal, this.#spec.what));
      };
      if (deadline.signal.aborted) return onAbort();
      deadline.signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
      // The loop is shared by every caller and outlives this one: it must not carry this call's deadline.
      if (!this.#looping) void detached(() => this.#loop());
    });
  }

  /**
   * The error a caller sees: once an attempt went unanswered, a later refusal ("not applied") must not
   * make the release look certainly unapplied — the unanswered one may have applied.
   */
  #surfaced(err: unknown): unknown {
    if (!(err instanceof UnavailableError)) return err;
    if (err.mayHaveApplied) {
      this.#uncertain = true;
      return err;
    }
    if (!this.#uncertain) return err;
    return new UnavailableError(
      `${this.#spec.what}: not confirmed; an earlier attempt got no answer and may have applied (the last attempt's error is the cause)`,
      { cause: err, mayHaveApplied: true },
    );
  }

  /**
   * What a caller that stops waiting is told: never "not applied" while an attempt is in flight, one went
   * unanswered, or the loop goes on in the background — any of them may still apply the release. (The
   * queue's torture finding: an ack cut by its deadline with its first attempt stalled said "not applied",
   * applied, and the consumer waited for a redelivery that never came.)
   */
  #unconfirmed(err: unknown): unknown {
    if (!(err instanceof UnavailableError) || err.mayHaveApplied) return err;
    const why =
      this.#inFlight > 0
        ? 'an attempt is still in flight'
        : this.#uncertain
          ? 'an earlier attempt got no answer'
          : !this.#done && !this.#spec.alive.aborted
            ? 'it is retried in the background'
            : undefined;
    if (why === undefined) return err;
    return new UnavailableError(`${this.#spec.what}: not confirmed (${why}): it may have applied`, {
      cause: err,
      mayHaveApplied: true,
    });
  }

  async #loop(): Promise<void> {
    this.#looping = true;
    const backoff = new Backoff(50, this.#spec.maxBackoffMs ?? 1000);
    const alive = this.#spec.alive;
    // A lost session still gets one attempt: the key may outlive our view of the lease by up to its TTL.
    let first = true;
    try {
      while (!this.#done && (first || !alive.aborted) && this.#waiters.size + (alive.aborted ? 0 : 1) > 0) {
        first = false;
        const attempt = new AbortController();
        setMaxListeners(0, attempt.signal);
        try {
          this.#inFlight++;
          try {
            await this.#spec.attempt(attempt.signal);
          } finally {
            this.#inFlight--;
          }
          this.#done = true;
          for (const w of [...this.#waiters]) w.resolve();
          return;
        } catch (caught) {
          const err = this.#surfaced(caught);
          this.#last = err;
          if (!isTransient(err)) {
            for (const w of [...this.#waiters]) w.reject(err);
            return;
          }
          const limit = this.#spec.failuresPerCall ?? 3;
          for (const w of [...this.#waiters]) if (++w.failures >= limit) w.reject(this.#unconfirmed(err));
        }
        if (alive.aborted) break;
        await sleep(backoff.next(), alive).catch(() => undefined);
      }
      const err = this.#last ?? new UnavailableError(`${this.#spec.what}: the session ended first`);
      for (const w of [...this.#waiters]) w.reject(err);
    } finally {
      this.#looping = false;
    }
  }
}
