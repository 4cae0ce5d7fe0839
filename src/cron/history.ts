import type { CoordContext } from '../core/context.js';
import { assertInteger, assertOptionalSignal, assertOptions } from '../core/validate.js';
import { slotRecords } from '../election/once-admin.js';
import type { OnceRecord } from '../election/once-record.js';
import { slotTime } from './slot-id.js';

/** One slot of a schedule, as its once record tells it. */
export interface CronHistoryEntry {
  /** The slot id: its scheduled time, ISO 8601 in the schedule's timezone. */
  slot: string;
  /** `done`, `failed`, `skipped` (missed or overlap: see `reason`), `running`, `interrupted`. */
  state: OnceRecord['state'];
  /** How the last attempt ended (`ok`, `error`, `crashed`, `interrupted`, `skipped`). */
  outcome: OnceRecord['outcome'];
  /** Why a skipped slot did not run, or a failed run's error. */
  reason?: string | undefined;
  /** The last attempt's host. */
  host: string;
  /** Attempts at the slot (2 after a runner was killed and another host re-ran it). */
  attempts: number;
  /** The last attempt's duration, when it ended. */
  durationMs?: number | undefined;
  /** The whole once record. */
  record: OnceRecord;
}

/**
 * The newest `limit` slots of job `name` (default 20), newest first. Reads every record of the job (paginated,
 * one snapshot): fine for the retained history of a schedule; use `retainMs` to keep it bounded.
 *
 * @example
 * ```ts
 * const recent = await cronHistory(coord, 'nightly-report', { limit: 5 });
 * ```
 *
 * @throws TypeError / InvalidArgumentError for a `limit` that is not an integer ≥ 1 (before any request)
 * @throws UnavailableError / CompactedError as `coord.range()` does
 */
export async function cronHistory(
  ctx: CoordContext,
  name: string,
  opts: { limit?: number; signal?: AbortSignal } = {},
): Promise<CronHistoryEntry[]> {
  assertOptions(opts, 'opts');
  const limit = opts.limit ?? 20;
  assertInteger(limit, 'limit', 1, 1_000_000_000);
  assertOptionalSignal(opts.signal);
  const out: CronHistoryEntry[] = [];
  for await (const { slot, record } of slotRecords(ctx, name, opts.signal)) {
    if (!record || Number.isNaN(slotTime(slot))) continue;
    const last = record.attempts.at(-1);
    const end = record.end ?? last?.end;
    out.push({
      slot,
      state: record.state,
      outcome: record.outcome,
      reason: last?.error,
      host: record.host,
      attempts: record.attempts.filter((a) => a.outcome !== 'skipped').length,
      durationMs: end && last ? Date.parse(end) - Date.parse(last.start) : undefined,
      record,
    });
  }
  return out.sort((a, b) => slotTime(b.slot) - slotTime(a.slot)).slice(0, limit);
}

/** The scheduled time (ms) of the job's newest recorded slot, or undefined when it has none. */
export async function newestSlotTime(
  ctx: CoordContext,
  name: string,
  signal?: AbortSignal,
): Promise<number | undefined> {
  let newest: number | undefined;
  for await (const { slot, record } of slotRecords(ctx, name, signal)) {
    const t = slotTime(slot);
    if (record && !Number.isNaN(t) && (newest === undefined || t > newest)) newest = t;
  }
  return newest;
}
