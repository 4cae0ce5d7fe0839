/**
 * Looking after once() records: listing a job's slots (`etcd-coord once status`), clearing one slot
 * (`once reset`) and deleting old records (`retainMs` / `--keep`). Records are `once/<job>/<slot>/record`
 * with the slot percent-encoded for `%` and `/` (once-keys.ts), so the records of a job are exactly the
 * keys `once/<job>/<one segment>/record` (a nested job `<job>/<sub>` has one more segment and is never
 * touched); slots are decoded for display, and a segment that is not an encoded slot is skipped.
 *
 * @module
 */
import type { CoordContext } from '../core/context.js';
import { ConflictError } from '../core/errors.js';
import { RangeQuery } from '../range/range.js';
import { assertName } from '../core/validate.js';
import { assertJob, parseRecordKey, recordKey } from './once-keys.js';
import { isOpen, type OnceRecord } from './once-record.js';

/** One slot's record as found in etcd. */
export interface SlotRecord {
  /** The slot, decoded (`x/s`, not `x%2Fs`). */
  slot: string;
  /** The record, or undefined when the value is not one (written by another tool, truncated). */
  record: OnceRecord | undefined;
  /** The record key's mod revision: deletes are guarded by it. */
  modRevision: bigint;
}

/**
 * Every slot record of `job`, in key order, read as one snapshot page by page (O(page) memory).
 *
 * @throws TypeError naming `job` when it is empty or ends with `/` (once-keys.ts `assertJob`)
 * @throws UnavailableError / CompactedError as `coord.range()` does
 */
export async function* slotRecords(
  ctx: CoordContext,
  job: string,
  signal?: AbortSignal,
): AsyncGenerator<SlotRecord> {
  assertJob(job);
  const prefix = `once/${job}/`;
  const range = new RangeQuery(ctx, prefix, { pageSize: 500, ...(signal ? { signal } : {}) });
  for await (const kv of range) {
    const parsed = parseRecordKey(kv.key.toString());
    // Another job's record (`<job>/<sub>`), a lock key, or a segment that is no encoded slot.
    if (parsed?.job !== job) continue;
    const { slot } = parsed;
    let record: OnceRecord | undefined;
    try {
      const value = JSON.parse(kv.value.toString()) as OnceRecord;
      record = value.job === job && value.slot === slot && Array.isArray(value.attempts) ? value : undefined;
    } catch {
      record = undefined;
    }
    yield { slot, record, modRevision: kv.modRevision };
  }
}

/** When a finished record was finished (its `end`, else its last attempt's start), as ms since the epoch. */
function finishedAt(record: OnceRecord): number {
  const last = record.attempts.at(-1);
  return Date.parse(record.end ?? last?.end ?? last?.start ?? record.start);
}

/** Deletes `key` if its mod revision is still `modRevision`; true when it did. */
async function guardedDelete(
  ctx: CoordContext,
  key: string,
  modRevision: bigint,
  what: string,
): Promise<boolean> {
  const full = ctx.keyspace.key(key);
  const res = await ctx.requester.run(
    what,
    (o) =>
      ctx.client.kv.txn(
        {
          compare: [{ key: full, target: 'Mod', result: 'Equal', mod_revision: modRevision.toString() }],
          success: [{ request_delete_range: { key: full } }],
          failure: [],
        },
        o,
      ),
    { write: true },
  );
  return res.succeeded;
}

/**
 * Deletes the records of `job` finished more than `retainMs` before `now`. A slot that may still run (a
 * `running` or `interrupted` record) or a record that is not one is kept; each delete is guarded by the
 * record's mod revision, so a record rewritten meanwhile stays. Once deleted, a host that still asks for
 * such an old slot runs it again: keep records longer than any host can be late.
 *
 * @example
 * ```ts
 * await sweepRecords(ctx, 'hourly-sync', 30 * 86_400_000); // keep 30 days
 * ```
 *
 * Failure modes: returns the number deleted; throws what the range or a delete throws (UnavailableError),
 * leaving the rest for the next sweep.
 */
export async function sweepRecords(
  ctx: CoordContext,
  job: string,
  retainMs: number,
  now = Date.now(),
  signal?: AbortSignal,
): Promise<number> {
  let deleted = 0;
  for await (const { slot, record, modRevision } of slotRecords(ctx, job, signal)) {
    if (record === undefined || isOpen(record)) continue;
    const at = finishedAt(record);
    if (!Number.isFinite(at) || now - at <= retainMs) continue;
    const what = `once "${job}" slot "${slot}": delete old record`;
    if (await guardedDelete(ctx, recordKey(job, slot), modRevision, what)) deleted++;
  }
  return deleted;
}

/** What {@link resetSlot} did. */
export type ResetResult =
  | { status: 'reset'; record: OnceRecord | undefined }
  | { status: 'absent' }
  | { status: 'running'; record: OnceRecord };

/**
 * Clears one slot so that the next call runs it again: deletes its record (guarded by its mod revision),
 * unless an attempt is running now (its record is `running` and that attempt's lease lives).
 *
 * @throws TypeError naming `job` when it is empty or ends with `/`; InvalidArgumentError for an empty `slot`
 * @throws UnavailableError when etcd cannot be reached; ConflictError when the record keeps changing
 *   under the reset (an unreadable record is reset like any other)
 */
export async function resetSlot(ctx: CoordContext, job: string, slot: string): Promise<ResetResult> {
  assertJob(job);
  assertName(slot, 'slot');
  const what = `once "${job}" slot "${slot}"`;
  // A record rewritten between the read and the guarded delete is read again (a few times, not for ever).
  for (let tries = 0; tries < 3; tries++) {
    const result = await resetOnce(ctx, job, slot, what);
    if (result !== undefined) return result;
  }
  throw new ConflictError(`${what}: the record kept changing while it was being reset; try again`);
}

async function resetOnce(
  ctx: CoordContext,
  job: string,
  slot: string,
  what: string,
): Promise<ResetResult | undefined> {
  const key = recordKey(job, slot);
  const res = await ctx.requester.run(`${what}: read record`, (o) =>
    ctx.client.kv.range({ key: ctx.keyspace.key(key) }, o),
  );
  const kv = res.kvs[0];
  if (!kv) return { status: 'absent' };
  let record: OnceRecord | undefined;
  try {
    record = JSON.parse(kv.value.toString()) as OnceRecord;
  } catch {
    record = undefined;
  }
  const last = record?.attempts?.at(-1);
  if (record?.state === 'running' && last?.outcome === undefined && last?.lease !== undefined) {
    const ttl = await ctx.requester.run(`${what}: check the runner's lease`, (o) =>
      ctx.client.leaseClient.leaseTimeToLive({ ID: BigInt(`0x${last.lease ?? '0'}`).toString() }, o),
    );
    if (Number(ttl.TTL) > 0) return { status: 'running', record };
  }
  const done = await guardedDelete(ctx, key, BigInt(kv.mod_revision), `${what}: reset`);
  return done ? { status: 'reset', record } : undefined;
}
