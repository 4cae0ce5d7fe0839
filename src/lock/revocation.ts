import type { CoordContext } from '../core/context.js';
import { Backoff } from '../core/backoff.js';
import { withRetry } from '../core/retry.js';
import type { WatchSubscription } from '../core/watch-hub.js';

/*
 * Revocation (Curator's `Revoker`): anyone may *ask* the holder of a mutex to release it. The request is
 * one key, `<name>\0revoke`, whose value is the fencing token of the holder it asks, attached to that
 * holder's own lease. So a request never reaches the next holder: another token does not match, the key
 * goes with the asked holder's lease, and a revocable holder's clean unlock deletes it in the unlock txn.
 * A holder that never reads it (a mutex without `revocable`, `etcdctl lock`, Go) leaves it until its lease
 * ends: deleting it in every unlock would make every user of a name need an RBAC grant on that key, for a
 * key that names one holder's token and dies with that holder's lease anyway.
 */

const REVOKE_SUFFIX = Buffer.from('\0revoke');

/** The request key for a name whose full etcd key (namespace included) is `nameKey`. */
export function revokeKeyOf(nameKey: Buffer): Buffer {
  return Buffer.concat([nameKey, REVOKE_SUFFIX]);
}

/** What {@link requestRevocation} needs to know about the current holder. */
export interface RevocationTarget {
  /** The holder's full etcd key. */
  etcdKey: Buffer;
  fencingToken: bigint;
  leaseId: bigint;
}

/** How often the holder changes under a request before it gives up (each round re-reads the holder). */
const MAX_ROUNDS = 5;

/**
 * Writes a release request for the current holder (read by `readHolder`), guarded by the holder's key:
 * `Create == token` → put `<name>\0revoke` = token under the holder's lease. When the holder changed
 * between the read and the txn, reads again.
 *
 * @example
 * ```ts
 * const asked = await requestRevocation(ctx, 'mutex "a"', revokeKeyOf(nameKey), readHolder, signal);
 * ```
 *
 * @returns the holder asked, or `undefined` when the lock is free
 * @throws UnavailableError when etcd does not answer (repeating is safe: the put is the same each time)
 *
 * Failure modes: a holder whose lease expires between the read and the txn fails the compare (its key is
 * gone): the next round asks the next holder. A holder not made `revocable` never hears of the request.
 */
export async function requestRevocation<H extends RevocationTarget>(
  ctx: CoordContext,
  what: string,
  revokeKey: Buffer,
  readHolder: () => Promise<H | null>,
  signal: AbortSignal | undefined,
): Promise<H | undefined> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const holder = await readHolder();
    if (!holder) return undefined;
    const token = holder.fencingToken.toString();
    const res = await withRetry(
      () =>
        ctx.requester.run(
          `${what}: request release`,
          (o) =>
            ctx.client.kv.txn(
              {
                compare: [{ key: holder.etcdKey, target: 'Create', result: 'Equal', create_revision: token }],
                success: [
                  {
                    request_put: {
                      key: revokeKey,
                      value: Buffer.from(token),
                      lease: holder.leaseId.toString(),
                    },
                  },
                ],
                failure: [],
              },
              o,
            ),
          { write: true, signal },
        ),
      { signal, what },
    );
    if (res.succeeded) return holder;
  }
  return undefined;
}

/**
 * Holder side: calls `onRequest` (once is enough; the holder ignores repeats) when `<name>\0revoke` holds
 * this holder's token — already at the grant, or written later. One shared watch-hub subscription on the
 * key; a broken watch re-subscribes and re-reads. Returns the function that stops it.
 *
 * Failure modes: none surfaced: while etcd is unreachable a request is noticed once the watch resumes.
 */
export function watchRevocation(
  ctx: CoordContext,
  revokeKey: Buffer,
  holder: { fencingToken: bigint },
  onRequest: () => void,
): () => void {
  const token = Buffer.from(holder.fencingToken.toString());
  const backoff = new Backoff(50, 2000);
  let sub: WatchSubscription | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const check = (value: Buffer | undefined) => {
    if (!stopped && value?.equals(token)) onRequest();
  };
  const restart = () => {
    sub?.close();
    if (stopped) return;
    timer = setTimeout(start, backoff.next());
    timer.unref();
  };
  const start = () => {
    if (stopped) return;
    sub = ctx.watchHub.watch(
      { key: revokeKey },
      {
        onBatch: (b) => {
          for (const e of b.events) if (e.type === 'put') check(e.kv.value);
        },
        onCompacted: restart,
        onError: restart,
      },
    );
    // Read after the watch is live, so a request written in between is seen by one or the other.
    sub.ready
      .then(() =>
        ctx.requester.run('lock: read revoke request', (o) => ctx.client.kv.range({ key: revokeKey }, o)),
      )
      .then((res) => check(res.kvs[0]?.value))
      .catch(() => (stopped ? undefined : restart()));
  };
  start();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    sub?.close();
  };
}
