import { setMaxListeners } from 'node:events';
import type { CoordContext } from '../core/context.js';
import { abortError, withDeadline } from '../core/deadline.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import type { Session } from '../core/session.js';
import { kvsOf } from './blockers.js';
import { waiterKeyLost } from './lock-key.js';
import type { Enqueued, MultiPart } from './multi-acquire.js';
import { acquirePrefixWatch, type PrefixWatch } from './prefix-watch.js';
import { waitTurn } from './queue.js';

/* The wait of a multi-lock (`multi-acquire.ts`): first in every queue, and no key of mine lost meanwhile. */

/** Why the waits of the other parts were cancelled once every part was first. */
const DONE = new Error('multiLock: every part is first');

/**
 * Rejects once `part`'s key (created at `rev`) is deleted, or aborts with `signal`; never resolves. Watches
 * a key that is first in its queue already, while the other parts still wait: a key lost there must fail
 * the call at once (as a mutex waiter's own key does), not hold places in the other queues until they end.
 */
async function watchOwn(
  ctx: CoordContext,
  part: MultiPart,
  rev: bigint,
  session: Session,
  pw: { current: PrefixWatch },
  signal: AbortSignal,
): Promise<never> {
  const what = part.spec.what;
  let after = rev;
  for (;;) {
    try {
      await pw.current.watch.waitForDelete(part.key, after, signal);
    } catch {
      if (signal.aborted) throw abortError(signal, what);
      // The watch broke (compaction while disconnected, cancellation): a fresh one, then a read after it.
      pw.current.retire();
      const next = await acquirePrefixWatch(ctx, part.spec.prefix, signal);
      if (signal.aborted) {
        // The wait ended meanwhile: the grant keeps the watch it has.
        next.release();
        throw abortError(signal, what);
      }
      pw.current.release();
      pw.current = next;
      const res = await withRetry(
        () =>
          ctx.requester.run(`${what}: check waiter key`, (o) => ctx.client.kv.range({ key: part.key }, o), {
            signal,
          }),
        { signal, what },
      );
      const kv = res.kvs[0];
      if (kv && BigInt(kv.create_revision) === rev) {
        after = headerRevision(res.header);
        continue;
      }
    }
    throw await waiterKeyLost(ctx, what, session);
  }
}

/**
 * Waits, in every queue at once, until my key is first; while some parts still wait, the keys of those
 * that are first already are watched for deletion. One part's failure (its key deleted, the session lost,
 * a timeout) cancels the others. Then checks, from the watches, that no key of mine went in the meantime (a
 * read when a watch cannot tell): nobody older can join a queue once I am first, so all keys present
 * means first in all at once.
 *
 * @example
 * ```ts
 * await waitAll(ctx, 'multiLock ["a","b"]', parts, enqueued, session, watches, signal);
 * ```
 *
 * @throws LockLostError / SessionExpiredError when a waiter key of mine is gone; the signal's reason as
 *   `abortError` when it aborts
 */
export async function waitAll(
  ctx: CoordContext,
  what: string,
  parts: readonly MultiPart[],
  q: Enqueued,
  session: Session,
  watches: { current: PrefixWatch }[],
  signal: AbortSignal,
): Promise<void> {
  const rev = q.createRevision;
  const cancel = new AbortController();
  const inner = withDeadline(signal, undefined, cancel.signal);
  setMaxListeners(0, inner.signal);
  let reject!: (err: unknown) => void;
  const lost = new Promise<never>((_, r) => (reject = r));
  lost.catch(() => undefined);
  const fail = (err: unknown) => {
    if (!cancel.signal.aborted) cancel.abort(err);
    reject(err);
  };
  const first = async (i: number) => {
    const p = parts[i]!;
    if (q.older[i]!.kvs.length > 0)
      await waitTurn(ctx, p.spec, p.key, rev, session, watches[i]!, inner.signal, q.older[i]!);
    void watchOwn(ctx, p, rev, session, watches[i]!, inner.signal).catch((err: unknown) => {
      if (!inner.signal.aborted) fail(err);
    });
  };
  try {
    await Promise.race([
      Promise.all(
        parts.map((_, i) =>
          first(i).catch((err: unknown) => {
            fail(err);
            throw err;
          }),
        ),
      ),
      lost,
    ]);
  } catch (err) {
    // The first failure is the cause; the others are the cancellation it caused.
    throw cancel.signal.aborted && !signal.aborted ? (cancel.signal.reason as Error) : err;
  } finally {
    if (!cancel.signal.aborted) cancel.abort(DONE);
    inner.dispose();
  }
  const unsure = parts.some((p, i) => watches[i]!.current.watch.deletedAbove(p.key, rev) !== undefined);
  if (!unsure) return;
  const res = await withRetry(
    () =>
      ctx.requester.run(
        `${what}: check waiter keys`,
        (o) =>
          ctx.client.kv.txn(
            { compare: [], success: parts.map((p) => ({ request_range: { key: p.key } })) },
            o,
          ),
        { signal },
      ),
    { signal, what },
  );
  if (parts.some((_, i) => BigInt(kvsOf(res, i)[0]?.create_revision ?? 0) !== rev))
    throw await waiterKeyLost(ctx, what, session);
}
