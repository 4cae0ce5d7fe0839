import type { CoordContext } from '../core/context.js';
import { abortError } from '../core/deadline.js';
import type { OnceRecord, RecordStore } from './once-record.js';

/**
 * @internal A new slot holder found a `running` attempt that carries its runner's lease (breaker F4: the
 * runner's slot key was deleted, by an operator or a bug, while its session lived). The attempt is crashed
 * only once that lease is gone; until then the holder waits: a watch on the record key wakes it when the
 * record changes (the runner wrote its outcome), and one timer at the lease's remaining TTL wakes it to
 * look at the lease again (a keepalive renews it; no lease event exists to watch). Returns the record to
 * decide on: no longer `running` (skip or failed), or still this attempt with its lease gone (crashed).
 *
 * @throws what the record read throws (ConflictError, UnavailableError); AbortedError / the reason of
 *   `signal` (the holder's term) when it aborts first
 *
 * Failure modes: etcd unreachable → the read or the TTL request fails (retried by the requester within
 * its deadline) and the holder's term, which lives on the same etcd, ends too.
 */
export async function waitForRunner(
  ctx: CoordContext,
  store: RecordStore,
  recordKey: Buffer,
  current: { record: OnceRecord; raw: Buffer },
  signal: AbortSignal,
): Promise<{ record: OnceRecord; raw: Buffer } | undefined> {
  const what = 'once: wait for a running attempt whose lease lives';
  let cur: { record: OnceRecord; raw: Buffer } | undefined = current;
  for (;;) {
    const lease = runningLease(cur?.record);
    if (lease === undefined) return cur;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const sub = ctx.watchHub.watch(
      { key: recordKey },
      { onBatch: () => wake(), onCompacted: () => wake(), onError: () => wake() },
    );
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => wake();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await sub.ready;
      const ttl = await ctx.requester.run(
        what,
        (o) => ctx.client.leaseClient.leaseTimeToLive({ ID: lease.toString() }, o),
        { signal },
      );
      // A lease past its TTL but not yet revoked still holds keys: count it alive until etcd drops it.
      const alive = Number(ttl.grantedTTL) > 0 || Number(ttl.TTL) >= 0;
      const again = await store.read(signal);
      if (!alive || !again || runningLease(again.record) !== lease) return again;
      cur = again;
      timer = setTimeout(wake, (Math.max(0, Number(ttl.TTL)) + 1) * 1000);
      await woken;
      if (signal.aborted) throw abortError(signal, what);
      cur = await store.read(signal);
    } finally {
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sub.close();
    }
  }
}

/** The lease of the record's unfinished last attempt, if it is `running` and names one. */
function runningLease(record: OnceRecord | undefined): bigint | undefined {
  if (!record || record.state !== 'running') return undefined;
  const last = record.attempts.at(-1);
  if (!last || last.outcome !== undefined || last.lease === undefined) return undefined;
  return BigInt(`0x${last.lease}`);
}
