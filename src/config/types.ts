import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidArgumentError } from '../core/errors.js';
import type { ConfigConflict, ConfigObject } from './shape.js';

/** The type of `cfg.value`: the schema's output type, or a plain object without a schema. */
export type ConfigValue<S extends StandardSchemaV1 | undefined> = S extends StandardSchemaV1
  ? StandardSchemaV1.InferOutput<S>
  : ConfigObject;

/** What `defaults` may hold: any part of the schema's input (or of a plain object). */
export type ConfigDefaults<S extends StandardSchemaV1 | undefined> = DeepPartial<
  S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : ConfigObject
>;

/** Every property optional, recursively (arrays are replaced whole, so they stay as they are). */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> | undefined }
    : T;

/** Options of `coord.config()`. */
export interface WatchedConfigOptions<S extends StandardSchemaV1 | undefined = undefined> {
  /** Any Standard Schema validator (zod, valibot, arktype…). Its output type becomes the type of `value`. */
  schema?: S;
  /** Laid under the values read from etcd (deep-merged, etcd wins) before validation. */
  defaults?: ConfigDefaults<S>;
  /** Cancels the initial load. */
  signal?: AbortSignal | undefined;
  /** Deadline for the initial load, in ms. */
  timeoutMs?: number | undefined;
}

/** Options of `cfg.set()` and `cfg.delete()`. */
export interface ConfigWriteOptions {
  /**
   * Write only if the key's **mod revision** is still this (`cfg.modRevision(key)`); `0n` means "only if the
   * key does not exist". Otherwise the call fails with `ConflictError` and nothing is written.
   *
   * The guard compares revision numbers only: a revision read before etcd lost its data (restarted empty,
   * restored from an older snapshot) can match another writer's key at the same number in the new history,
   * and the write then overwrites it. After a `reset` event, read `cfg.modRevision(key)` again.
   */
  expectRevision?: bigint | undefined;
  /** Aborts the write (its outcome is then unknown: it may have applied). */
  signal?: AbortSignal | undefined;
  /** Deadline of this call, retries included; default the coordinator's `requestTimeoutMs`. */
  timeoutMs?: number | undefined;
}

/** The revision an update came from and the keys (relative to the prefix) it touched. */
export interface ConfigChangeInfo {
  /** The etcd revision the new value reflects. */
  revision: bigint;
  /** The keys (relative to the prefix) written or deleted in that revision. */
  changedKeys: string[];
}

/** The events of a `WatchedConfig<T>`. Handlers run synchronously on the watch stream: keep them short. */
export interface WatchedConfigEvents<T> {
  /**
   * A new valid value: once per etcd revision that touched the prefix (a multi-key txn is one change), and
   * once after a re-read (after compaction) that found a different value.
   */
  change: [next: T, prev: T, info: ConfigChangeInfo];
  /** An update produced a value the schema rejects; `value` keeps the last valid one. */
  invalid: [issues: readonly StandardSchemaV1.Issue[], raw: unknown, info: ConfigChangeInfo];
  /** The set of keys left out of the object (see {@link ConfigConflict}) changed; `conflicts` is the new set. */
  conflict: [conflicts: ConfigConflict[], revision: bigint];
  /** The watch broke or a re-read failed; the config keeps retrying until closed. */
  error: [err: Error];
  /**
   * etcd lost its data (restarted empty, or restored from an older snapshot): the prefix was re-read at
   * `revision`, which may be lower than `cfg.revision` was. A `change` follows if the value differs.
   */
  reset: [revision: bigint];
}

/**
 * The config stored in etcd did not pass the schema when it was first loaded, so there is no valid value
 * to start from. `issues` are the validator's, `raw` the object that was validated.
 */
export class ConfigValidationError extends InvalidArgumentError {
  constructor(
    message: string,
    /** The validator's issues. */
    readonly issues: readonly StandardSchemaV1.Issue[],
    /** The object built from the keys, as it was validated. */
    readonly raw: unknown,
    /** The revision the rejected snapshot was read at. */
    readonly revision: bigint,
  ) {
    super(message);
  }
}

/** One line per issue: `db.port: Expected number, received string`. */
export function formatIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((seg) => String(typeof seg === 'object' && seg !== null ? seg.key : seg))
        .join('.');
      return path === '' ? issue.message : `${path}: ${issue.message}`;
    })
    .join('; ');
}
