/**
 * `etcd-coord config watch <prefix>`: follows a config and renders it (JSON, env lines or a Handlebars
 * template) to a file atomically, signalling or restarting a child when, and only when, the output changes.
 *
 * @module
 */
import { constants } from 'node:os';
import { connectOptions, durationOption, str, type Parsed } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { UsageError } from '../exit-codes.js';
import { jsonReplacer, type CliIo } from '../io.js';
import { DEFAULT_KILL_AFTER_MS } from '../kill-policy.js';
import { followConfig } from './config-follow.js';
import { renderer, writeAtomic } from './config-render.js';
import { parseWait } from './config-wait.js';

/**
 * The options of `config watch` (and the `--wait`/`--kill-after` that `config exec` shares), for `parseArgs`.
 *
 * @example `parseCommand(args, { ...WATCH_OPTIONS, 'expect-revision': { type: 'string' } }, 'config')`
 */
export const WATCH_OPTIONS = {
  render: { type: 'string' },
  template: { type: 'string' },
  out: { type: 'string' },
  format: { type: 'string' },
  exec: { type: 'string' },
  signal: { type: 'string' },
  wait: { type: 'string' },
  'kill-after': { type: 'string' },
} as const;

/** Where the output goes and how it is made, from the command line. */
function outputTarget(p: Parsed): {
  file: string | undefined;
  template: string | undefined;
  format: 'json' | 'env';
} {
  const render = str(p, 'render');
  const template = str(p, 'template');
  const out = str(p, 'out');
  const format = str(p, 'format');
  if (format !== undefined && format !== 'json' && format !== 'env')
    throw new UsageError(`--format: expected json or env, got "${format}"`, 'config');
  if (template !== undefined && render !== undefined)
    throw new UsageError('give either --render <file> or --template <file> --out <file>, not both', 'config');
  if (template !== undefined && format !== undefined)
    throw new UsageError('--format does not apply to --template (the template is the format)', 'config');
  if (template !== undefined && out === undefined)
    throw new UsageError('--template needs --out <file>', 'config');
  if (out !== undefined && template === undefined)
    throw new UsageError(
      '--out needs --template <file> (for JSON or env lines use --render <file>)',
      'config',
    );
  if (format !== undefined && render === undefined)
    throw new UsageError('--format needs --render <file>', 'config');
  return { file: render ?? out, template, format: format ?? 'json' };
}

/** The reload signal of `--signal`, or undefined (restart instead). */
function reloadSignal(p: Parsed, hasChild: boolean): NodeJS.Signals | undefined {
  const reload = str(p, 'signal');
  if (reload === undefined) return undefined;
  if (!hasChild) throw new UsageError('--signal needs --exec <cmd> or -- <cmd…>', 'config');
  const upper = reload.toUpperCase();
  const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
  if (!(name in constants.signals)) throw new UsageError(`--signal: unknown signal "${reload}"`, 'config');
  return name;
}

/**
 * Runs `config watch <prefix>`.
 *
 * @example `await watch(parseCommand(['app/', '--render', '/etc/app.json'], WATCH_OPTIONS, 'config'), io, 'app/')`
 * @throws UsageError for a bad combination of options; ConfigError (78) when the first value cannot be
 *   rendered (nothing written, no child started); a system error (74) when the file cannot be written
 */
export async function watch(p: Parsed, io: CliIo, prefix: string): Promise<number> {
  const { file, template, format } = outputTarget(p);
  const exec = str(p, 'exec');
  if (exec !== undefined && p.child !== undefined)
    throw new UsageError('give either --exec <cmd> or -- <cmd…>, not both', 'config');
  // `exec`: the command replaces the shell, so the reload signal reaches it, not a waiting `sh`.
  const argv = exec !== undefined ? ['sh', '-c', `exec ${exec}`] : p.child;
  if (argv !== undefined && argv.length === 0)
    throw new UsageError('missing the command to run after "--"', 'config');
  const sig = reloadSignal(p, argv !== undefined);
  const waitText = str(p, 'wait');
  const wait = waitText === undefined ? undefined : parseWait(waitText, 'config');
  const killAfterMs = durationOption(p, 'kill-after', 'config') ?? DEFAULT_KILL_AFTER_MS;
  // Read (and parse) the template before connecting: a broken one fails at once, nothing written.
  const render =
    file === undefined
      ? (value: unknown) => `${JSON.stringify(value, jsonReplacer)}\n`
      : await renderer({ template, format });

  return withCoordinator(connectOptions(p, io, 'config'), io, async (coord) => {
    const cfg = await coord.config(prefix, { signal: io.signal });
    try {
      return await followConfig(io, cfg, {
        wait,
        child: argv === undefined ? undefined : { argv, killAfterMs },
        output: render,
        identity: (text) => text,
        apply: async (text, { first, child, revision }) => {
          if (file !== undefined) await writeAtomic(file, text);
          else if (child === undefined) io.stdout.write(text);
          if (child === undefined) return;
          const env = { ETCD_COORD_CONFIG_REVISION: revision.toString() };
          if (first) child.start(env);
          else if (sig !== undefined) child.signal(sig);
          else await child.restart(env);
        },
      });
    } finally {
      await cfg.close();
    }
  });
}
