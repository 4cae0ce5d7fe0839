import { raceAbort } from './deadline.js';

/**
 * In-process FIFO per etcd key. The owner key of a lock or an election is `<name>/<leaseHex>`, one per
 * session and name, so concurrent `lock()` or `campaign()` calls on one session and name take turns here
 * before touching etcd: two callers never share one key and both believe they hold it (issue 14).
 */
const tails = new Map<string, Promise<void>>();

/**
 * True when some caller in this process holds or waits for `id`.
 *
 * @example
 * ```ts
 * if (isLocallyBusy(key.toString('hex'))) return null; // tryLock: another caller here has the turn
 * ```
 */
export function isLocallyBusy(id: string): boolean {
  return tails.has(id);
}

/**
 * Waits for every earlier caller on `id` to release. Resolves with the release function (idempotent).
 *
 * @example
 * ```ts
 * const release = await takeLocalTurn(key.toString('hex'), signal, 'mutex "jobs": lock');
 * try { await acquireInEtcd(); } catch (err) { release(); throw err; }
 * ```
 *
 * @throws AbortedError (or the signal's `CoordError` reason) when `signal` aborts first; the turn is given up.
 *
 * Failure modes: none of its own (no I/O); a holder that never calls its release blocks every later
 * caller on `id`, so holders release in a `finally` or when what they hold ends.
 */
export async function takeLocalTurn(
  id: string,
  signal: AbortSignal | undefined,
  what: string,
): Promise<() => void> {
  const prev = tails.get(id) ?? Promise.resolve();
  let open!: () => void;
  const mine = new Promise<void>((resolve) => (open = resolve));
  const tail = prev.then(() => mine);
  tails.set(id, tail);
  let released = false;
  let holding = false;
  const release = () => {
    if (released) return;
    released = true;
    open();
    // A holder that is last in line leaves no one behind: forget the key now, so a tryLock right after
    // unlock() sees it free. A waiter that gave up must still let its predecessors finish first.
    if (holding && tails.get(id) === tail) tails.delete(id);
    else void tail.then(() => tails.get(id) === tail && tails.delete(id));
  };
  try {
    await raceAbort(prev, signal, what);
    holding = true;
    return release;
  } catch (err) {
    release();
    throw err;
  }
}
