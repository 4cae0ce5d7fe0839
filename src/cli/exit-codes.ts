/**
 * The exit codes of `etcd-coord` and the CLI's own errors. Codes 64–78 follow BSD `sysexits.h`; 79–81 are
 * ours. A supervised child's own exit status passes through unchanged (128 + N when signal N killed it).
 *
 * @module
 */
import { constants } from 'node:os';

/** Every exit code the CLI itself chooses. */
export const ExitCode = {
  /** Success (or the child's 0). */
  OK: 0,
  /** The operation failed: `config get` key not found, a conflict, a compacted revision. */
  FAILED: 1,
  /** Bad command line: unknown command or option, missing argument, malformed duration (EX_USAGE). */
  USAGE: 64,
  /** etcd unreachable within `--dial-timeout`, or a request got no answer (EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
  /** An unexpected internal error (EX_SOFTWARE). */
  SOFTWARE: 70,
  /** The child could not be executed: 126 not executable, 127 not found (as a shell does). */
  CANNOT_EXECUTE: 126,
  COMMAND_NOT_FOUND: 127,
  /** A file etcd-coord itself reads or writes failed (`config watch --render` target not writable) (EX_IOERR). */
  IO_ERROR: 74,
  /** Timed out waiting (`--timeout`), or `--try` found the lock held (EX_TEMPFAIL: try again later). */
  TIMED_OUT: 75,
  /** etcd refused the credentials or the request (EX_NOPERM). */
  PERMISSION_DENIED: 77,
  /**
   * The config cannot be turned into the requested output: a `--template` that does not parse or uses a
   * key the config lacks, two keys that become one environment variable (EX_CONFIG).
   */
  CONFIG: 78,
  /** The lock, leadership or slot was lost while the child ran; the child was terminated. */
  LOST: 79,
  /** Did not run here because another instance did: `once` slot already done, `elect --try` not elected. */
  NOT_RUN: 80,
  /** `once`: the slot's run failed (or crashed) on another host; not run again here. */
  SLOT_FAILED: 81,
} as const;

/** 128 + the signal's number, as a shell reports a process killed by a signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** An error carrying the exit code it must end the process with. `main.ts` prints `message` on one line. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The config (or a template) cannot be rendered as asked: exit 78, a one-line message naming the culprit.
 *
 * @example `throw new ConfigError('config keys "db/url" and "db_url" both become the environment variable DB_URL')`
 */
export class ConfigError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.CONFIG, options);
  }
}

/** A bad command line. `main.ts` prints the message and a pointer to `--help`, and exits 64. */
export class UsageError extends CliError {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message, ExitCode.USAGE);
  }
}
