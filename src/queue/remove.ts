import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import { InvalidArgumentError, isTransient, UnavailableError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { cmpCreate, queuePrefix } from './claims.js';
import { batchIndex, parseItemId } from './ids.js';

/**
 * @internal `queue.remove(id)`: finds the item created at the id's revision (a range filtered by create
 * revision, keys only), then deletes it in one txn guarded by "this item, and no claim on it". A claim
 * makes the job the consumer's: it is not removed, and the answer is `false`.
 *
 * A retry after an unanswered delete that finds the item gone cannot tell its own delete from an ack
 * elsewhere: it rejects `UnavailableError` with `mayHaveApplied` rather than guess.
 */
export async function removeItem(
  ctx: CoordContext,
  queue: string,
  id: string,
  opts: WaitOptions,
): Promise<boolean> {
  const parsed = parseItemId(id);
  if (!parsed) {
    throw new InvalidArgumentError(
      `Expected \`id\` to be a job id ("<revision>" or "<revision>.<index>"), got ${JSON.stringify(id)}`,
    );
  }
  const what = `queue "${queue}": remove job ${id}`;
  const itemsPrefix = `${queuePrefix(queue)}items/`;
  const range = ctx.keyspace.prefixRange(itemsPrefix);
  const strip = ctx.keyspace.key(itemsPrefix).length;
  let uncertain = false;
  /** Some attempt's delete may have applied and the job is gone: the answer is final, not to retry. */
  let ambiguous: UnavailableError | undefined;
  const absent = (): false => {
    if (!uncertain) return false;
    ambiguous = new UnavailableError(
      `${what}: the job is gone, and an earlier attempt got no answer: it may be what removed it`,
      { mayHaveApplied: true },
    );
    throw ambiguous;
  };
  return withRetry(
    async (_, attempt) => {
      const run = { signal: attempt.signal, timeoutMs: attempt.remainingMs };
      const found = await ctx.requester.run(
        `${what}: find it`,
        (o) =>
          ctx.client.kv.range(
            {
              key: range.key,
              range_end: range.end,
              keys_only: true,
              min_create_revision: parsed.revision.toString(),
              max_create_revision: parsed.revision.toString(),
            },
            o,
          ),
        run,
      );
      const kv = found.kvs.find((k) => batchIndex(k.key.subarray(strip).toString('utf8')) === parsed.index);
      if (!kv) return absent();
      const rel = kv.key.subarray(strip).toString('utf8');
      const claimKey = ctx.keyspace.key(`${queuePrefix(queue)}claims/${rel}`);
      try {
        const res = await ctx.requester.run(
          what,
          (o) =>
            ctx.client.kv.txn(
              {
                compare: [cmpCreate(kv.key, parsed.revision), cmpCreate(claimKey, 0n)],
                success: [{ request_delete_range: { key: kv.key } }],
                failure: [{ request_range: { key: kv.key, keys_only: true } }],
              },
              o,
            ),
          { ...run, write: true },
        );
        if (res.succeeded) return true;
        // Still there: claimed, the consumer's now. Gone: acked or dead-lettered since the lookup.
        if ((res.responses[0]?.response_range.kvs.length ?? 0) > 0) return false;
        return absent();
      } catch (err) {
        if (err instanceof UnavailableError && err.mayHaveApplied) uncertain = true;
        throw err;
      }
    },
    {
      signal: opts.signal,
      timeoutMs: opts.timeoutMs ?? ctx.requester.requestTimeoutMs,
      shouldRetry: (err) => err !== ambiguous && isTransient(err),
      what,
    },
  );
}
