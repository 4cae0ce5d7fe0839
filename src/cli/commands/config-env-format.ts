/**
 * The config as environment variables, for `config watch --format env` (a file a shell can source) and
 * `config exec` (the child's environment): `db/url` → `DB_URL`. Two keys that give one name are refused,
 * never resolved by whichever came last.
 *
 * @module
 */
import { ConfigError } from '../exit-codes.js';
import { jsonReplacer } from '../io.js';

/**
 * The variable name of a config path: segments joined by `_`, upper-cased, anything but `A-Z0-9_` as `_`,
 * and a leading `_` before a digit (a name cannot start with one).
 *
 * @example `envName(['db', 'pool-size'])` → `'DB_POOL_SIZE'`
 */
export function envName(path: readonly string[]): string {
  const name = path
    .join('_')
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * The config as `name → value`: strings as they are, everything else as JSON (`5`, `true`, `[1,2]`), nested
 * objects walked (`{ db: { url } }` → `DB_URL`).
 *
 * @example `configEnv({ db: { url: 'pg://h' }, pool: 5 })` → `Map { 'DB_URL' => 'pg://h', 'POOL' => '5' }`
 * @throws ConfigError (exit 78) when two keys give the same name (`db/url` and `db_url` → `DB_URL`), naming
 *   both, or a value holds a NUL byte (no environment can carry one)
 */
export function configEnv(value: unknown): Map<string, string> {
  const vars = new Map<string, string>();
  const from = new Map<string, string>();
  const walk = (v: unknown, path: string[]): void => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
      return;
    }
    const name = envName(path);
    const key = path.join('/');
    const other = from.get(name);
    if (other !== undefined) {
      throw new ConfigError(
        `config keys "${other}" and "${key}" both become the environment variable ${name}: rename one`,
      );
    }
    const text = typeof v === 'string' ? v : JSON.stringify(v, jsonReplacer);
    if (text.includes('\0'))
      throw new ConfigError(`config key "${key}" holds a NUL byte, which no environment variable can`);
    from.set(name, key);
    vars.set(name, text);
  };
  walk(value, []);
  return vars;
}

/**
 * `text` as one POSIX sh word that stands for exactly `text`: single-quoted, each `'` written `'\''`.
 * Nothing is special inside single quotes (`$`, backticks, `\`, newlines), so this is safe for any value.
 *
 * @example `shellQuote("it's $HOME")` → `'it'\''s $HOME'`
 */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The config as `NAME='value'` lines that `. file` in sh (and bash, dash, zsh) reads back exactly.
 *
 * @example `toEnvFile({ db: { url: 'pg://h' } })` → `"DB_URL='pg://h'\n"`
 * @throws ConfigError as {@link configEnv}
 */
export function toEnvFile(value: unknown): string {
  const lines = [...configEnv(value)].map(([name, text]) => `${name}=${shellQuote(text)}`);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
