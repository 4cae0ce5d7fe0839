/**
 * `etcd-coord config get|set|watch|exec <prefix>`: reads, writes and follows a watched config. `watch`
 * (consul-template's job) is in config-watch.ts, `exec` (envconsul's) in config-exec.ts.
 *
 * @module
 */
import { GLOBAL_HELP, connectOptions, parseCommand, str } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { CliError, ExitCode, UsageError } from '../exit-codes.js';
import { emit, jsonReplacer, printHelp, type CliIo } from '../io.js';
import { exec } from './config-exec.js';
import { WATCH_OPTIONS, watch } from './config-watch.js';

const OPTIONS = {
  ...WATCH_OPTIONS,
  'expect-revision': { type: 'string' },
} as const;

export const help = `Usage: etcd-coord config get <prefix> [<key>]
       etcd-coord config set <prefix> <key> <value> [--expect-revision N]
       etcd-coord config watch <prefix> [--render <file> [--format json|env] | --template <in> --out <file>]
                               [--exec <cmd> | -- <cmd…>] [--signal HUP] [--wait 500ms:2s] [--kill-after 5s]
       etcd-coord config exec <prefix> [--wait 500ms:2s] [--kill-after 5s] -- <cmd…>

Keys under <prefix> map to a nested object (db/url → {"db": {"url": …}}), values decoded as JSON when
they are JSON, else kept as strings.
  get    prints the object as JSON (or the value at <key>, a path like db/url: strings printed raw).
  set    writes <key> (relative to <prefix>): a <value> that is JSON is stored as is (20, true, {"a":1}),
         anything else as the plain string. --expect-revision N writes only if the key's mod revision is
         still N (0: only if absent); otherwise exit 1 and nothing is written. Prints the new revision.
  watch  follows the config (consul-template's job): a consistent snapshot, then every change.
         --render <file> writes the config to <file> as JSON (--format json, the default) or as env lines
         (--format env: DB_URL='…', every value single-quoted, so \`. <file>\` in sh reads it back exactly).
         --template <in> --out <file> renders the Handlebars template <in> with the config object as its
         data: {{db.url}}, {{#each db}}{{@key}}={{this}}{{/each}}, {{json db}} (any value as JSON). Nothing
         is HTML-escaped, and it is strict: a key the template uses that the config lacks is an error, not
         empty text ({{#if db.url}} tests a key that may be absent).
         The file is replaced atomically (temporary file + rename: readers never see a partial file)
         before <cmd> starts and whenever its bytes change: a value written again, or a change to a key the
         output does not use, rewrites nothing and reloads nothing.
         --exec <cmd> or -- <cmd…> runs a child; on every change of the output it gets --signal (e.g. HUP)
         or, without --signal, is restarted (SIGTERM to its group, SIGKILL after --kill-after, start
         again). --exec runs \`sh -c "exec <cmd>"\`: ONE command (arguments, quotes and $VARS allowed) that
         replaces the shell and so receives the signal itself; for several commands use a script (trap the
         signal in it). The child's environment has ETCD_COORD_CONFIG_REVISION (the revision it started at).
         Without --render/--template and a child, prints the config as one JSON line whenever it changes.
  exec   runs -- <cmd…> with the config in its environment (envconsul's job): db/url → DB_URL, db/pool-size
         → DB_POOL_SIZE (upper-cased, anything but A-Z0-9_ as _), strings as they are, other values as
         JSON, plus ETCD_COORD_CONFIG_REVISION. When the environment changes the command is restarted
         (SIGTERM to its group, SIGKILL after --kill-after, start again); a change that leaves it the same
         restarts nothing. A config variable replaces one of the same name the CLI has (path → PATH).
  --wait <min>[:<max>]  after a change, wait until nothing changed for <min>, but no longer than <max>
         after the first pending change, then render and reload once (a burst of writes is one reload).
         <max> defaults to 4 × <min>. The first render is immediate.
  watch and exec run until interrupted (exit 0, or the child's status after it got the signal), or until
  the child exits on its own (its status). The first value that cannot be rendered (a template that does
  not parse or uses a missing key, two keys for one variable name such as db/url and db_url) is exit 78
  and nothing is written; a later one is reported on stderr and the last output (file, child) stays.

Exit status: 0; the child's; 1 <key> not found (get) or revision conflict (set); 69 etcd unavailable;
  74 the output file cannot be written (or the template read); 78 config error (see above); 64 usage.

Examples:
  etcd-coord config set app/config/ db/url postgres://db:5432/app
  etcd-coord config get app/config/ db/url
  etcd-coord config watch app/config/ --render /etc/app/config.json
  etcd-coord config watch app/config/ --template nginx.conf.tmpl --out /etc/nginx/conf.d/app.conf \\
      --wait 500ms:2s --exec 'nginx -g "daemon off;"' --signal HUP
  etcd-coord config exec app/config/ -- ./server --port 8080`;

/** Runs `config`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'config');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [sub, prefix, ...rest] = p.positionals;
  if (sub === undefined) throw new UsageError('missing <get|set|watch|exec>', 'config');
  if (prefix === undefined) throw new UsageError('missing <prefix>', 'config');
  switch (sub) {
    case 'get':
      if (rest.length > 1) throw new UsageError(`unexpected argument "${rest[1] ?? ''}"`, 'config');
      return get(p, io, prefix, rest[0]);
    case 'set': {
      const [key, value, extra] = rest;
      if (key === undefined || value === undefined)
        throw new UsageError(`missing <${key === undefined ? 'key' : 'value'}>`, 'config');
      if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`, 'config');
      return set(p, io, prefix, key, value);
    }
    case 'watch':
    case 'exec':
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0] ?? ''}"`, 'config');
      return sub === 'watch' ? watch(p, io, prefix) : exec(p, io, prefix);
    default:
      throw new UsageError(`unknown subcommand "${sub}" (expected get, set, watch or exec)`, 'config');
  }
}

async function get(
  p: ReturnType<typeof parseCommand>,
  io: CliIo,
  prefix: string,
  key: string | undefined,
): Promise<number> {
  return withCoordinator(connectOptions(p, io, 'config'), io, async (coord) => {
    const cfg = await coord.config(prefix, { signal: io.signal });
    try {
      let value: unknown = cfg.value;
      if (key !== undefined) {
        for (const seg of key.split('/').filter((s) => s !== '')) {
          value =
            value !== null && typeof value === 'object' && Object.hasOwn(value, seg)
              ? (value as Record<string, unknown>)[seg]
              : undefined;
        }
        if (value === undefined) throw new CliError(`no key "${key}" under "${cfg.prefix}"`, ExitCode.FAILED);
      }
      const text =
        typeof value === 'string' && !p.json
          ? value
          : JSON.stringify(value, jsonReplacer, p.json ? undefined : 2);
      io.stdout.write(`${text}\n`);
      return ExitCode.OK;
    } finally {
      await cfg.close();
    }
  });
}

async function set(
  p: ReturnType<typeof parseCommand>,
  io: CliIo,
  prefix: string,
  key: string,
  value: string,
): Promise<number> {
  const expect = str(p, 'expect-revision');
  if (expect !== undefined && !/^\d+$/.test(expect))
    throw new UsageError(`--expect-revision: expected a revision (integer >= 0), got "${expect}"`, 'config');
  return withCoordinator(connectOptions(p, io, 'config'), io, async (coord) => {
    const cfg = await coord.config(prefix, { signal: io.signal });
    try {
      let parsed: unknown = value;
      try {
        parsed = JSON.parse(value);
      } catch {
        // Not JSON: stored as the plain string.
      }
      const revision = await cfg.set(key, parsed, {
        signal: io.signal,
        ...(expect === undefined ? {} : { expectRevision: BigInt(expect) }),
      });
      emit(io, p.json, revision.toString(), { key, revision });
      return ExitCode.OK;
    } finally {
      await cfg.close();
    }
  });
}
