/**
 * `etcd-coord elect <name> -- <cmd…>`: runs a command while leader; `--observe` prints the leader.
 *
 * @module
 */
import { hostname } from 'node:os';
import {
  GLOBAL_HELP,
  connectOptions,
  durationOption,
  flag,
  parseCommand,
  positionals,
  str,
  ttlOption,
  requireChild,
} from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { CliError, ExitCode, UsageError } from '../exit-codes.js';
import { emit, printHelp, type CliIo } from '../io.js';
import { KILL_POLICY_HELP, killPolicy } from '../kill-policy.js';
import { leaseHolding } from '../lease-escalation.js';
import { childExitCode, holdEnv, supervise } from '../supervise.js';
import type { Coordinator, LeaderInfo, Term } from '../../index.js';

const OPTIONS = {
  value: { type: 'string' },
  observe: { type: 'boolean' },
  ttl: { type: 'string' },
  timeout: { type: 'string' },
  try: { type: 'boolean' },
  'kill-after': { type: 'string' },
  'lock-delay': { type: 'string' },
} as const;

export const help = `Usage: etcd-coord elect <name> [--value v] [--ttl 10] [--timeout 30s] [--try]
                        [--kill-after 5s] [--lock-delay 6s] -- <cmd…>
       etcd-coord elect <name> --observe

Campaigns in the election <name> (keys <name>/<lease id hex>, as \`etcdctl elect\`) with --value
(default <hostname>:<pid>), and runs <cmd> while leader. The child sees ETCD_LOCK_KEY (the leader key),
ETCD_LOCK_REV and ETCD_COORD_FENCING_TOKEN (its create revision: larger for every later term).
If leadership is lost or at risk (etcd unreachable for --ttl − --kill-after, or the key deleted), <cmd>
gets SIGTERM, then SIGKILL after --kill-after and before the lease can expire, and etcd-coord exits 79. Leadership is resigned when <cmd> exits.
--observe prints the current leader's value, then every change ("(none)" while there is none), until
interrupted; with --json one object per line: {"leader": value|null, "key", "leaseId", "revision"}.

Options:
  --value <text>          the value campaigned with. Default <hostname>:<pid>
  --ttl <seconds>         lease TTL (integer >= 2). Default 10
  --timeout <duration>    give up waiting to be elected after this long: exit 75
  --try                   do not wait: exit 80 (not elected) if another candidate leads
${KILL_POLICY_HELP}
  --observe               print the leader and every change instead of campaigning

Exit status: <cmd>'s; 75 timed out; 79 leadership lost (or at risk) while running; 80 not elected
  (--try); 69 etcd unavailable; 64 usage (also a --kill-after the --ttl cannot honour, or a --lock-delay
  below --kill-after).

Examples:
  etcd-coord elect scheduler --value "$(hostname)" -- ./scheduler
  etcd-coord elect scheduler --try -- ./run-once.sh
  etcd-coord elect scheduler --observe --json`;

/** Runs `elect`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'elect');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [name = ''] = positionals(p, ['name'], 'elect');
  const ttlSeconds = ttlOption(p, 'elect');
  const opts = connectOptions(p, io, 'elect', ttlSeconds === undefined ? {} : { ttlSeconds });
  if (flag(p, 'observe')) {
    if (p.child !== undefined) throw new UsageError('--observe takes no command', 'elect');
    return withCoordinator(opts, io, async (coord) => {
      try {
        for await (const leader of coord.election(name).observe({ signal: io.signal }))
          printLeader(io, p.json, leader);
      } catch (err) {
        // Interrupted is how an observer ends.
        if (!io.signal.aborted) throw err;
      }
      return ExitCode.OK;
    });
  }
  const argv = requireChild(p, 'elect');
  const value = str(p, 'value') ?? `${hostname()}:${process.pid}`;
  const timeoutMs = durationOption(p, 'timeout', 'elect');
  const { killAfterMs, lockDelayMs, fromLease } = killPolicy(p, 'elect', ttlSeconds, io.env);
  const tryOnly = flag(p, 'try');
  if (tryOnly && timeoutMs !== undefined)
    throw new UsageError('--try and --timeout exclude each other', 'elect');

  return withCoordinator(opts, io, async (coord) => {
    const term = tryOnly
      ? await campaignOrGiveUp(coord, name, value, io, lockDelayMs)
      : await coord.election(name, { lockDelayMs }).campaign(value, {
          signal: io.signal,
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        });
    try {
      const env = holdEnv(`${coord.namespace}${term.key}`, term.fencingToken);
      const lease = fromLease ? leaseHolding(coord, term.leaseId) : undefined;
      const result = await supervise(io, { argv, env, killAfterMs, lease }, term.signal);
      return childExitCode(result, `leadership of "${name}"`);
    } finally {
      await term.resign().catch(() => undefined);
    }
  });
}

function printLeader(io: CliIo, json: boolean, leader: LeaderInfo | null): void {
  if (leader === null) {
    emit(io, json, '(none)', { leader: null });
    return;
  }
  const value = leader.value.toString();
  emit(io, json, value, {
    leader: value,
    key: leader.key,
    leaseId: leader.leaseId,
    revision: leader.revision,
  });
}

/**
 * Campaigns, but gives up as soon as the election shows a leader that is not this candidate: the
 * candidate's key would only have queued behind it.
 *
 * @throws CliError (exit 80) when another candidate leads
 */
async function campaignOrGiveUp(
  coord: Coordinator,
  name: string,
  value: string,
  io: CliIo,
  lockDelayMs: number,
): Promise<Term> {
  const election = coord.election(name, { lockDelayMs });
  const session = await coord.currentSession({ signal: io.signal });
  const mine = `${name}/${session.leaseId.toString(16)}`;
  const giveUp = new AbortController();
  const stopObserving = new AbortController();
  let other: LeaderInfo | undefined;
  const observing = (async () => {
    for await (const leader of election.observe({
      signal: AbortSignal.any([stopObserving.signal, io.signal]),
    })) {
      if (leader === null) continue;
      if (leader.key !== mine) {
        other = leader;
        giveUp.abort();
      }
      return;
    }
  })().catch(() => undefined);
  try {
    return await election.campaign(value, { signal: AbortSignal.any([io.signal, giveUp.signal]) });
  } catch (err) {
    if (other !== undefined) {
      throw new CliError(
        `not elected: "${other.value.toString()}" leads "${name}" (--try)`,
        ExitCode.NOT_RUN,
        { cause: err },
      );
    }
    throw err;
  } finally {
    stopObserving.abort();
    await observing;
  }
}
