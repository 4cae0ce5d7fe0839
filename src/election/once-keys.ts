/**
 * The keys of once() (issue 24): `once/<job>/<encodedSlot>/record` and the election `once/<job>/<encodedSlot>/lock`.
 *
 * A job name is kept raw (it may nest, `reports/daily`, like a lock name). The slot is percent-encoded for `%`
 * and `/` only (`%` → `%25`, `/` → `%2F`), so it is always exactly one key segment: the LAST segment before
 * `/record` is the slot, everything between `once/` and it is the job. Two distinct (job, slot) pairs therefore
 * never share a key — `('j', 'x/s/1')` is `once/j/x%2Fs%2F1/record`, `('j/x', 's/1')` is
 * `once/j/x/s%2F1/record`. A slot without `%` or `/` keeps its raw key, so records written before the
 * encoding existed stay readable.
 *
 * @module
 */
import { assertName } from '../core/validate.js';

/** Percent-encodes `%` and `/` (only those), so the slot is one key segment. */
export function encodeSlot(slot: string): string {
  return slot.replace(/[%/]/g, (c) => (c === '%' ? '%25' : '%2F'));
}

/**
 * The slot a key segment stands for, or `undefined` when the segment is not one {@link encodeSlot} makes
 * (a `/`, or a `%` not followed by `25` or `2F`: a key written by another tool, or a `%` slot of a version
 * before the encoding). Strict, so every segment decodes to at most one slot and back to itself.
 */
export function decodeSlot(segment: string): string | undefined {
  if (!/^(?:[^%/]|%25|%2F)*$/.test(segment)) return undefined;
  return segment.replace(/%25|%2F/g, (e) => (e === '%25' ? '%' : '/'));
}

/**
 * Checks a once() job name before any request: a non-empty string without NUL that does not end with `/`
 * (`once/<job>/` must be the job's own prefix: a trailing `/` would make an empty segment).
 *
 * @throws TypeError naming `job` for a non-string, an empty name or one ending with `/`
 * @throws InvalidArgumentError naming `job` for a NUL byte
 */
export function assertJob(job: unknown): asserts job is string {
  if (typeof job === 'string' && job.length === 0)
    throw new TypeError('Expected `job` to be a non-empty string');
  if (typeof job === 'string' && job.endsWith('/'))
    throw new TypeError(`Expected \`job\` not to end with "/", got "${job}"`);
  assertName(job, 'job');
}

/** `once/<job>/<encodedSlot>/`: everything once() keeps for one (job, slot). */
export function slotPrefix(job: string, slot: string): string {
  return `once/${job}/${encodeSlot(slot)}/`;
}

/** `once/<job>/<encodedSlot>/record`: the slot's record (app-relative). */
export function recordKey(job: string, slot: string): string {
  return `${slotPrefix(job, slot)}record`;
}

/** `once/<job>/<encodedSlot>/lock`: the election the hosts stand in for the slot. */
export function lockName(job: string, slot: string): string {
  return `${slotPrefix(job, slot)}lock`;
}

/** The (job, slot) of a record key, or `undefined` when `key` is not one {@link recordKey} makes. */
export function parseRecordKey(key: string): { job: string; slot: string } | undefined {
  const m = /^once\/(.+)\/([^/]*)\/record$/s.exec(key);
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  const slot = decodeSlot(m[2]);
  return slot === undefined || slot === '' ? undefined : { job: m[1], slot };
}
