/**
 * What `config watch` writes: the config as JSON, as `NAME='value'` lines (`--format env`), or through a
 * Handlebars template (`--template`), and the atomic file replacement every one of them goes through.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import Handlebars from 'handlebars';
import { ConfigError } from '../exit-codes.js';
import { jsonReplacer } from '../io.js';
import { toEnvFile } from './config-env-format.js';

/** Turns a config value into the bytes to write. Throws {@link ConfigError} when it cannot. */
export type Renderer = (value: unknown) => string;

/**
 * The config as indented JSON (bigints as decimal strings), ending in a newline.
 *
 * @example `renderJson({ db: { pool: 5 } })` → `'{\n  "db": {\n    "pool": 5\n  }\n}\n'`
 */
export function renderJson(value: unknown): string {
  return `${JSON.stringify(value, jsonReplacer, 2)}\n`;
}

/**
 * Reads and compiles the Handlebars template in `file`: the config object is its data, nothing is
 * HTML-escaped (`noEscape`), and a key the template uses that the config lacks is an error (`strict`), not
 * silently empty text. `{{json x}}` prints any value as JSON; `{{#if x}}` tests a key that may be absent.
 *
 * @example
 * ```ts
 * const render = await loadTemplate('/etc/app/nginx.conf.tmpl');
 * render({ upstream: { host: 'db', port: 5432 } });
 * ```
 * @throws ConfigError (exit 78) naming `file` when the template does not parse; the returned renderer
 *   throws one when the config lacks a key the template uses. A file that cannot be read is the system's
 *   error (exit 74), which names it too.
 */
export async function loadTemplate(file: string): Promise<Renderer> {
  const source = await readFile(file, 'utf8');
  const hb = Handlebars.create();
  hb.registerHelper('json', (value: unknown) => JSON.stringify(value, jsonReplacer));
  try {
    // compile() parses lazily, on the first call: parse now, so a broken template fails at start.
    hb.parse(source);
  } catch (err) {
    throw new ConfigError(`template ${file}: ${templateMessage(err)}`, { cause: err });
  }
  const template = hb.compile(source, { noEscape: true, strict: true });
  return (value) => {
    try {
      return template(value);
    } catch (err) {
      throw new ConfigError(`template ${file}: ${templateMessage(err)}`, { cause: err });
    }
  };
}

/** Handlebars' message on one line, in the words of this tool (`"x" not defined in [object Object] - 1:2`). */
function templateMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const missing = /^"(.*)" not defined in .* - (\d+):(\d+)$/s.exec(text);
  if (missing)
    return `"${missing[1] ?? ''}" is not in the config (line ${missing[2] ?? '?'}, column ${missing[3] ?? '?'})`;
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  // A parse error: "Parse error on line N:", the line, a caret, what was expected.
  return lines.length > 1 ? `${lines[0] ?? ''} ${lines.at(-1) ?? ''}` : text;
}

/**
 * The renderer for `--template` or `--format json|env`.
 *
 * @example `const render = await renderer({ format: 'env' }); render({ db: { url: 'x' } }) // "DB_URL='x'\n"`
 * @throws as {@link loadTemplate} for a template
 */
export async function renderer(opts: {
  template?: string | undefined;
  format: 'json' | 'env';
}): Promise<Renderer> {
  if (opts.template !== undefined) return loadTemplate(opts.template);
  return opts.format === 'env' ? toEnvFile : renderJson;
}

/**
 * Replaces `file` with `content` atomically: temporary file in the same directory (keeping the file's mode),
 * fsync, rename. A reader sees the old bytes or the new ones, never a part.
 *
 * @example `await writeAtomic('/etc/app/config.json', renderJson(cfg.value));`
 * @throws the system's error (ENOENT, EACCES: exit 74) when the directory cannot be written; the temporary
 *   file is removed and `file` is untouched
 */
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
