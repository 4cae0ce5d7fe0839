/**
 * `etcd-coord cron '<expr>' <job> [options] -- <cmd…>`: a long-running daemon, one per host, that runs
 * <cmd> for every slot of a cron expression exactly once across the hosts (`cron history <job>`).
 *
 * @module
 */
import {
  GLOBAL_HELP,
  connectOptions,
  durationOption,
  parseCommand,
  positionals,
  requireChild,
  str,
  ttlOption,
} from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { CliError, ExitCode, UsageError } from '../exit-codes.js';
import { emit, note, printHelp, type CliIo } from '../io.js';
import { KILL_POLICY_HELP, killPolicy } from '../kill-policy.js';
import { supervise } from '../supervise.js';
import { schedule, type Coordinator, type OverlapPolicy } from '../../index.js';
import { cronHistory } from '../../cron/history.js';

const OPTIONS = {
  tz: { type: 'string' },
  'catch-up': { type: 'string' },
  overlap: { type: 'string' },
  jitter: { type: 'string' },
  ttl: { type: 'string' },
  keep: { type: 'string' },
  limit: { type: 'string' },
  'kill-after': { type: 'string' },
  'lock-delay': { type: 'string' },
} as const;

export const help = `Usage: etcd-coord cron '<expr>' <job> [--tz UTC] [--catch-up 6h] [--overlap skip|wait|cancel-previous]
                       [--jitter 30s] [--ttl 10] [--keep 30d] [--kill-after 5s] -- <cmd…>
       etcd-coord cron history <job> [--limit 20]

A daemon: run it on every host (systemd, see examples/etcd-coord-cron.service). For each slot of <expr>
(croner syntax: 5 fields, or 6 with seconds first; @daily…), exactly one host runs <cmd>. A slot is named
by its scheduled time in --tz (ISO 8601 with the offset), never by a host's clock, so hosts with skewed
clocks agree. A host killed mid-run frees the slot after --ttl; another host runs it again and the record
lists both attempts. Slots missed while every host was down run once each, oldest first, when they are
within --catch-up of now; older ones are recorded skipped ("missed").
--overlap decides what a slot does while the previous run still goes, on any host: skip (default; the
slot is recorded skipped), wait (run after it, in order) or cancel-previous (the running <cmd> gets
SIGTERM, then this slot runs). --jitter spreads the start by up to that much, per host.

The child sees ETCD_COORD_CRON_SLOT, ETCD_COORD_CRON_ATTEMPT and ETCD_COORD_FENCING_TOKEN. If the slot is
lost or at risk while <cmd> runs, <cmd> gets SIGTERM, then SIGKILL after --kill-after. A <cmd> that exits
non-zero records the slot as failed (not run again). SIGINT/SIGTERM stop the daemon: a running <cmd> is
forwarded the signal and its slot recorded interrupted (another host may run it).
history prints the newest slots: slot, state, outcome or reason, host, attempts, duration.

Options:
  --tz <zone>              IANA timezone the expression is read in. Default UTC
  --catch-up <duration>    run slots missed within this window after an outage. Default 0
  --overlap <policy>       skip | wait | cancel-previous. Default skip
  --jitter <duration>      start each slot up to this much late (random, per host). Default 0
  --ttl <seconds>          lease TTL (integer >= 2): how soon a killed host's slot is re-run. Default 10
  --keep <duration>        delete records finished longer ago than this (more than --catch-up + --jitter + 5s)
  --limit <n>              history: how many slots. Default 20
${KILL_POLICY_HELP}

Exit status: 0 after SIGINT/SIGTERM; 69 etcd unavailable at start; 64 usage.

Examples:
  etcd-coord cron '0 3 * * *' nightly-report --tz Europe/Berlin --catch-up 6h -- ./report.sh
  etcd-coord cron history nightly-report --limit 5`;

const POLICIES = new Set(['skip', 'wait', 'cancel-previous']);

/** Runs `cron`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'cron');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  if (p.positionals[0] === 'history') return history(p, io);
  const [expr = '', job = ''] = positionals(p, ['expr', 'job'], 'cron');
  const argv = requireChild(p, 'cron');
  const overlap = str(p, 'overlap') ?? 'skip';
  if (!POLICIES.has(overlap))
    throw new UsageError(`--overlap: expected skip, wait or cancel-previous, got "${overlap}"`, 'cron');
  const ttlSeconds = ttlOption(p, 'cron');
  const { killAfterMs } = killPolicy(p, 'cron', ttlSeconds, io.env);
  const opts = connectOptions(p, io, 'cron', ttlSeconds === undefined ? {} : { ttlSeconds });
  const scheduleOpts = {
    timezone: str(p, 'tz'),
    catchUpMs: durationOption(p, 'catch-up', 'cron'),
    jitterMs: durationOption(p, 'jitter', 'cron'),
    retainMs: durationOption(p, 'keep', 'cron'),
    overlap: overlap as OverlapPolicy,
  };
  return withCoordinator(opts, io, async (coord: Coordinator) => {
    let cronJob;
    try {
      cronJob = schedule(
        coord,
        job,
        expr,
        async ({ slot, signal, attempt, fencingToken }) => {
          const env = {
            ETCD_COORD_CRON_SLOT: slot,
            ETCD_COORD_CRON_ATTEMPT: String(attempt),
            ETCD_COORD_FENCING_TOKEN: fencingToken.toString(),
          };
          // The slot's signal also follows the daemon's (io.signal): a signal sent to the daemon is forwarded
          // to the child, which decides; only a lost or cancelled slot terminates it.
          const lost = new AbortController();
          const onAbort = (): void => {
            if (!io.signal.aborted) lost.abort(signal.reason);
          };
          signal.addEventListener('abort', onAbort, { once: true });
          try {
            const child = await supervise(io, { argv, env, killAfterMs, lease: coord.session }, lost.signal);
            if (child.lost)
              throw new CliError(`slot ${slot} of "${job}" was lost while the command ran`, ExitCode.LOST);
            if (child.exitCode !== 0) throw new Error(`the command exited with status ${child.exitCode}`);
          } finally {
            signal.removeEventListener('abort', onAbort);
          }
        },
        { ...scheduleOpts, signal: io.signal },
      );
    } catch (err) {
      throw new UsageError((err as Error).message, 'cron');
    }
    cronJob.on('ran', ({ slot }) => note(io, `"${job}" slot ${slot}: ran`));
    cronJob.on('skipped', ({ slot, reason, record }) =>
      note(
        io,
        `"${job}" slot ${slot}: not run here (${reason === 'done' ? `done by ${record.host}` : reason})`,
      ),
    );
    cronJob.on('failed', ({ slot, error, record }) =>
      note(
        io,
        `"${job}" slot ${slot}: failed (${error instanceof Error ? error.message : (record?.outcome ?? 'error')})`,
      ),
    );
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      else io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await cronJob.close();
    return ExitCode.OK;
  });
}

async function history(p: ReturnType<typeof parseCommand>, io: CliIo): Promise<number> {
  const [, job = ''] = positionals(p, ['history', 'job'], 'cron');
  const limitText = str(p, 'limit') ?? '20';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit: expected a positive integer, got "${limitText}"`, 'cron');
  return withCoordinator(connectOptions(p, io, 'cron'), io, async (coord: Coordinator) => {
    const entries = await cronHistory(coord, job, { limit, signal: io.signal });
    for (const h of entries) {
      const why = h.reason ?? h.outcome ?? '-';
      const took = h.durationMs === undefined ? '-' : `${h.durationMs}ms`;
      emit(io, p.json, [h.slot, h.state, why, h.host, String(h.attempts), took].join('\t'), h);
    }
    return ExitCode.OK;
  });
}
