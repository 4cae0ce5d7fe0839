/**
 * `etcd-coord config get|set|watch <prefix>`: reads, writes and follows a watched config; `watch` renders
 * it to a file atomically and signals (or restarts) a child on every change.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GLOBAL_HELP, connectOptions, durationOption, parseCommand, str } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { CliError, ExitCode, UsageError } from '../exit-codes.js';
import { emit, note, printHelp, type CliIo } from '../io.js';
import { Child } from '../supervise.js';
import { jsonReplacer } from '../io.js';

const OPTIONS = {
  render: { type: 'string' },
  format: { type: 'string' },
  exec: { type: 'string' },
  signal: { type: 'string' },
  'expect-revision': { type: 'string' },
  'kill-after': { type: 'string' },
} as const;

export const help = `Usage: etcd-coord config get <prefix> [<key>]
       etcd-coord config set <prefix> <key> <value> [--expect-revision N]
       etcd-coord config watch <prefix> [--render <file> [--format json|env]]
                               [--exec <cmd> | -- <cmd…>] [--signal HUP] [--kill-after 5s]

Keys under <prefix> map to a nested object (db/url → {"db": {"url": …}}), values decoded as JSON when
they are JSON, else kept as strings.
  get    prints the object as JSON (or the value at <key>, a path like db/url: strings printed raw).
  set    writes <key> (relative to <prefix>): a <value> that is JSON is stored as is (20, true, {"a":1}),
         anything else as the plain string. --expect-revision N writes only if the key's mod revision is
         still N (0: only if absent); otherwise exit 1 and nothing is written. Prints the new revision.
  watch  follows the config: a consistent snapshot, then every change, none missed or seen twice.
         --render <file> rewrites <file> atomically (temporary file + rename: readers never see a partial
         file) with the current config before <cmd> starts and after every change; --format json
         (default) or env (KEY_PATH=value lines, e.g. DB_URL=…, for EnvironmentFile/--env-file).
         --exec <cmd> or -- <cmd…> runs a child; on every change it gets --signal (e.g. HUP) or,
         without --signal, is restarted (SIGTERM, SIGKILL after --kill-after, start again). --exec runs
         \`sh -c "exec <cmd>"\`: ONE command (arguments, quotes and $VARS allowed) that replaces the shell
         and so receives the signal itself; for several commands use a script (trap the signal in it).
         The child's environment has ETCD_COORD_CONFIG_REVISION (the revision it started at).
         Without --render and a child, prints the config as one JSON line per change.
         Runs until interrupted (exit 0), or until the child exits on its own (its exit status).

Exit status: 0; the child's; 1 <key> not found (get) or revision conflict (set); 69 etcd unavailable; 64 usage.

Examples:
  etcd-coord config set app/config/ db/url postgres://db:5432/app
  etcd-coord config get app/config/ db/url
  etcd-coord config watch app/config/ --render /etc/app/config.json
  etcd-coord config watch app/config/ --render /run/app.env --format env --exec 'nginx -g "daemon off;"' --signal HUP`;

/** Runs `config`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'config');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [sub, prefix, ...rest] = p.positionals;
  if (sub === undefined) throw new UsageError('missing <get|set|watch>', 'config');
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
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0] ?? ''}"`, 'config');
      return watch(p, io, prefix);
    default:
      throw new UsageError(`unknown subcommand "${sub}" (expected get, set or watch)`, 'config');
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

/** `db: { url: 'x' }, pool: 5` → `DB_URL=x`, `POOL=5`; strings raw, other values as JSON, newlines escaped. */
export function toEnvFile(value: unknown): string {
  const lines: string[] = [];
  const walk = (v: unknown, path: string[]): void => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
      return;
    }
    const name = path
      .join('_')
      .toUpperCase()
      .replace(/[^A-Z0-9_]/g, '_');
    const text = typeof v === 'string' ? v : JSON.stringify(v, jsonReplacer);
    lines.push(
      `${/^[0-9]/.test(name) ? `_${name}` : name}=${text.includes('\n') ? JSON.stringify(text) : text}`,
    );
  };
  walk(value, []);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Replaces `file` with `content` atomically: temporary file in the same directory, fsync, rename. */
export async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const mode = await stat(file).then(
    (s) => s.mode & 0o777,
    () => 0o644,
  );
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function watch(p: ReturnType<typeof parseCommand>, io: CliIo, prefix: string): Promise<number> {
  const render = str(p, 'render');
  const format = str(p, 'format') ?? 'json';
  if (format !== 'json' && format !== 'env')
    throw new UsageError(`--format: expected json or env, got "${format}"`, 'config');
  if (str(p, 'format') !== undefined && render === undefined)
    throw new UsageError('--format needs --render <file>', 'config');
  const exec = str(p, 'exec');
  if (exec !== undefined && p.child !== undefined)
    throw new UsageError('give either --exec <cmd> or -- <cmd…>, not both', 'config');
  // `exec`: the command replaces the shell, so the reload signal reaches it, not a waiting `sh`.
  const argv = exec !== undefined ? ['sh', '-c', `exec ${exec}`] : p.child;
  if (argv !== undefined && argv.length === 0)
    throw new UsageError('missing the command to run after "--"', 'config');
  const reload = str(p, 'signal');
  let reloadSignal: NodeJS.Signals | undefined;
  if (reload !== undefined) {
    if (argv === undefined) throw new UsageError('--signal needs --exec <cmd> or -- <cmd…>', 'config');
    const name = (
      reload.toUpperCase().startsWith('SIG') ? reload.toUpperCase() : `SIG${reload.toUpperCase()}`
    ) as NodeJS.Signals;
    const { constants } = await import('node:os');
    if (!(name in constants.signals)) throw new UsageError(`--signal: unknown signal "${reload}"`, 'config');
    reloadSignal = name;
  }
  const killAfterMs = durationOption(p, 'kill-after', 'config') ?? 5000;
  const content = (value: unknown): string =>
    format === 'env' ? toEnvFile(value) : `${JSON.stringify(value, jsonReplacer, 2)}\n`;

  return withCoordinator(connectOptions(p, io, 'config'), io, async (coord) => {
    const cfg = await coord.config(prefix, { signal: io.signal });
    const stop = new AbortController();
    let child: Child | undefined;
    let childExit: number | undefined;
    const startChild = (): void => {
      if (argv === undefined) return;
      const started = Child.start(io, {
        argv,
        killAfterMs,
        env: { ETCD_COORD_CONFIG_REVISION: cfg.revision.toString() },
      });
      child = started;
      void started.exited.then((r) => {
        // Exiting on its own (not restarted by us) ends the watch with its status.
        if (child === started) {
          childExit = r.exitCode;
          stop.abort();
        }
      });
    };
    cfg.on('error', (err) => note(io, `config "${cfg.prefix}": ${err.message} (retrying)`));
    try {
      let first = true;
      for await (const value of cfg.values({ signal: AbortSignal.any([io.signal, stop.signal]) })) {
        if (render !== undefined) await writeAtomic(render, content(value));
        if (render === undefined && argv === undefined) emit(io, true, '', value);
        if (first) {
          first = false;
          startChild();
        } else if (child !== undefined && reloadSignal !== undefined) {
          child.signal(reloadSignal);
        } else if (child !== undefined) {
          const old = child;
          child = undefined;
          old.terminate();
          await old.exited;
          startChild();
        }
      }
      if (childExit !== undefined) return childExit;
      const running = child;
      child = undefined;
      if (running === undefined) return ExitCode.OK;
      // Interrupted: the child already got the forwarded signal; its status is ours.
      running.terminate();
      return (await running.exited).exitCode;
    } finally {
      const running = child;
      child = undefined;
      if (running) {
        running.terminate();
        await running.exited;
      }
      await cfg.close();
    }
  });
}
