import type { IRequestOp } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { ConflictError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';

/**
 * One write (a put or a delete of `key`) in a txn guarded by the key's mod revision when `expectRevision`
 * is given (`0n`: the key must not exist). Resolves with the revision of the store after the write and
 * whether it changed anything (deleting a missing key does not).
 *
 * @throws ConflictError when the key's mod revision is not `expectRevision`; nothing was written
 * @throws UnavailableError (with `mayHaveApplied`) when etcd does not answer in time
 */
export async function guardedWrite(
  ctx: CoordContext,
  what: string,
  key: Buffer,
  op: IRequestOp,
  opts: {
    expectRevision?: bigint | undefined;
    signal?: AbortSignal | undefined;
    timeoutMs?: number | undefined;
  },
): Promise<{ revision: bigint; wrote: boolean }> {
  const { expectRevision } = opts;
  const compare =
    expectRevision === undefined
      ? []
      : [{ key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: expectRevision.toString() }];
  const res = await ctx.requester.run(
    what,
    (o) => ctx.client.kv.txn({ compare, success: [op], failure: [{ request_range: { key } }] }, o),
    { signal: opts.signal, timeoutMs: opts.timeoutMs, write: true },
  );
  if (!res.succeeded) {
    const found = res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? '0';
    throw new ConflictError(
      `${what}: expected mod revision ${expectRevision}, found ${found}; nothing written`,
    );
  }
  const wrote = res.responses[0]?.response_delete_range?.deleted !== '0';
  return { revision: headerRevision(res.header), wrote };
}
