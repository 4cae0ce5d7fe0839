import type { StandardSchemaV1 } from '@standard-schema/spec';
import { assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import { isPlainObject, keyPath } from './shape.js';
import type { ConfigWriteOptions, WatchedConfigOptions } from './types.js';

/** A validation result: the schema's output, or its issues. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; issues: readonly StandardSchemaV1.Issue[] };

/**
 * Checks `coord.config()`'s arguments before any request; returns the prefix as a folder (ending in `/`)
 * and a private copy of the defaults.
 *
 * @throws TypeError / InvalidArgumentError naming the argument
 */
export function checkConfigOptions(
  prefix: unknown,
  opts: WatchedConfigOptions<StandardSchemaV1 | undefined>,
): { prefix: string; defaults: unknown } {
  assertName(prefix, 'prefix');
  const schema: unknown = opts.schema;
  if (schema !== undefined) {
    const std = (schema as { '~standard'?: { validate?: unknown } } | null)?.['~standard'];
    if (typeof std?.validate !== 'function') {
      throw new TypeError(
        'Expected `schema` to be a Standard Schema validator (with a `~standard.validate` function)',
      );
    }
  }
  if (opts.defaults !== undefined && !isPlainObject(opts.defaults)) {
    throw new TypeError('Expected `defaults` to be a plain object');
  }
  assertOptionalSignal(opts.signal);
  assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
  let defaults: unknown;
  try {
    // A private copy: mutating the caller's object later must not change what is merged.
    defaults = opts.defaults === undefined ? undefined : structuredClone(opts.defaults);
  } catch (err) {
    throw new TypeError('Expected `defaults` to hold only JSON-like values', { cause: err });
  }
  return { prefix: prefix.endsWith('/') ? prefix : `${prefix}/`, defaults };
}

/** A key for `set`/`delete`: a path that {@link buildTree} keeps (so a write is always visible in `value`). */
export function checkKey(key: unknown): asserts key is string {
  assertName(key, 'key');
  if (keyPath(key) === undefined) {
    throw new TypeError(
      `Expected \`key\` to be a path like "db/url" (no empty segment, no leading or trailing "/", no "__proto__"), got ${JSON.stringify(key)}`,
    );
  }
}

/** `expectRevision`, `signal` and `timeoutMs` of a write. */
export function checkWriteOptions(opts: ConfigWriteOptions): void {
  const { expectRevision } = opts;
  if (expectRevision !== undefined && (typeof expectRevision !== 'bigint' || expectRevision < 0n)) {
    throw new TypeError(`Expected \`expectRevision\` to be a bigint ≥ 0n, got ${String(expectRevision)}`);
  }
  assertOptionalSignal(opts.signal);
  assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
}

/**
 * Runs a Standard Schema validator (or none: the value passes as is). A validator that throws is reported
 * as one issue, never as a broken watch. Synchronous validators answer synchronously.
 */
export function runSchema<T>(
  schema: StandardSchemaV1 | undefined,
  raw: unknown,
): Outcome<T> | Promise<Outcome<T>> {
  if (!schema) return { ok: true, value: raw as T };
  const toOutcome = (r: StandardSchemaV1.Result<unknown>): Outcome<T> =>
    r.issues ? { ok: false, issues: r.issues } : { ok: true, value: r.value as T };
  const thrown = (err: unknown): Outcome<T> => ({
    ok: false,
    issues: [{ message: `schema threw: ${String(err)}` }],
  });
  try {
    const result = schema['~standard'].validate(raw);
    return result instanceof Promise ? result.then(toOutcome, thrown) : toOutcome(result);
  } catch (err) {
    return thrown(err);
  }
}
