/**
 * Pure functions that turn the keys under a config prefix into one nested object, and back. No etcd here:
 * {@link WatchedConfig} feeds them the keys it holds, and the unit tests check them in isolation.
 */

/** A JSON value as stored under a config key. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The nested object built from the keys under a config prefix. */
export type ConfigObject = { [key: string]: unknown };

/**
 * A key that did not make it into the nested object, and why:
 * - `shadowed`: the key is also a folder (`a` and `a/b` are both set). The deeper keys win; `by` is the
 *   first deeper key, in key order.
 * - `invalid-key`: the key cannot be a path (an empty segment as in `a//b`, a leading or trailing `/`, the
 *   bare prefix itself, or a `__proto__` segment).
 */
export interface ConfigConflict {
  /** The conflicting key, relative to the prefix. */
  key: string;
  /** Why the key is left out of the value. */
  reason: 'shadowed' | 'invalid-key';
  /** For `shadowed`: the deeper key that shadows it. */
  by?: string;
}

/** The nested object and the keys left out of it. */
export interface BuiltTree {
  tree: ConfigObject;
  conflicts: ConfigConflict[];
}

/**
 * Decodes one stored value: JSON when it parses, otherwise the text itself (so `postgres://db` and `"x"`
 * both read as strings, `5432` as a number, `true` as a boolean, `{"a":1}` as an object).
 */
export function decodeValue(raw: Buffer | string): unknown {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Encodes a value for {@link decodeValue} to read back exactly: a string that is not itself valid JSON is
 * stored as is (readable in `etcdctl get`), anything else as JSON (`"5432"` keeps a string a string).
 *
 * @throws TypeError when the value is not JSON-serializable (undefined, a function, a bigint, a cycle)
 */
export function encodeValue(value: unknown, arg = 'value'): string {
  if (typeof value === 'string' && decodeValue(value) === value) return value;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`Expected \`${arg}\` to be JSON-serializable: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (text === undefined)
    throw new TypeError(`Expected \`${arg}\` to be JSON-serializable, got ${typeof value}`);
  return text;
}

/**
 * Splits a key (relative to the prefix) into path segments, or returns undefined when it cannot be a path:
 * empty, an empty segment (`a//b`, `/a`, `a/`) or a `__proto__` segment.
 */
export function keyPath(key: string): string[] | undefined {
  if (key === '') return undefined;
  const path = key.split('/');
  for (const segment of path) if (segment === '' || segment === '__proto__') return undefined;
  return path;
}

/**
 * Builds the nested object from `[key, value]` pairs (keys relative to the prefix, values decoded).
 * `db/url` and `db/pool` become `{ db: { url, pool } }`. The result does not depend on the order of the
 * pairs. Conflicting shapes follow one rule: **the deeper keys win**. When `a` and `a/b` are both set,
 * `a` is left out (reported as `shadowed` by `a/b`) and the object is `{ a: { b } }`. Keys that cannot be
 * paths are left out and reported as `invalid-key`. A later duplicate of the same key replaces the earlier.
 *
 * @example
 * ```ts
 * buildTree([['db/url', 'pg://x'], ['db', 1]]) // { tree: { db: { url: 'pg://x' } }, conflicts: [{ key: 'db', reason: 'shadowed', by: 'db/url' }] }
 * ```
 */
export function buildTree(entries: Iterable<readonly [string, unknown]>): BuiltTree {
  const leaves = new Map<string, { path: string[]; value: unknown }>();
  const conflicts: ConfigConflict[] = [];
  for (const [key, value] of entries) {
    const path = keyPath(key);
    if (path === undefined) conflicts.push({ key, reason: 'invalid-key' });
    else leaves.set(key, { path, value });
  }
  // Every proper prefix of a valid key is a folder; a leaf at a folder's path is shadowed.
  const folders = new Map<string, string>();
  for (const [key, { path }] of leaves) {
    for (let i = 1; i < path.length; i++) {
      const folder = path.slice(0, i).join('/');
      const by = folders.get(folder);
      if (by === undefined || key < by) folders.set(folder, key);
    }
  }
  const tree: ConfigObject = {};
  for (const key of [...leaves.keys()].sort()) {
    const leaf = leaves.get(key)!;
    const by = folders.get(key);
    if (by !== undefined) {
      conflicts.push({ key, reason: 'shadowed', by });
      continue;
    }
    let node = tree;
    for (const segment of leaf.path.slice(0, -1)) {
      const next = node[segment];
      if (isPlainObject(next)) node = next;
      else node = node[segment] = {};
    }
    node[leaf.path[leaf.path.length - 1]!] = leaf.value;
  }
  conflicts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { tree, conflicts };
}

/** True for `{}`-like objects (not arrays, not null, not class instances). */
export function isPlainObject(value: unknown): value is ConfigObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Merges `over` onto `base` recursively, without touching either: plain objects merge key by key, any
 * other value of `over` (arrays included) replaces the one in `base`. Used to lay etcd's values over the
 * `defaults`.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: ConfigObject = {};
  for (const key of Object.keys(base)) if (key !== '__proto__') out[key] = base[key];
  for (const key of Object.keys(over)) {
    if (key === '__proto__') continue;
    out[key] = Object.hasOwn(out, key) ? deepMerge(out[key], over[key]) : over[key];
  }
  return out;
}

/** Structural equality of JSON-like values (plain objects compared key by key, arrays item by item). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}
