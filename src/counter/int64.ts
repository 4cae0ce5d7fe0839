import { InvalidArgumentError } from '../core/errors.js';

/** The smallest signed 64-bit integer, −2⁶³ (etcd and most languages' `int64`). */
export const INT64_MIN = -(2n ** 63n);
/** The largest signed 64-bit integer, 2⁶³ − 1. */
export const INT64_MAX = 2n ** 63n - 1n;

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  return value === null ? 'null' : typeof value;
}

/**
 * Turns a counter argument (a `bigint`, or a `number` that is a safe integer) into a `bigint` within the
 * signed 64-bit range, before any request is sent.
 *
 * @throws TypeError when it is neither a bigint nor a number
 * @throws InvalidArgumentError (`INVALID_ARGUMENT`) when it is a non-integer number, a number outside the
 *   safe-integer range (it would already have lost precision), or outside the signed 64-bit range
 */
export function toInt64(value: unknown, arg: string): bigint {
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) {
      throw new InvalidArgumentError(
        `Expected \`${arg}\` to be within the signed 64-bit range [−2^63, 2^63−1], got ${describe(value)}`,
      );
    }
    return value;
  }
  if (typeof value !== 'number') {
    throw new TypeError(`Expected \`${arg}\` to be a bigint or an integer number, got ${describe(value)}`);
  }
  if (!Number.isInteger(value)) {
    throw new InvalidArgumentError(`Expected \`${arg}\` to be an integer, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(
      `Expected \`${arg}\` to be a safe integer (|n| ≤ 2^53−1; pass a bigint for larger values), got ${describe(value)}`,
    );
  }
  return BigInt(value);
}

/**
 * `current + delta`, or an error naming `arg` when the result leaves the signed 64-bit range: a counter
 * never wraps around.
 *
 * @throws InvalidArgumentError when the sum overflows
 */
export function checkedAdd(current: bigint, delta: bigint, arg: string): bigint {
  const next = current + delta;
  if (next < INT64_MIN || next > INT64_MAX) {
    throw new InvalidArgumentError(
      `Expected \`${arg}\` to keep the counter within the signed 64-bit range: ${current} + ${delta} = ${next} overflows`,
    );
  }
  return next;
}

/**
 * Reads a counter value as stored: a decimal integer string (an absent key is 0). Leading `+`, spaces or
 * other text are refused: the key is not a counter, and overwriting it would destroy someone's data.
 *
 * @throws TypeError naming the key when the stored bytes are not a decimal integer in the 64-bit range
 */
export function parseStored(raw: Buffer | undefined, key: string): bigint {
  if (raw === undefined) return 0n;
  const text = raw.toString('utf8');
  if (!/^-?\d{1,19}$/.test(text)) {
    throw new TypeError(
      `counter "${key}": stored value ${describe(text.slice(0, 40))} is not a decimal integer`,
    );
  }
  const value = BigInt(text);
  if (value < INT64_MIN || value > INT64_MAX) {
    throw new TypeError(`counter "${key}": stored value ${text} is outside the signed 64-bit range`);
  }
  return value;
}
