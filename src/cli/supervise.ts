/**
 * Child supervision for the commands that run a program while holding something (lock, elect, once,
 * register, queue work, config watch --exec): spawn it, forward the CLI's SIGINT/SIGTERM/SIGHUP to it,
 * terminate it when the hold is lost or its lease at risk (SIGTERM, then SIGKILL after `--kill-after`, and
 * in any case before the lease could expire on the server), and leave no orphans.
 *
 * The child runs in its own process group (unless the CLI's stdin is a terminal, so an interactive child
 * keeps the terminal), and termination signals go to the whole group: `sh -c 'a; b'` loses `a` too, not
 * just the shell. Processes the child left behind in its group are terminated after it exits. A child
 * sharing the CLI's group gets a terminal's SIGINT/SIGHUP from the terminal itself, so the CLI does not
 * forward those while it is in the terminal's foreground group (a `kill -INT` meant for the command
 * should then go to the group: `kill -INT -<pgid>`); SIGTERM is always forwarded.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CliError, ExitCode, signalExitCode } from './exit-codes.js';
import { note, type CliIo, type ForwardedSignal } from './io.js';
import { escalateFromLease, type LeaseLike } from './lease-escalation.js';
import { inTerminalForeground } from './terminal.js';

/** What to run. */
export interface ChildSpec {
  /** The program and its arguments (no shell: use `sh -c '…'` for one). */
  argv: readonly string[];
  /** Added to the CLI's environment. */
  env?: Record<string, string>;
  /** Written to the child's stdin, which is then closed. Default: the child shares the CLI's stdin. */
  stdin?: Buffer;
  /** How long a terminated child gets between SIGTERM and SIGKILL. */
  killAfterMs: number;
  /**
   * The lease the hold lives on: termination is then also scheduled from it (SIGTERM when at risk or lost,
   * SIGKILL before the server could expire it; see lease-escalation.ts).
   */
  lease?: LeaseLike | undefined;
}

/** How a supervised child ended. */
export interface ChildResult {
  /** The code to exit with: the child's code, 128 + N when signal N killed it, 126/127 when it could not run. */
  exitCode: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** A signal the CLI received and forwarded to the child, if any. */
  forwarded: ForwardedSignal | undefined;
  /** Set when the child was terminated because the hold was lost: why it was lost. */
  lost: { reason: unknown } | undefined;
}

const GROUP_POLL_MS = 50;
/** How long a SIGKILLed group may take to disappear (reaped by init) before we stop waiting. */
const REAP_AFTER_KILL_MS = 2000;

/** Children still running, so that an exiting CLI never leaves one behind (see {@link killLiveChildren}). */
const live = new Set<Child>();

/**
 * SIGKILLs every supervised child (and its group) still running. Synchronous, for `process.on('exit')`:
 * the last resort when the CLI exits abnormally.
 */
export function killLiveChildren(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** One running child. Create with {@link Child.start}. */
export class Child {
  readonly pid: number | undefined;
  /** Resolves once the child, and whatever it left in its process group, is gone. Never rejects. */
  readonly exited: Promise<ChildResult>;
  readonly #proc: ChildProcess;
  readonly #group: boolean;
  readonly #killAfterMs: number;
  readonly #io: CliIo;
  #forwarded: ForwardedSignal | undefined;
  #lost: { reason: unknown } | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  /** SIGTERM sent by us: from then on a SIGKILL is due at {@link #termKillAt}. */
  #terminating = false;
  #termKillAt: number | undefined;
  /** The latest moment (performance.now()) the group may live: set from the lease by the supervisor. */
  #leaseKillAt: number | undefined;
  #killedAt: number | undefined;
  /** The child process itself exited (its group may not have). */
  #exited = false;
  /** The child and its group are gone. */
  #ended = false;

  private constructor(io: CliIo, spec: ChildSpec) {
    this.#killAfterMs = spec.killAfterMs;
    this.#io = io;
    // Own process group, so signals reach the whole job; not for an interactive child, which would lose the terminal.
    this.#group = io.stdin.isTTY !== true;
    const [file, ...args] = spec.argv;
    this.#proc = spawn(file ?? '', args, {
      env: { ...io.env, ...spec.env },
      stdio: [spec.stdin ? 'pipe' : 'inherit', 'inherit', 'inherit'],
      detached: this.#group,
    });
    this.pid = this.#proc.pid;
    live.add(this);
    if (spec.stdin && this.#proc.stdin) {
      // A child that does not read its stdin closes the pipe: EPIPE is not our error.
      this.#proc.stdin.on('error', () => undefined);
      this.#proc.stdin.end(spec.stdin);
    }
    const unsubscribe = io.onSignal((sig) => {
      this.#forwarded = sig;
      // Sharing our group (a terminal), the child got the terminal's Ctrl-C/hangup itself: once is enough.
      if (!this.#group && sig !== 'SIGTERM' && inTerminalForeground()) return;
      this.#kill(sig);
    });
    this.exited = new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
      spawnError?: NodeJS.ErrnoException;
    }>((resolve) => {
      this.#proc.once('exit', (code, signal) => resolve({ code, signal }));
      this.#proc.once('error', (err: NodeJS.ErrnoException) => {
        // 'error' without a pid: it never started. With a pid it is a failed kill(), not an exit.
        if (this.#proc.pid === undefined) resolve({ code: null, signal: null, spawnError: err });
      });
    }).then(async (end) => {
      this.#exited = true;
      if (end.spawnError === undefined) await this.#reapGroup();
      this.#ended = true;
      live.delete(this);
      clearTimeout(this.#killTimer);
      unsubscribe();
      if (end.spawnError !== undefined) {
        const notFound = end.spawnError.code === 'ENOENT';
        note(io, `cannot run "${file ?? ''}": ${notFound ? 'command not found' : end.spawnError.message}`);
        const exitCode = notFound ? ExitCode.COMMAND_NOT_FOUND : ExitCode.CANNOT_EXECUTE;
        return { exitCode, code: null, signal: null, forwarded: this.#forwarded, lost: this.#lost };
      }
      const exitCode = end.code ?? (end.signal ? signalExitCode(end.signal) : ExitCode.SOFTWARE);
      return { exitCode, code: end.code, signal: end.signal, forwarded: this.#forwarded, lost: this.#lost };
    });
  }

  /**
   * Starts `spec.argv`. Spawn failures (command not found) are reported through `exited` (exit code 127/126).
   *
   * @example
   * ```ts
   * const child = Child.start(io, { argv: ['./job.sh'], killAfterMs: 5000 });
   * lock.signal.addEventListener('abort', () => child.lose(lock.signal.reason));
   * const { exitCode } = await child.exited;
   * ```
   */
  static start(io: CliIo, spec: ChildSpec): Child {
    return new Child(io, spec);
  }

  /** Sends `sig` to the child process only (not its group): a reload signal such as SIGHUP. */
  signal(sig: NodeJS.Signals): void {
    if (this.#exited || this.pid === undefined) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // Already gone: 'exit' is on its way.
    }
  }

  /** SIGTERM to the child's group, SIGKILL after `killAfterMs` (or earlier, see {@link killNoLaterThan}). Idempotent. */
  terminate(): void {
    if (this.#ended || this.#terminating) return;
    this.#terminating = true;
    this.#kill('SIGTERM');
    this.#termKillAt = performance.now() + this.#killAfterMs;
    this.#armKill();
  }

  /**
   * The child's group gets SIGKILL at `at` (a `performance.now()` time) at the latest, whatever else
   * happens: the moment its hold's lease could expire on the server. Until the child is terminated a later
   * `at` replaces an earlier one (a keepalive renewed the lease); after that only an earlier one does.
   */
  killNoLaterThan(at: number): void {
    if (this.#ended) return;
    if (this.#terminating && this.#leaseKillAt !== undefined && at >= this.#leaseKillAt) return;
    this.#leaseKillAt = at;
    this.#armKill();
  }

  /** The hold was lost: records why and terminates the child. The first reason wins. */
  lose(reason: unknown): void {
    if (this.#ended || this.#lost !== undefined) return;
    this.#lost = { reason };
    const why = reason instanceof Error ? reason.message : 'lost';
    const graceMs = Math.max(
      0,
      Math.round(Math.min(this.#killAfterMs, (this.#leaseKillAt ?? Infinity) - performance.now())),
    );
    note(this.#io, `${why}: terminating the command (SIGTERM, SIGKILL after ${graceMs} ms)`);
    this.terminate();
  }

  /** Sends `sig` to the child's whole process group (or to the child alone when it shares ours). */
  kill(sig: NodeJS.Signals): void {
    this.#kill(sig);
  }

  #armKill(): void {
    clearTimeout(this.#killTimer);
    this.#killTimer = undefined;
    if (this.#killedAt !== undefined) return;
    const at = Math.min(this.#termKillAt ?? Infinity, this.#leaseKillAt ?? Infinity);
    if (at === Infinity) return;
    this.#killTimer = setTimeout(
      () => {
        this.#killedAt = performance.now();
        // The lease's deadline came before any SIGTERM (--kill-after 0, a late timer): still a loss.
        if (!this.#terminating && this.#lost === undefined)
          this.#lost = { reason: new Error('the lease could expire: the command was killed before it did') };
        this.#kill('SIGKILL');
      },
      Math.max(0, at - performance.now()),
    );
  }

  #kill(sig: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      // A negative pid signals the process group the child leads (we created it: detached).
      process.kill(this.#group ? -pid : pid, sig);
    } catch {
      // ESRCH: nothing left to signal.
    }
  }

  /**
   * After the child exited: anything it left in its group is terminated like the child (SIGTERM, SIGKILL
   * after `killAfterMs`, or by the lease's deadline), and waited for: the hold is released only after.
   */
  async #reapGroup(): Promise<void> {
    const pid = this.pid;
    if (!this.#group || pid === undefined) return;
    const alive = (): boolean => {
      try {
        process.kill(-pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (!alive()) return;
    this.terminate();
    // Process groups have no exit event. A SIGKILLed group is gone once init reaps it: bounded wait.
    while (
      alive() &&
      (this.#killedAt === undefined || performance.now() - this.#killedAt < REAP_AFTER_KILL_MS)
    )
      await new Promise((r) => setTimeout(r, GROUP_POLL_MS));
  }
}

/**
 * Runs a child while `hold` is not aborted: on abort (the lock, term or slot is lost) the child is
 * terminated, as it is when `spec.lease` is at risk. `started` is handed the child as soon as it is
 * spawned. Resolves once it is gone.
 *
 * @example
 * ```ts
 * const result = await supervise(io, { argv, killAfterMs: 5000, env: lockEnv(lock) }, lock.signal);
 * if (result.lost) throw new CliError('lock lost while the command ran', ExitCode.LOST);
 * return result.exitCode;
 * ```
 */
export async function supervise(
  io: CliIo,
  spec: ChildSpec,
  hold?: AbortSignal,
  started?: (child: Child) => void,
): Promise<ChildResult> {
  const child = Child.start(io, spec);
  started?.(child);
  const stopEscalation = spec.lease ? escalateFromLease(child, spec.lease, spec.killAfterMs) : undefined;
  const onLost = (): void => child.lose(hold?.reason);
  if (hold?.aborted) onLost();
  else hold?.addEventListener('abort', onLost, { once: true });
  try {
    return await child.exited;
  } finally {
    stopEscalation?.();
    hold?.removeEventListener('abort', onLost);
  }
}

/** The environment a held lock or term gives its child, as `etcdctl lock` does, plus the fencing token. */
export function holdEnv(fullKey: string, createRevision: bigint): Record<string, string> {
  return {
    ETCD_LOCK_KEY: fullKey,
    ETCD_LOCK_REV: createRevision.toString(),
    ETCD_COORD_FENCING_TOKEN: createRevision.toString(),
  };
}

/**
 * The exit code for a finished child.
 *
 * @throws CliError (exit 79) when the hold was lost while the child ran
 */
export function childExitCode(result: ChildResult, what: string): number {
  if (result.lost) {
    const reason = result.lost.reason instanceof Error ? result.lost.reason.message : 'lost';
    throw new CliError(
      `${what} was lost while the command ran (${reason}); the command was terminated`,
      ExitCode.LOST,
      {
        cause: result.lost.reason,
      },
    );
  }
  return result.exitCode;
}
