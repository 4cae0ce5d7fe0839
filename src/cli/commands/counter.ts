/**
 * `etcd-coord counter get|incr|add <name> [n]`: distributed counters.
 *
 * @module
 */
import { GLOBAL_HELP, connectOptions, parseCommand, str } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { CliError, ExitCode, UsageError } from '../exit-codes.js';
import { emit, printHelp, type CliIo } from '../io.js';

const OPTIONS = { kind: { type: 'string' } } as const;

export const help = `Usage: etcd-coord counter get <name> [--kind atomic|version]
       etcd-coord counter incr <name> [--kind atomic|version]
       etcd-coord counter add <name> <n>

Prints the counter's value after the operation (with --json: {"name", "value"}).
  --kind atomic (default): the value is a decimal integer stored at <name>, moved by compare-and-set
         (the library's coord.atomicCounter); get, incr and add (n may be negative).
  --kind version: the counter is the version of the key <name> (the library's coord.counter): incr is one
         put, values unique and gap-free under any contention; get and incr only.

Exit status: 0; 1 conflict (too many concurrent writers) or a key that holds no counter;
  69 etcd unavailable (for incr/add, the update may have been applied); 64 usage.

Examples:
  etcd-coord counter incr ids/order --kind version
  etcd-coord counter add stock/widgets -3
  etcd-coord counter get stock/widgets`;

/** Runs `counter`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'counter');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  // `add <name> -3` is a positional (args.ts); `add <name> -- -3`, the older spelling, still works.
  const all = [...p.positionals, ...(p.child ?? [])];
  const [sub, name, amount, extra] = all;
  if (sub === undefined) throw new UsageError('missing <get|incr|add>', 'counter');
  if (!['get', 'incr', 'add'].includes(sub))
    throw new UsageError(`unknown subcommand "${sub}" (expected get, incr or add)`, 'counter');
  if (name === undefined) throw new UsageError('missing <name>', 'counter');
  const kind = str(p, 'kind') ?? 'atomic';
  if (kind !== 'atomic' && kind !== 'version')
    throw new UsageError(`--kind: expected atomic or version, got "${kind}"`, 'counter');
  let delta: bigint | undefined;
  if (sub === 'add') {
    if (kind === 'version')
      throw new UsageError('add needs --kind atomic (a version counter only counts up by one)', 'counter');
    if (amount === undefined) throw new UsageError('missing <n>', 'counter');
    if (!/^-?\d+$/.test(amount)) throw new UsageError(`<n>: expected an integer, got "${amount}"`, 'counter');
    delta = BigInt(amount);
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`, 'counter');
  } else if (amount !== undefined) {
    throw new UsageError(`unexpected argument "${amount}"`, 'counter');
  }
  return withCoordinator(connectOptions(p, io, 'counter'), io, async (coord) => {
    const callOpts = { signal: io.signal };
    let value: bigint;
    try {
      if (kind === 'version') {
        const c = coord.counter(name);
        value = sub === 'incr' ? await c.increment(callOpts) : await c.get(callOpts);
      } else {
        const c = coord.atomicCounter(name);
        value = sub === 'get' ? await c.get(callOpts) : await c.add(delta ?? 1n, callOpts);
      }
    } catch (err) {
      // The library refuses a key that holds something else (never overwriting it) with a TypeError
      // naming the key: for the CLI that is the documented "a key that holds no counter", exit 1.
      if (err instanceof TypeError && /^counter "/.test(err.message))
        throw new CliError(err.message, ExitCode.FAILED, { cause: err });
      throw err;
    }
    emit(io, p.json, value.toString(), { name, value });
    return ExitCode.OK;
  });
}
