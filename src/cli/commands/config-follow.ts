/**
 * The loop shared by `config watch` and `config exec`: follow a config, let `--wait` settle bursts, turn
 * each settled value into its output (file bytes, an environment) and act only when that output differs
 * from the last one acted on, so a value written again, or a change to a key the output does not use,
 * rewrites nothing and reloads nothing.
 *
 * @module
 */
import type { WatchedConfig } from '../../index.js';
import { ConfigError } from '../exit-codes.js';
import { note, type CliIo } from '../io.js';
import { ConfigChild } from './config-child.js';
import { settle, type WaitSpec } from './config-wait.js';

/** What to do with the config. */
export interface FollowSpec<T, O> {
  wait: WaitSpec | undefined;
  /** The command to run, if any. */
  child?: { argv: readonly string[]; killAfterMs: number } | undefined;
  /** The output of a value (throws {@link ConfigError} when the value cannot be rendered). */
  output: (value: T) => O;
  /** Two outputs are the same when these strings are. */
  identity: (output: O) => string;
  /** Acts on a new output: `child` is not started yet when `first`. */
  apply: (
    output: O,
    ctl: { first: boolean; child: ConfigChild | undefined; revision: bigint },
  ) => Promise<void>;
}

/**
 * Follows `cfg` until the CLI is interrupted (exit 0, or the child's status after it got the signal) or the
 * child exits by itself (its status).
 *
 * @example
 * ```ts
 * return followConfig(io, cfg, {
 *   wait: undefined,
 *   output: renderJson,
 *   identity: (text) => text,
 *   apply: (text) => writeAtomic(file, text),
 * });
 * ```
 * @throws ConfigError (78) when the first value cannot be rendered; whatever `apply` throws
 *
 * Failure modes: the first value that cannot be rendered throws its {@link ConfigError} (exit 78, nothing
 * written, no child started); a later one is reported on stderr and the last output (file, child) stays.
 * A failing `apply` (a file that cannot be written) ends the command with that error.
 */
export async function followConfig<T, O>(
  io: CliIo,
  cfg: WatchedConfig<T>,
  spec: FollowSpec<T, O>,
): Promise<number> {
  const stop = new AbortController();
  let childExit: number | undefined;
  const child =
    spec.child === undefined
      ? undefined
      : new ConfigChild(io, spec.child.argv, spec.child.killAfterMs, (code) => {
          // Exiting on its own (not restarted by us) ends the watch with its status.
          childExit = code;
          stop.abort();
        });
  cfg.on('error', (err) => note(io, `config "${cfg.prefix}": ${err.message} (retrying)`));
  let last: string | undefined;
  try {
    for await (const value of settle(
      cfg.values({ signal: AbortSignal.any([io.signal, stop.signal]) }),
      spec.wait,
    )) {
      let out: O;
      try {
        out = spec.output(value);
      } catch (err) {
        if (last === undefined || !(err instanceof ConfigError)) throw err;
        note(io, `${err.message}; keeping the last output (revision ${cfg.revision})`);
        continue;
      }
      const id = spec.identity(out);
      if (id === last) continue;
      const first = last === undefined;
      last = id;
      await spec.apply(out, { first, child, revision: cfg.revision });
    }
    if (childExit !== undefined) return childExit;
    // Interrupted: the child already got the forwarded signal; its status is ours.
    return (await child?.stop()) ?? 0;
  } finally {
    stop.abort();
    await child?.stop();
  }
}
