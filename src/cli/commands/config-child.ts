/**
 * The child of `config watch -- <cmd…>` and `config exec`: started once the config is rendered, signalled
 * or restarted (SIGTERM to its group, SIGKILL after `--kill-after`, start again) when it changes, and its
 * own exit ends the command with its status.
 *
 * @module
 */
import type { CliIo } from '../io.js';
import { Child } from '../supervise.js';

/**
 * One restartable child (through {@link Child}, which forwards the CLI's signals to it and reaps its group).
 *
 * @example
 * ```ts
 * const child = new ConfigChild(io, ['./server'], 5000, (code) => stop(code));
 * child.start({ DB_URL: 'pg://db' });
 * await child.restart({ DB_URL: 'pg://db-2' }); // the old one (and its group) is gone before the new starts
 * const code = await child.stop();
 * ```
 *
 * Failure modes: a command that cannot be run exits 127/126 through `onExit`; one that ignores SIGTERM is
 * SIGKILLed after `killAfterMs`. Nothing here throws.
 */
export class ConfigChild {
  readonly #io: CliIo;
  readonly #argv: readonly string[];
  readonly #killAfterMs: number;
  readonly #onExit: (exitCode: number) => void;
  #child: Child | undefined;

  /** `onExit` is called when the child exits by itself (not when restarted or stopped by us). */
  constructor(io: CliIo, argv: readonly string[], killAfterMs: number, onExit: (exitCode: number) => void) {
    this.#io = io;
    this.#argv = argv;
    this.#killAfterMs = killAfterMs;
    this.#onExit = onExit;
  }

  /** Starts the child with `env` added to the CLI's environment (spawn failures arrive through `onExit`). */
  start(env: Record<string, string>): void {
    const started = Child.start(this.#io, { argv: this.#argv, killAfterMs: this.#killAfterMs, env });
    this.#child = started;
    void started.exited.then((r) => {
      if (this.#child === started) {
        this.#child = undefined;
        this.#onExit(r.exitCode);
      }
    });
  }

  /** Sends a reload signal (e.g. SIGHUP) to the child process. */
  signal(sig: NodeJS.Signals): void {
    this.#child?.signal(sig);
  }

  /** Terminates the child, waits until its group is gone, and starts it again with `env`. */
  async restart(env: Record<string, string>): Promise<void> {
    await this.stop();
    // Interrupted while the old one was stopping: the CLI is exiting, starting another would only delay it.
    if (this.#io.signal.aborted) return;
    this.start(env);
  }

  /** Terminates the child (if running) and resolves with its exit code once it is gone. Idempotent. */
  async stop(): Promise<number | undefined> {
    const running = this.#child;
    this.#child = undefined;
    if (running === undefined) return undefined;
    running.terminate();
    return (await running.exited).exitCode;
  }
}
