/** Pure argument handling of the counters: what is accepted, what is refused, and how stored values parse. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { checkedAdd, INT64_MAX, INT64_MIN, parseStored, toInt64 } from '../../src/counter/int64.js';

describe('toInt64', () => {
  it('accepts bigints in range and safe-integer numbers', () => {
    expect(toInt64(5, 'delta')).toBe(5n);
    expect(toInt64(-7n, 'delta')).toBe(-7n);
    expect(toInt64(INT64_MAX, 'delta')).toBe(INT64_MAX);
    expect(toInt64(INT64_MIN, 'delta')).toBe(INT64_MIN);
    expect(toInt64(Number.MAX_SAFE_INTEGER, 'delta')).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('refuses non-integers, unsafe numbers and values outside 64 bits, naming the argument', () => {
    for (const bad of [1.5, Number.NaN, Infinity, -0.1]) {
      expect(() => toInt64(bad, 'delta')).toThrow(InvalidArgumentError);
      expect(() => toInt64(bad, 'delta')).toThrow(/`delta`/);
    }
    expect(() => toInt64(2 ** 60, 'delta')).toThrow(/safe integer/);
    expect(() => toInt64(INT64_MAX + 1n, 'delta')).toThrow(/64-bit/);
    expect(() => toInt64(INT64_MIN - 1n, 'expected')).toThrow(/`expected`/);
    expect(() => toInt64('1', 'delta')).toThrow(TypeError);
    expect(() => toInt64(undefined, 'next')).toThrow(/`next`/);
  });

  it('every bigint is accepted exactly when it fits in a signed 64-bit integer', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), (n) => {
        const fits = n >= -(2n ** 63n) && n <= 2n ** 63n - 1n;
        if (fits) expect(toInt64(n, 'delta')).toBe(n);
        else expect(() => toInt64(n, 'delta')).toThrow(InvalidArgumentError);
      }),
      { numRuns: 500 },
    );
  });
});

describe('checkedAdd', () => {
  it('adds, and refuses to leave the 64-bit range instead of wrapping', () => {
    expect(checkedAdd(1n, 2n, 'delta')).toBe(3n);
    expect(checkedAdd(INT64_MAX, -1n, 'delta')).toBe(INT64_MAX - 1n);
    expect(() => checkedAdd(INT64_MAX, 1n, 'delta')).toThrow(InvalidArgumentError);
    expect(() => checkedAdd(INT64_MIN, -1n, 'delta')).toThrow(/overflows/);
  });
});

describe('parseStored', () => {
  it('reads decimal integers; an absent key is 0', () => {
    expect(parseStored(undefined, 'c')).toBe(0n);
    expect(parseStored(Buffer.from('42'), 'c')).toBe(42n);
    expect(parseStored(Buffer.from('-9223372036854775808'), 'c')).toBe(INT64_MIN);
  });

  it('refuses anything that is not a decimal integer in range, naming the key', () => {
    for (const bad of ['', 'abc', '1.5', ' 1', '+1', '0x10', '99999999999999999999', '9223372036854775808']) {
      expect(() => parseStored(Buffer.from(bad), 'stock/x')).toThrow(/stock\/x/);
    }
  });

  it('round-trips every 64-bit value through its decimal string', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (n) => {
        expect(parseStored(Buffer.from(n.toString()), 'c')).toBe(n);
      }),
      { numRuns: 500 },
    );
  });
});
