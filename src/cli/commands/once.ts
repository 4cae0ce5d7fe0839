/**
 * `etcd-coord once <job> --slot ID | --every 1h -- <cmd…>`: the cron guard, one run per slot
 * (`once status|reset <job>`: once-admin.ts).
 *
 * @module
 */
import { hostname } from 'node:os';
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
import { holdEnv, supervise, type ChildResult } from '../supervise.js';
import { once } from '../../index.js';
import { lockName } from '../../election/once-keys.js';
import { ADMIN_DETAILS, ADMIN_HELP, runAdmin } from './once-admin.js';

const OPTIONS = {
  slot: { type: 'string' },
  every: { type: 'string' },
  ttl: { type: 'string' },
  timeout: { type: 'string' },
  'kill-after': { type: 'string' },
  'lock-delay': { type: 'string' },
  'on-crash': { type: 'string' },
  keep: { type: 'string' },
} as const;

export const help = `Usage: etcd-coord once <job> (--slot <id> | --every <duration>) [--ttl 10] [--timeout 1h]
                       [--on-crash rerun|fail] [--kill-after 5s] [--lock-delay 6s] [--keep 30d]
                       -- <cmd…>
${ADMIN_HELP}

Put the same crontab line on every host: for each slot of <job>, exactly one host runs <cmd>; the others
wait for it to finish, then exit 80 ("already done"). A host that crashes mid-run frees the slot after
--ttl; the next host then runs it again (--on-crash rerun, default) or marks it failed (--on-crash fail).
The slot's record (host, pid, start, end, outcome of each attempt) is JSON at once/<job>/<slot>/record,
the slot percent-encoded for "%" and "/" only (--slot x/s → once/<job>/x%2Fs/record), so a slot with "/"
never meets a nested job: "once j --slot x/s" and "once j/x --slot s" are two slots.
Records are kept for ever unless --keep <duration> is given: after a run, the host that ran it deletes
the job's records finished longer ago than that (never a slot that may still run). A host that asks for
a slot whose record is gone runs it again, so keep them longer than any host can be late.
${ADMIN_DETAILS}

--every <duration> names the slot after the multiple of <duration> (since the Unix epoch, UTC) NEAREST to
now, e.g. --every 1h at 05:00:01 or 04:59:58 is slot 2026-11-21T05:00:00.000Z: hosts agree despite clock
skew up to half the period. Schedule the cron at those multiples (--every 1h ↔ "0 * * * *").

The child sees ETCD_LOCK_KEY, ETCD_LOCK_REV, ETCD_COORD_FENCING_TOKEN, ETCD_COORD_ONCE_SLOT. If the slot
is lost or at risk while <cmd> runs, <cmd> gets SIGTERM, then SIGKILL after --kill-after and before the
lease can expire, and etcd-coord exits 79.
A <cmd> that fails (non-zero status) records the slot as failed: other hosts exit 81 for it and do not
run it again. A <cmd> that ends after etcd-coord got SIGINT/SIGTERM/SIGHUP (forwarded to it: a deploy, a
host shutdown) records the slot as interrupted, not failed: the next host runs it (whatever --on-crash).

Options:
  --slot <id>             the slot, e.g. 2026-11-21 for a daily job (any text; "/" and "%" are encoded)
  --every <duration>      derive the slot from the time: 1h, 1d, 15m…
  --ttl <seconds>         lease TTL (integer >= 2): how soon a crashed run frees the slot. Default 10
  --timeout <duration>    give up waiting for another host's run after this long: exit 75
  --on-crash rerun|fail   what the next host does after a crashed run. Default rerun
  --keep <duration>       delete this job's records finished longer ago than this (e.g. 30d). Default: keep
${KILL_POLICY_HELP}

Exit status: <cmd>'s when it ran here; 80 the slot was already done; 81 the slot's run failed elsewhere;
  75 timed out; 79 lost (or at risk) while running; 69 etcd unavailable; 64 usage (also a --kill-after
  the --ttl cannot honour, or a --lock-delay below --kill-after).
  With --json, one line at the end: {"status": "ran"|"skipped"|"failed", "job", "slot", "record"}.

Examples:
  etcd-coord once nightly-report --every 1d -- ./report.sh
  etcd-coord once invoice-run --slot "$(date -u +%Y-%m)" -- ./invoices.sh
  # crontab on every host:  0 * * * *  etcd-coord once hourly-sync --every 1h -- /opt/sync.sh`;

/** The slot of `--every periodMs` at `now`: the nearest multiple of the period, as an ISO timestamp. */
export function slotFor(periodMs: number, now = Date.now()): string {
  return new Date(Math.round(now / periodMs) * periodMs).toISOString();
}

/** Thrown inside the guarded run so the slot records `outcome: 'error'`; carries the child's exit code. */
class ChildFailed extends Error {
  constructor(readonly exitCode: number) {
    super(`the command exited with status ${exitCode}`);
  }
}

/** Runs `once`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'once');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [first, second] = p.positionals;
  if ((first === 'status' || first === 'reset') && second !== undefined && p.positionals.length === 2)
    return runAdmin(first, second, p, io);
  const [job = ''] = positionals(p, ['job'], 'once');
  if (job === '' || job.endsWith('/'))
    throw new UsageError(`<job> must be non-empty and not end with "/", got "${job}"`, 'once');
  const argv = requireChild(p, 'once');
  const explicit = str(p, 'slot');
  const every = durationOption(p, 'every', 'once');
  if ((explicit === undefined) === (every === undefined))
    throw new UsageError('give exactly one of --slot and --every', 'once');
  if (every !== undefined && every < 1000) throw new UsageError('--every: expected at least 1s', 'once');
  const slot = explicit ?? slotFor(every ?? 0);
  const onCrash = str(p, 'on-crash') ?? 'rerun';
  if (onCrash !== 'rerun' && onCrash !== 'fail')
    throw new UsageError(`--on-crash: expected rerun or fail, got "${onCrash}"`, 'once');
  const timeoutMs = durationOption(p, 'timeout', 'once');
  const retainMs = durationOption(p, 'keep', 'once');
  const ttlSeconds = ttlOption(p, 'once');
  const { killAfterMs, lockDelayMs, fromLease } = killPolicy(p, 'once', ttlSeconds, io.env);
  const opts = connectOptions(p, io, 'once', ttlSeconds === undefined ? {} : { ttlSeconds });

  return withCoordinator(opts, io, async (coord) => {
    let child: ChildResult | undefined;
    let result;
    try {
      result = await once(
        coord,
        job,
        {
          slot,
          onCrash,
          lockDelayMs,
          host: hostname(),
          signal: io.signal,
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
          ...(retainMs === undefined ? {} : { retainMs }),
        },
        async (signal, held) => {
          // The slot is held through its election: its leader key is this run's lock key.
          const leader = await coord.election(lockName(job, slot)).leader({ signal });
          const env = {
            ...(leader ? holdEnv(`${coord.namespace}${leader.key}`, leader.revision) : {}),
            ETCD_COORD_ONCE_SLOT: slot,
          };
          // `signal` also follows io.signal: a signal sent to the CLI is forwarded to the child, which
          // decides; only a lost slot terminates it.
          const lost = new AbortController();
          const onAbort = (): void => {
            if (!io.signal.aborted) lost.abort(signal.reason);
          };
          signal.addEventListener('abort', onAbort, { once: true });
          try {
            // The slot's key is <…>/lock/<lease hex>: the lease it lives on.
            const session = coord.session;
            const lease =
              fromLease && held.key.endsWith(`/${session.leaseId.toString(16)}`) ? session : undefined;
            child = await supervise(io, { argv, env, killAfterMs, lease }, lost.signal);
          } finally {
            signal.removeEventListener('abort', onAbort);
          }
          if (child.lost)
            throw new CliError(`slot "${slot}" of "${job}" was lost while the command ran`, ExitCode.LOST);
          if (child.exitCode !== 0) throw new ChildFailed(child.exitCode);
        },
      );
    } catch (err) {
      if (err instanceof ChildFailed) {
        if (io.signal.aborted && !child?.lost)
          note(
            io,
            `"${job}" slot ${slot} interrupted by ${String(io.signal.reason)}: another host may run it`,
          );
        return err.exitCode;
      }
      // Lost mid-run: whatever recording the outcome then failed with, the answer is "lost".
      if (child?.lost) {
        throw new CliError(
          `slot "${slot}" of "${job}" was lost while the command ran; the command was terminated`,
          ExitCode.LOST,
          { cause: err },
        );
      }
      throw err;
    }
    if (p.json) emit(io, true, '', { status: result.status, job, slot, record: result.record });
    if (result.status === 'ran') return ExitCode.OK;
    const r = result.record;
    if (result.status === 'skipped') {
      note(io, `"${job}" slot ${slot} already done by ${r.host} (pid ${r.pid}) at ${r.end ?? r.start}`);
      return ExitCode.NOT_RUN;
    }
    note(
      io,
      `"${job}" slot ${slot} failed on ${r.host} (pid ${r.pid}): ${r.outcome ?? r.state}; not run again`,
    );
    return ExitCode.SLOT_FAILED;
  });
}
