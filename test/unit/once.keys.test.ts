/**
 * Issue 24 (A): once() keys. The job is raw (it may nest), the slot is percent-encoded for `%` and `/` only,
 * so the last segment before `/record` is always the slot and two distinct (job, slot) pairs never share a
 * record key. Pure functions: no etcd.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertJob,
  decodeSlot,
  encodeSlot,
  lockName,
  parseRecordKey,
  recordKey,
} from '../../src/election/once-keys.js';

/** Strings made of the characters that could confuse a key layout, so collisions are found quickly. */
const tricky = fc
  .array(fc.constantFrom('/', '%', '2', 'F', 'f', '5', 'a', 'lock', 'record', '%2F', '%25', 'é'), {
    minLength: 1,
    maxLength: 8,
  })
  .map((parts) => parts.join(''));
const job = fc
  .oneof(tricky, fc.string({ minLength: 1 }))
  .filter((j) => !j.endsWith('/') && !j.includes('\0'));
const slot = fc.oneof(tricky, fc.string({ minLength: 1 })).filter((s) => !s.includes('\0'));
const pair = fc.record({ job, slot });

/**
 * Two pairs likely to collide under a naive layout: one run of segments, split into (job, slot) at two
 * places (`j` + `x/s/1` against `j/x` + `s/1`), or two independent pairs.
 */
const twoPairs = fc.oneof(
  fc
    .tuple(fc.array(tricky, { minLength: 2, maxLength: 5 }), fc.nat(), fc.nat())
    .map(([segs, i, k]) => {
      const at = (n: number) => 1 + (n % (segs.length - 1));
      const split = (n: number) => ({
        job: segs.slice(0, at(n)).join('/'),
        slot: segs.slice(at(n)).join('/'),
      });
      return [split(i), split(k)] as const;
    })
    .filter(([a, b]) => !a.job.endsWith('/') && !b.job.endsWith('/')),
  fc.tuple(pair, pair),
);

/** The property, for any key function: distinct pairs give distinct keys. */
const distinctKeys = (key: (job: string, slot: string) => string) =>
  fc.property(twoPairs, ([a, b]) => {
    fc.pre(a.job !== b.job || a.slot !== b.slot);
    return key(a.job, a.slot) !== key(b.job, b.slot);
  });

describe('once keys', () => {
  it('distinct (job, slot) pairs never share a record key', () => {
    fc.assert(distinctKeys(recordKey), { numRuns: 20_000 });
  });

  it('no key of one pair is a key of another: lock keys <lockName>/<lease hex> and records never meet', () => {
    fc.assert(
      fc.property(twoPairs, fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }), ([a, b], lease) => {
        fc.pre(a.job !== b.job || a.slot !== b.slot);
        const keys = (p: { job: string; slot: string }) => [
          recordKey(p.job, p.slot),
          `${lockName(p.job, p.slot)}/${lease.toString(16)}`,
        ];
        const mine = new Set(keys(a));
        return keys(b).every((k) => !mine.has(k));
      }),
      { numRuns: 20_000 },
    );
  });

  it('negative control: the raw layout once/<job>/<slot>/record fails the same property', () => {
    const raw = (j: string, s: string) => `once/${j}/${s}/record`;
    expect(fc.check(distinctKeys(raw), { numRuns: 20_000 }).failed).toBe(true);
    expect(raw('j', 'x/s/1')).toBe(raw('j/x', 's/1'));
  });

  it('the record key parses back to its (job, slot): the last segment is the slot', () => {
    fc.assert(
      fc.property(pair, ({ job: j, slot: s }) => {
        expect(parseRecordKey(recordKey(j, s))).toEqual({ job: j, slot: s });
      }),
      { numRuns: 20_000 },
    );
  });

  it('the slot is one segment and decodes back to itself', () => {
    fc.assert(
      fc.property(slot, (s) => {
        expect(encodeSlot(s)).not.toContain('/');
        expect(decodeSlot(encodeSlot(s))).toBe(s);
      }),
    );
  });

  it('the colliding pair of issue 24 and a slot without % or / (unchanged key, old records readable)', () => {
    expect(recordKey('j', 'x/s/1')).toBe('once/j/x%2Fs%2F1/record');
    expect(recordKey('j/x', 's/1')).toBe('once/j/x/s%2F1/record');
    expect(recordKey('nightly', '2026-11-21')).toBe('once/nightly/2026-11-21/record');
    expect(recordKey('j', '100%')).toBe('once/j/100%25/record');
    expect(lockName('j', 'x/s')).toBe('once/j/x%2Fs/lock');
  });

  it('decodeSlot is strict: a segment encodeSlot cannot make is not a slot', () => {
    for (const bad of ['a%b', '%2f', '%', 'a/b', '%41']) expect(decodeSlot(bad)).toBeUndefined();
    expect(parseRecordKey('once/j/a%b/record')).toBeUndefined();
    expect(parseRecordKey('once/j//record')).toBeUndefined();
    expect(parseRecordKey('once/j/s/lock')).toBeUndefined();
  });

  it('a job that is empty or ends with "/" is a TypeError naming `job`', () => {
    expect(() => assertJob('')).toThrow(TypeError);
    expect(() => assertJob('')).toThrow(/`job`/);
    expect(() => assertJob('j/')).toThrow(TypeError);
    expect(() => assertJob('j/')).toThrow(/`job`/);
    expect(() => assertJob(7)).toThrow(/`job`/);
    expect(() => assertJob('a\0b')).toThrow(/`job`/);
    expect(() => assertJob('reports/daily')).not.toThrow();
  });
});
