/**
 * `etcd-coord once status <job> [--slot <id>]` and `etcd-coord once reset <job> --slot <id>`: look at and
 * clear the records `once` keeps (dispatched from once.ts when the first word is `status` or `reset` and a
 * job follows; a job named `status` still runs as `once status --slot … -- cmd`).
 *
 * @module
 */
import { connectOptions, str, type Parsed } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { CliError, ExitCode, UsageError } from '../exit-codes.js';
import { emit, writeOut, jsonReplacer, type CliIo } from '../io.js';
import { resetSlot, slotRecords, type SlotRecord } from '../../election/once-admin.js';

export const ADMIN_HELP = `       etcd-coord once status <job> [--slot <id>] [--json]
       etcd-coord once reset <job> --slot <id>`;

export const ADMIN_DETAILS = `status lists the slots of <job> (slot, state, outcome, host, end), or one slot's record with --slot
  (exit 1 when it has none). reset deletes one slot's record so the next run runs it again; it refuses
  (exit 1) while an attempt is running (its record is "running" and that attempt's lease lives).`;

/** One line for a slot in `once status`. */
function line({ slot, record }: SlotRecord): string {
  if (record === undefined) return `${slot}  (not a once record)`;
  return [slot, record.state, record.outcome ?? '-', `${record.host}:${record.pid}`, record.end ?? '-'].join(
    '  ',
  );
}

/**
 * Runs `once status|reset <job>`.
 *
 * @throws UsageError for `reset` without `--slot`, an empty `--slot`, or a job ending with "/"
 * @throws CliError exit 1 for a slot without a record, or a reset refused while the slot runs
 */
export async function runAdmin(sub: 'status' | 'reset', job: string, p: Parsed, io: CliIo): Promise<number> {
  const slot = str(p, 'slot');
  if (slot === '') throw new UsageError('--slot: expected a non-empty slot', 'once');
  if (job === '' || job.endsWith('/'))
    throw new UsageError(`<job> must be non-empty and not end with "/", got "${job}"`, 'once');
  if (sub === 'reset' && slot === undefined) throw new UsageError('reset needs --slot <id>', 'once');
  return withCoordinator(connectOptions(p, io, 'once'), io, async (coord) => {
    if (sub === 'reset') {
      const r = await resetSlot(coord, job, slot ?? '');
      if (r.status === 'running') {
        throw new CliError(
          `"${job}" slot ${slot ?? ''} is running on ${r.record.host} (pid ${r.record.pid}); not reset`,
          ExitCode.FAILED,
        );
      }
      const text =
        r.status === 'reset'
          ? `reset "${job}" slot ${slot ?? ''}`
          : `"${job}" slot ${slot ?? ''} had no record`;
      emit(io, p.json, text, { job, slot, status: r.status });
      return ExitCode.OK;
    }
    let found = 0;
    for await (const rec of slotRecords(coord, job, io.signal)) {
      if (slot !== undefined && rec.slot !== slot) continue;
      found++;
      const text = slot !== undefined && rec.record ? JSON.stringify(rec.record, jsonReplacer) : line(rec);
      await writeOut(
        io,
        `${p.json ? JSON.stringify({ slot: rec.slot, record: rec.record ?? null }) : text}\n`,
      );
    }
    if (slot !== undefined && found === 0)
      throw new CliError(`"${job}" slot ${slot} has no record`, ExitCode.FAILED);
    return ExitCode.OK;
  });
}
