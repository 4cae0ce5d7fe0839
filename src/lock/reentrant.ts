import { AsyncLocalStorage } from 'node:async_hooks';
import type { CoordContext } from '../core/context.js';
import type { ReleaseRunOptions } from '../core/release.js';
import type { Session } from '../core/session.js';
import type { Lock } from './lock.js';

/*
 * Reentrancy of `mutex(name, { reentrant: true })`, tracked with `AsyncLocalStorage`: each `withLock(fn)`
 * runs `fn` in a scope that carries the set of reentrant locks it holds. A `lock()`/`tryLock()`/`withLock()`
 * inside that scope that finds the same lock (same coordinator, name and session option) gets a counted
 * handle on it instead of waiting for itself. A bare `lock()` opens no scope (see {@link forkHoldings}).
 */

/** Which mutex a holding belongs to: one coordinator, one name, one session option. */
export interface ReentrantId {
  readonly ctx: CoordContext;
  readonly name: string;
  readonly session: Session | undefined;
}

/** One lock held by a context, shared by its counted handles. */
export class Holding {
  count = 0;
  constructor(
    readonly id: ReentrantId,
    readonly lock: Lock,
  ) {}

  matches(id: ReentrantId): boolean {
    return this.id.ctx === id.ctx && this.id.name === id.name && this.id.session === id.session;
  }

  /** A new counted handle. The real unlock happens when the last handle unlocks. */
  handle(): Lock {
    this.count++;
    return this.lock.share((opts: ReleaseRunOptions, first: boolean) => {
      if (first) this.count--;
      return this.count === 0 ? this.lock.unlock(opts) : Promise.resolve();
    });
  }

  get active(): boolean {
    return this.count > 0;
  }
}

/** The holdings visible to one context. A new set per `withLock()` scope: see {@link forkHoldings}. */
type Holdings = Set<Holding>;

const storage = new AsyncLocalStorage<Holdings>();

/**
 * What a `lock()` call finds in its context: a holding of the same mutex (then it shares it), or nothing.
 * Checked synchronously at the call, so a concurrent sibling that is granted later is never shared.
 */
export function findHolding(id: ReentrantId): Holding | undefined {
  for (const h of live()) if (h.matches(id)) return h;
  return undefined;
}

/**
 * A fresh copy of the current holdings, for `withLock`, which runs `fn` in it with `AsyncLocalStorage.run`.
 * Never `enterWith`: called from the synchronous part of an async caller, it would change the context of
 * that caller's caller, so sibling tasks started later (a second worker, the next interval tick) would
 * inherit the holding and share the lock.
 */
export function forkHoldings(): Holdings {
  return new Set(live());
}

/** Records a freshly granted lock in `holdings` and returns its first counted handle. */
export function recordHolding(holdings: Holdings, id: ReentrantId, lock: Lock): Lock {
  const h = new Holding(id, lock);
  holdings.add(h);
  return h.handle();
}

/** Runs `fn` with `holdings` as its context's reentrant locks. */
export function runWithHoldings<T>(holdings: Holdings, fn: () => T): T {
  return storage.run(holdings, fn);
}

/**
 * A nested handle on `h`. A lock lost while its context still holds handles is not re-taken by that
 * context (its in-process turn is still held): the nested call rejects with the loss.
 *
 * @throws LockLostError (the lock's loss reason) when the held lock was lost
 */
export function reenter(h: Holding): Lock {
  if (!h.lock.held) throw h.lock.signal.reason as Error;
  return h.handle();
}

/** Only the holdings still counted: a long-lived context that locks often does not pile up old ones. */
function live(): Holding[] {
  return [...(storage.getStore() ?? [])].filter((h) => h.active);
}
