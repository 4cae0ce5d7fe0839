#!/usr/bin/env node
/**
 * The `etcd-coord` command: dispatches to one module per command, and is the ONLY place that turns
 * errors into exit codes and one-line messages, catches signals, and exits the process.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GLOBAL_HELP, GLOBAL_OPTIONS } from './args.js';
import { CliError, ExitCode, UsageError, signalExitCode } from './exit-codes.js';
import { killLiveChildren } from './supervise.js';
import { FORWARDED_SIGNALS, redact, type CliIo, type ForwardedSignal } from './io.js';

/** A command module: `run` returns the exit code (or throws; see {@link exitFor}). */
interface Command {
  readonly help: string;
  run(args: readonly string[], io: CliIo): Promise<number>;
}

// Loaded on use: `--help` and usage errors never load the etcd client.
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  lock: {
    summary: 'run a command while holding a distributed lock (excludes `etcdctl lock`)',
    load: () => import('./commands/lock.js'),
  },
  elect: {
    summary: 'run a command while elected leader; --observe prints the leader (excludes `etcdctl elect`)',
    load: () => import('./commands/elect.js'),
  },
  once: {
    summary: 'cron guard: run a command exactly once per slot across every host',
    load: () => import('./commands/once.js'),
  },
  cron: {
    summary: 'cron daemon: run a command for every slot of a cron expression, once across the hosts',
    load: () => import('./commands/cron.js'),
  },
  register: {
    summary: 'register a service instance while running (or while a command runs)',
    load: () => import('./commands/register.js'),
  },
  discover: {
    summary: "list a service's registered instances (--watch: and every change)",
    load: () => import('./commands/discover.js'),
  },
  config: {
    summary: 'get, set or watch the config under a prefix (render a file, reload a process)',
    load: () => import('./commands/config.js'),
  },
  queue: {
    summary: 'push, pop, count or work the jobs of a distributed work queue',
    load: () => import('./commands/queue.js'),
  },
  counter: { summary: 'read or move a distributed counter', load: () => import('./commands/counter.js') },
  ls: {
    summary: 'list the keys (and values) under a prefix, streamed page by page',
    load: () => import('./commands/ls.js'),
  },
  status: {
    summary: 'show the endpoints, cluster, leader and revision (never credentials)',
    load: () => import('./commands/status.js'),
  },
};

const ROOT_HELP = `Usage: etcd-coord <command> [options] [-- <cmd…>]

Coordination recipes on etcd v3 from the shell: locks, leader election, a cron guard, service
registration, watched config, a work queue and counters.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "etcd-coord <command> --help" for a command's options and examples.

Exit status: 0 ok (or the supervised command's own status); 1 operation failed (not found, conflict);
  64 usage error; 69 etcd unavailable; 70 internal error; 74 I/O error (--render file);
  75 timed out waiting / not acquired; 77 permission denied; 78 config error (a --template that fails,
  two keys for one env name); 79 lock/leadership/slot lost while the command ran; 80 not run here (slot
  already done, not elected); 81 the slot's run failed elsewhere;
  126/127 command not executable / not found; 128+N ended by signal N.

Examples:
  etcd-coord status --endpoints 127.0.0.1:2379
  etcd-coord lock nightly-backup -- ./backup.sh
  etcd-coord once nightly-report --every 1d -- ./report.sh

${GLOBAL_HELP}`;

const STRING_GLOBALS = new Set(
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, spec]) => spec.type === 'string')
    .map(([name]) => name),
);

/** Splits `[globals…] <command> [args…]`; globals before the command are handed to it. */
function splitCommand(argv: readonly string[]): { name: string | undefined; args: string[] } {
  const leading: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--' || !arg.startsWith('-')) {
      return arg === '--'
        ? { name: undefined, args: leading }
        : { name: arg, args: [...leading, ...argv.slice(i + 1)] };
    }
    leading.push(arg);
    const name = arg.replace(/^--?/, '');
    if (STRING_GLOBALS.has(name) && i + 1 < argv.length) leading.push(argv[++i] ?? '');
  }
  return { name: undefined, args: leading };
}

/** Exit code and one-line message for an error thrown by a command. */
async function exitFor(err: unknown, io: CliIo): Promise<{ code: number; message: string }> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof UsageError) {
    const help = err.command ? `etcd-coord ${err.command} --help` : 'etcd-coord --help';
    return { code: ExitCode.USAGE, message: `${message} (see "${help}")` };
  }
  if (err instanceof CliError) return { code: err.exitCode, message };
  const { CoordError } = await import('../index.js');
  if (err instanceof CoordError) {
    switch (err.code) {
      case 'UNAVAILABLE':
        return { code: ExitCode.UNAVAILABLE, message };
      case 'PERMISSION_DENIED':
        return { code: ExitCode.PERMISSION_DENIED, message };
      case 'LOCK_TIMEOUT':
        return { code: ExitCode.TIMED_OUT, message };
      case 'INVALID_ARGUMENT':
        return { code: ExitCode.USAGE, message };
      case 'LOCK_LOST':
      case 'SESSION_EXPIRED':
        return { code: ExitCode.LOST, message };
      case 'ABORTED':
        if (typeof io.signal.reason === 'string' && io.signal.aborted) {
          return {
            code: signalExitCode(io.signal.reason as NodeJS.Signals),
            message: `interrupted by ${io.signal.reason}`,
          };
        }
        return { code: ExitCode.SOFTWARE, message };
      default:
        return { code: ExitCode.FAILED, message };
    }
  }
  // A file the CLI itself reads or writes (config watch --render): EX_IOERR with the system's message.
  const sys = err as { code?: unknown; syscall?: unknown };
  if (typeof sys.syscall === 'string' && typeof sys.code === 'string' && sys.code.startsWith('E')) {
    return { code: ExitCode.IO_ERROR, message };
  }
  // The library rejects bad arguments with TypeError/RangeError naming the argument, before any request.
  if ((err instanceof TypeError || err instanceof RangeError) && message.startsWith('Expected `')) {
    return { code: ExitCode.USAGE, message };
  }
  return { code: ExitCode.SOFTWARE, message: `internal error: ${message}` };
}

/** The package version, from the nearest package.json named etcd-coord above this file. */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'etcd-coord' && pkg.version) return pkg.version;
    } catch {
      // No package.json here: look further up.
    }
  }
  return 'unknown';
}

function debugChain(err: unknown): string {
  const lines: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 8; depth++) {
    lines.push(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
    e = e instanceof Error ? e.cause : undefined;
    if (e !== undefined) lines.push('caused by:');
  }
  return lines.join('\n');
}

/** Runs the CLI with `argv` (without node and the script); resolves with the exit code. */
async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const { name, args } = splitCommand(argv);
  try {
    if (name === undefined) {
      if (args.includes('--version')) {
        io.stdout.write(`etcd-coord ${version()}\n`);
        return 0;
      }
      if (args.includes('--help') || args.includes('-h')) {
        io.stdout.write(`${ROOT_HELP}\n`);
        return 0;
      }
      throw new UsageError(
        args.length === 0 ? 'missing <command>' : `missing <command> after ${args.join(' ')}`,
      );
    }
    if (name === 'help') {
      const target = args.find((a) => !a.startsWith('-'));
      const cmd = target !== undefined && Object.hasOwn(COMMANDS, target) ? COMMANDS[target] : undefined;
      io.stdout.write(`${cmd ? (await cmd.load()).help : ROOT_HELP}\n`);
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) throw new UsageError(`unknown command "${name}"`);
    return await (await command.load()).run(args, io);
  } catch (err) {
    const { code, message } = await exitFor(err, io);
    io.stderr.write(`etcd-coord: ${redact(message.replace(/\s*\n\s*/g, ' '), io.secrets)}\n`);
    if (argv.includes('--debug') || io.env.ETCD_COORD_DEBUG === '1') {
      io.stderr.write(`${redact(debugChain(err), io.secrets)}\n`);
    }
    return code;
  }
}

/** The process side: signals, streams, and the one `process.exit`. */
async function runProcess(): Promise<void> {
  const controller = new AbortController();
  const listeners = new Set<(signal: ForwardedSignal) => void>();
  let received = 0;
  for (const sig of FORWARDED_SIGNALS) {
    process.on(sig, () => {
      received++;
      if (!controller.signal.aborted) controller.abort(sig);
      for (const fn of listeners) fn(sig);
      // A repeated signal with no child to forward it to: stop waiting for cleanup.
      if (listeners.size === 0 && received > 1) process.exit(signalExitCode(sig));
    });
  }
  const io: CliIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: controller.signal,
    onSignal(fn) {
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },
    secrets: new Set(),
  };
  // Node's warnings (e.g. grpc's DEP0123 for a TLS endpoint given as an IP) would break the one-line
  // error contract; they are shown with --debug only.
  const debug = process.argv.includes('--debug') || process.env.ETCD_COORD_DEBUG === '1';
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (debug) process.stderr.write(`etcd-coord: (node) ${warning.name}: ${warning.message}\n`);
  });
  // Last resort (an internal error, a forced exit): never leave a supervised child running.
  process.on('exit', killLiveChildren);
  // A reader that stopped reading (`etcd-coord ls p/ | head`): stop quietly, with the status of a process
  // killed by SIGPIPE (141, as etcdctl and most Unix tools), not a stack trace. Held keys are on leases.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(signalExitCode('SIGPIPE'));
      process.exit(ExitCode.IO_ERROR);
    });
  }
  const code = await main(process.argv.slice(2), io);
  // Flush what is buffered (pipes are asynchronous on some platforms), then exit: lingering client
  // timers must not keep the process alive.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  process.exit(code);
}

runProcess().catch((err: unknown) => {
  process.stderr.write(`etcd-coord: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(ExitCode.SOFTWARE);
});
