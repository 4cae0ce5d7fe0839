import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keyspace, isOwnerKey, keyAfter, leaseHex, ownerKeyRange, prefixEnd } from '../../src/core/keys.js';

describe('prefixEnd', () => {
  it('increments the last byte below 0xff and drops the 0xff tail', () => {
    expect(prefixEnd(Buffer.from('abc'))).toEqual(Buffer.from('abd'));
    expect(prefixEnd(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
    expect(prefixEnd(Buffer.alloc(0))).toEqual(Buffer.from([0]));
  });

  it('every key with the prefix sorts below the end, and the end itself does not have the prefix', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 6 }),
        fc.uint8Array({ maxLength: 6 }),
        (p, rest) => {
          const prefix = Buffer.from(p);
          const end = prefixEnd(prefix);
          const key = Buffer.concat([prefix, Buffer.from(rest)]);
          if (end.equals(Buffer.from([0]))) return; // unbounded
          expect(Buffer.compare(key, end)).toBeLessThan(0);
          expect(end.subarray(0, prefix.length).equals(prefix)).toBe(false);
        },
      ),
    );
  });
});

describe('keys', () => {
  it('keyAfter is the smallest greater key', () => {
    expect(keyAfter(Buffer.from('a'))).toEqual(Buffer.from([0x61, 0]));
  });

  it('leaseHex spells lease ids like Go: lower-case hex, no padding', () => {
    expect(leaseHex(0x694d7a9c4e1b2c0dn)).toBe('694d7a9c4e1b2c0d');
    expect(leaseHex(255n)).toBe('ff');
  });

  it('a keyspace prefixes and strips its namespace', () => {
    const ks = new Keyspace('app1/');
    expect(ks.key('locks/a').toString()).toBe('app1/locks/a');
    expect(ks.strip(ks.key('x')).toString()).toBe('x');
    expect(ks.prefixRange('')).toEqual({ key: Buffer.from('app1/'), end: Buffer.from('app10') });
    expect(new Keyspace('').prefixRange('')).toEqual({ key: Buffer.from([0]), end: Buffer.from([0]) });
  });
});

describe('owner keys (exactly <name>/<lease hex>)', () => {
  const prefix = Buffer.from('ns/jobs/');
  it('accepts the lease-hex key of this name only', () => {
    expect(isOwnerKey(Buffer.from('ns/jobs/694d7a3b1c2e0f04'), prefix)).toBe(true);
    expect(isOwnerKey(Buffer.from('ns/jobs/nightly/694d7a3b1c2e0f04'), prefix)).toBe(false);
    expect(isOwnerKey(Buffer.from('ns/jobs/1/694d7a3b1c2e0f04'), prefix)).toBe(false);
    expect(isOwnerKey(Buffer.from('ns/jobs/'), prefix)).toBe(false);
    expect(isOwnerKey(Buffer.from('ns/jobsx/1'), prefix)).toBe(false);
    expect(isOwnerKey(Buffer.from('ns/jobs/ABC'), prefix)).toBe(false);
  });
  it('the owner range holds every hex suffix and keeps nested names that start past f out', () => {
    const { key, end } = ownerKeyRange(prefix);
    const inRange = (k: string) =>
      Buffer.compare(Buffer.from(k), key) >= 0 && Buffer.compare(Buffer.from(k), end) < 0;
    expect(inRange('ns/jobs/0')).toBe(true);
    expect(inRange('ns/jobs/ffffffffffffffff')).toBe(true);
    expect(inRange('ns/jobs/nightly/1')).toBe(false);
  });
});
