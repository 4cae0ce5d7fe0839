/**
 * `etcd-coord config exec <prefix> -- <cmd…>` (envconsul's mode): runs the command with the config in its
 * environment (`db/url` → `DB_URL`) and restarts it when, and only when, that environment changes.
 *
 * @module
 */
import { connectOptions, durationOption, requireChild, str, type Parsed } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { UsageError } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { DEFAULT_KILL_AFTER_MS } from '../kill-policy.js';
import { configEnv } from './config-env-format.js';
import { followConfig } from './config-follow.js';
import { parseWait } from './config-wait.js';

/** Options of `config watch` that mean nothing to `config exec`. */
const WATCH_ONLY = ['render', 'template', 'out', 'format', 'exec', 'signal'] as const;

/**
 * Runs `config exec <prefix> -- <cmd…>`.
 *
 * @example `await exec(parseCommand(['app/', '--', './server'], WATCH_OPTIONS, 'config'), io, 'app/')`
 * @throws UsageError without a command or with a `config watch`-only option; ConfigError (78) when two
 *   keys give one variable name at start (no child started)
 */
export async function exec(p: Parsed, io: CliIo, prefix: string): Promise<number> {
  for (const name of WATCH_ONLY)
    if (p.values[name] !== undefined)
      throw new UsageError(`--${name} is an option of "config watch", not of "config exec"`, 'config');
  const argv = requireChild(p, 'config');
  const waitText = str(p, 'wait');
  const wait = waitText === undefined ? undefined : parseWait(waitText, 'config');
  const killAfterMs = durationOption(p, 'kill-after', 'config') ?? DEFAULT_KILL_AFTER_MS;
  return withCoordinator(connectOptions(p, io, 'config'), io, async (coord) => {
    const cfg = await coord.config(prefix, { signal: io.signal });
    try {
      return await followConfig(io, cfg, {
        wait,
        child: { argv, killAfterMs },
        output: (value) => Object.fromEntries(configEnv(value)),
        // Sorted: the same variables in another order are the same environment.
        identity: (vars) =>
          JSON.stringify(Object.entries(vars).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
        apply: async (vars, { first, child, revision }) => {
          const env = { ...vars, ETCD_COORD_CONFIG_REVISION: revision.toString() };
          if (first) child?.start(env);
          else await child?.restart(env);
        },
      });
    } finally {
      await cfg.close();
    }
  });
}
