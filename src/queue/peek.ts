import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import { withRetry } from '../core/retry.js';
import { queuePrefix } from './claims.js';
import { itemId } from './ids.js';
import { bucketPriority, decodeItem, decodePayload, type QueueCodec } from './item.js';

/**
 * A job seen by `Queue.peek()`: not claimed, nothing to settle.
 *
 * @example
 * ```ts
 * const next = await q.peek();
 * if (next && next.attempts > 0) log(`job ${next.id} is being retried`);
 * ```
 */
export interface PeekedJob<T> {
  /** The id `pop()` would give it. */
  id: string;
  /** The payload, decoded as `pop()` would (JSON or the queue's codec). */
  payload: T;
  /** Integer in [0, 999999]; higher is served first. */
  priority: number;
  /** Deliveries it had so far (0 for a job never handed out; a nacked one has had some). */
  attempts: number;
}

/** Serving order: higher priority, then older (create revision), then batch index (the key). */
interface Candidate {
  rel: string;
  priority: number;
  createRevision: bigint;
  attempts: number;
  payload: Buffer;
}

function before(a: Candidate, b: Candidate): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.createRevision !== b.createRevision) return a.createRevision < b.createRevision;
  return a.rel < b.rel;
}

/**
 * @internal `queue.peek()`: one read of the queue's prefix (items and claims at one revision), and the
 * job `pop()` would hand out next: the first visible (due), unclaimed item in serving order. Reads the
 * whole queue (O(items) bytes); writes nothing.
 */
export async function peekItem<T>(
  ctx: CoordContext,
  queue: string,
  settings: { codec: QueueCodec<T> | undefined; maxAttempts: number },
  opts: WaitOptions,
): Promise<PeekedJob<T> | null> {
  const what = `queue "${queue}": peek`;
  const range = ctx.keyspace.prefixRange(queuePrefix(queue));
  const strip = ctx.keyspace.key(queuePrefix(queue)).length;
  const res = await withRetry(
    (_, attempt) =>
      ctx.requester.run(what, (o) => ctx.client.kv.range({ key: range.key, range_end: range.end }, o), {
        signal: attempt.signal,
        timeoutMs: attempt.remainingMs,
      }),
    { signal: opts.signal, timeoutMs: opts.timeoutMs ?? ctx.requester.requestTimeoutMs, what, retries: 3 },
  );
  const claimed = new Set<string>();
  for (const kv of res.kvs) {
    const key = kv.key.subarray(strip).toString('utf8');
    if (key.startsWith('claims/')) claimed.add(key.slice('claims/'.length));
  }
  const now = Date.now();
  let best: Candidate | undefined;
  for (const kv of res.kvs) {
    const key = kv.key.subarray(strip).toString('utf8');
    if (!key.startsWith('items/')) continue;
    const rel = key.slice('items/'.length);
    const slash = rel.indexOf('/');
    const item = decodeItem(kv.value);
    // A key this module did not write is never handed out; a delayed or claimed one is not visible; one
    // whose last delivery ended without a settle (its consumer died) goes to the dead letters on the next pop.
    if (!item || slash < 0 || item.header.v > now || claimed.has(rel)) continue;
    if (item.header.a >= settings.maxAttempts) continue;
    const c: Candidate = {
      rel,
      priority: bucketPriority(rel.slice(0, slash)),
      createRevision: BigInt(kv.create_revision),
      attempts: item.header.a,
      payload: item.payload,
    };
    if (!best || before(c, best)) best = c;
  }
  if (!best) return null;
  return {
    id: itemId(best.createRevision, best.rel),
    payload: decodePayload(best.payload, settings.codec),
    priority: best.priority,
    attempts: best.attempts,
  };
}
