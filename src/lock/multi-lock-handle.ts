import { AbortedError } from '../core/errors.js';
import type { ReleaseRunOptions } from '../core/release.js';
import { assertOptionalDuration, assertOptionalSignal, assertOptions } from '../core/validate.js';
import type { Lock } from './lock.js';

/**
 * Several mutexes held together, from {@link MultiLock.lock}: one {@link Lock} per name, all granted at
 * once. Each name's key is `<name>/<leaseId hex>`, as a plain `coord.mutex(name)` holder's.
 *
 * @example
 * ```ts
 * await using held = await coord.multiLock(['accounts/a', 'accounts/b']).lock({ timeoutMs: 5000 });
 * await transfer({ signal: held.signal, tokens: held.fencingTokens });
 * ```
 *
 * Failure modes: `signal` aborts (with that lock's `LockLostError`) as soon as ANY of the locks is lost —
 * its lease expired or was revoked, or its key was deleted — and from then on that name's guarded writes
 * fail. Other names' keys stay until `unlock()` (or the lease's end): call it after a loss too.
 */
export class MultiLockHandle {
  /**
   * One fencing token per name: the create revision of that name's key. All keys are created in one txn,
   * so every token has the same value; each is strictly greater than every earlier holder's of its name.
   */
  readonly fencingTokens: ReadonlyMap<string, bigint>;
  /** The lock of each name, e.g. for `locks.get(name).guard()` in a guarded txn. */
  readonly locks: ReadonlyMap<string, Lock>;
  /** The session lease every key is attached to. */
  readonly leaseId: bigint;
  readonly #what: string;
  readonly #controller = new AbortController();

  /** @internal made by {@link MultiLock} */
  constructor(what: string, locks: ReadonlyMap<string, Lock>) {
    this.#what = what;
    this.locks = locks;
    this.fencingTokens = new Map([...locks].map(([name, lock]) => [name, lock.fencingToken]));
    const first = locks.values().next().value as Lock;
    this.leaseId = first.leaseId;
    for (const lock of locks.values()) {
      const onAbort = () => this.#lose(lock.signal.reason);
      if (lock.signal.aborted) onAbort();
      else {
        lock.signal.addEventListener('abort', onAbort, { once: true });
        this.#controller.signal.addEventListener(
          'abort',
          () => lock.signal.removeEventListener('abort', onAbort),
          { once: true },
        );
      }
    }
  }

  /**
   * Aborted (with the lost lock's `LockLostError`) when any of the locks is lost, or (with `AbortedError`)
   * once `unlock()` is called.
   */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True until `unlock()` is called or any of the locks is known to be lost. */
  get held(): boolean {
    return !this.#controller.signal.aborted;
  }

  /**
   * Releases every lock: each key is deleted only if it still has its create revision (so a newer holder's
   * key is never touched). The deletes run in parallel; each is retried in the background while the
   * session lives, and `unlock()` may be called again after a failure: it waits for the ones still
   * unconfirmed. `timeoutMs` (default the coordinator's `requestTimeoutMs`) and `signal` bound this call.
   *
   * @example
   * ```ts
   * const held = await coord.multiLock(['a', 'b']).lock();
   * try { await work(held.signal); } finally { await held.unlock(); }
   * ```
   *
   * @throws UnavailableError when a delete is not confirmed in time (the first such failure; the releases
   *   go on); AbortedError when `signal` aborts first
   */
  async unlock(opts: ReleaseRunOptions = {}): Promise<void> {
    assertOptions(opts, 'opts');
    assertOptionalSignal(opts.signal, 'signal');
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    if (!this.#controller.signal.aborted) this.#controller.abort(new AbortedError(`${this.#what}: unlocked`));
    const results = await Promise.allSettled([...this.locks.values()].map((l) => l.unlock(opts)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Same as {@link unlock}. */
  release(opts: ReleaseRunOptions = {}): Promise<void> {
    return this.unlock(opts);
  }

  /** Same as {@link unlock}, never rejects (the releases go on in the background). */
  close(): Promise<void> {
    return this.unlock().catch(() => undefined);
  }

  /** Unlocks, for `await using`: the same as {@link MultiLockHandle.unlock}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.unlock();
  }

  #lose(reason: unknown): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }
}
