/**
 * `etcd-coord lock <name> [-- <cmd…>]`: runs a command while holding a distributed lock, or (without a
 * command) holds it until interrupted, as `etcdctl lock` does.
 *
 * @module
 */
import {
  GLOBAL_HELP,
  connectOptions,
  durationOption,
  flag,
  parseCommand,
  positionals,
  ttlOption,
  type Parsed,
} from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { CliError, ExitCode, UsageError, signalExitCode } from '../exit-codes.js';
import { LockLostError, type Coordinator, type Lock, type Mutex } from '../../index.js';
import { emit, note, printHelp, type CliIo } from '../io.js';
import { KILL_POLICY_HELP, killPolicy } from '../kill-policy.js';
import { leaseHolding } from '../lease-escalation.js';
import { childExitCode, holdEnv, supervise } from '../supervise.js';

const OPTIONS = {
  ttl: { type: 'string' },
  timeout: { type: 'string' },
  try: { type: 'boolean' },
  'kill-after': { type: 'string' },
  'lock-delay': { type: 'string' },
  shell: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

export const help = `Usage: etcd-coord lock <name> [--ttl 10] [--timeout 30s] [--try] [--kill-after 5s] [--lock-delay 6s] -- <cmd…>
       etcd-coord lock <name> [options] --shell -- '<shell script>'
       etcd-coord lock <name> [options]

Waits for the fair (FIFO) mutex <name>, runs <cmd> while holding it, releases it when <cmd> exits.
Without <cmd> (as \`etcdctl lock <name>\`): prints the lock's key (--json: {"key", "fencingToken",
"leaseId"}) once it holds the lock, and holds it until interrupted (SIGINT/SIGTERM/SIGHUP: released,
exit 128+N) or lost (exit 79).
The key layout is etcd's own (<name>/<lease id hex>): it excludes against \`etcdctl lock <name>\`.
The child's environment has ETCD_LOCK_KEY and ETCD_LOCK_REV (as \`etcdctl lock\` sets them) and
ETCD_COORD_FENCING_TOKEN (= ETCD_LOCK_REV, strictly increasing from one holder to the next).
If the lock is lost, or at risk (etcd unreachable for --ttl − --kill-after), while <cmd> runs, <cmd> gets
SIGTERM (its whole process group), SIGKILL after --kill-after and before the lease can expire, and
etcd-coord exits 79. SIGINT/SIGTERM/SIGHUP are forwarded to <cmd> (once: on a terminal, Ctrl-C
reaches <cmd> from the terminal itself); the lock is released before etcd-coord exits.

Options:
  --ttl <seconds>         lease TTL (integer >= 2): how soon the lock of a crashed host frees. Default 10
  --timeout <duration>    give up waiting after this long: exit 75
  --try                   do not wait: exit 75 at once if the lock is held
  -v, --verbose           on stderr: who holds the lock and how many are queued when it starts waiting,
                          and when (after how long) it was acquired
  --shell                 run the one argument after "--" as a script with \`sh -c\` (as \`consul lock -shell\`)
${KILL_POLICY_HELP}

Exit status: <cmd>'s (128+N if killed by signal N); 75 not acquired (--timeout, --try);
  79 lost (or at risk) while running; 69 etcd unavailable; 77 permission denied; 64 usage (also a
  --kill-after the --ttl cannot honour, or a --lock-delay below --kill-after); 127 <cmd> not found.

Examples:
  etcd-coord lock nightly-backup -- ./backup.sh
  etcd-coord lock deploy --try -- make deploy || echo "another deploy is running"
  etcd-coord lock report --shell -- './extract.sh > out.csv && ./load.sh out.csv'
  etcd-coord lock maintenance          # holds it (prints the key) until Ctrl-C
  etcd-coord lock counter --timeout 30s -- sh -c 'n=$(cat n.txt); echo $((n + 1)) > n.txt'`;

/** Runs `lock`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'lock');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [name = ''] = positionals(p, ['name'], 'lock');
  const argv = childArgv(p);
  const timeoutMs = durationOption(p, 'timeout', 'lock');
  const ttlSeconds = ttlOption(p, 'lock');
  const { killAfterMs, lockDelayMs, fromLease } = killPolicy(p, 'lock', ttlSeconds, io.env);
  const tryOnly = flag(p, 'try');
  if (tryOnly && timeoutMs !== undefined)
    throw new UsageError('--try and --timeout exclude each other', 'lock');
  const opts = connectOptions(p, io, 'lock', ttlSeconds === undefined ? {} : { ttlSeconds });

  return withCoordinator(opts, io, async (coord) => {
    const mutex = coord.mutex(name, { lockDelayMs });
    const started = performance.now();
    if (flag(p, 'verbose')) await reportQueue(io, coord, mutex, name);
    const lock = tryOnly
      ? await mutex.tryLock()
      : await mutex.lock({ signal: io.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    if (lock === null)
      throw new CliError(`lock "${name}" is held by another holder (--try)`, ExitCode.TIMED_OUT);
    if (flag(p, 'verbose')) {
      const waited = ((performance.now() - started) / 1000).toFixed(1);
      note(
        io,
        `acquired lock "${name}" after ${waited}s (key ${lock.key}, fencing token ${lock.fencingToken})`,
      );
    }
    try {
      if (argv === undefined) return await holdUntilInterrupted(io, p.json, name, lock);
      const env = holdEnv(lock.etcdKey.toString(), lock.fencingToken);
      const lease = fromLease ? leaseHolding(coord, lock.leaseId) : undefined;
      const result = await supervise(io, { argv, env, killAfterMs, lease }, lock.signal);
      return childExitCode(result, `lock "${name}"`);
    } finally {
      // Guarded delete: never removes a newer holder's key. A lost lock has nothing left to release.
      await lock.unlock().catch((err: unknown) => {
        if (!(lock.signal.reason instanceof LockLostError))
          note(io, `could not release lock "${name}": ${err instanceof Error ? err.message : String(err)}`);
      });
    }
  });
}

/**
 * The command to run: the words after `--`, or `sh -c <script>` with `--shell`; undefined without `--`
 * (hold mode).
 *
 * @throws UsageError for `--shell` without exactly one script, or an empty command after `--`
 */
function childArgv(p: Parsed): string[] | undefined {
  const shell = flag(p, 'shell');
  if (p.child === undefined) {
    if (shell) throw new UsageError('--shell needs the script after "--"', 'lock');
    return undefined;
  }
  if (p.child.length === 0) throw new UsageError('missing the command to run after "--"', 'lock');
  if (!shell) return p.child;
  if (p.child.length !== 1 || p.child[0] === undefined) {
    throw new UsageError(
      `--shell takes one argument after "--", the script (got ${p.child.length}); quote it`,
      'lock',
    );
  }
  return ['sh', '-c', p.child[0]];
}

/** Hold mode: print the key, then wait for a signal (exit 128+N) or the lock's loss (exit 79). */
async function holdUntilInterrupted(io: CliIo, json: boolean, name: string, lock: Lock): Promise<number> {
  const key = lock.etcdKey.toString();
  emit(io, json, key, { key, fencingToken: lock.fencingToken, leaseId: lock.leaseId });
  await new Promise<void>((resolve) => {
    if (io.signal.aborted || lock.signal.aborted) return resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
    lock.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  if (io.signal.aborted) return signalExitCode(io.signal.reason as NodeJS.Signals);
  const reason: unknown = lock.signal.reason;
  throw new CliError(
    `lock "${name}" was lost (${reason instanceof Error ? reason.message : 'lost'})`,
    ExitCode.LOST,
    { cause: reason },
  );
}

/** `--verbose`: one stderr line saying who holds `name` and how many holders and waiters are queued. */
async function reportQueue(io: CliIo, coord: Coordinator, mutex: Mutex, name: string): Promise<void> {
  const holder = await mutex.holder({ signal: io.signal });
  if (holder === null) return note(io, `lock "${name}" is free`);
  let queued = 0;
  // Keys of this name only (`<name>/<lease hex>`), not of nested names (`<name>/sub/…`).
  for await (const kv of coord.range(`${name}/`, { keysOnly: true, signal: io.signal }))
    if (/^[0-9a-f]+$/.test(kv.key.toString().slice(name.length + 1))) queued++;
  note(
    io,
    `waiting for lock "${name}": held by ${holder.key} (lease ${holder.leaseId.toString(16)}, ` +
      `fencing token ${holder.fencingToken}); ${queued - 1} waiting ahead`,
  );
}
