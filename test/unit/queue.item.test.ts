/** Queue item encoding and payload validation (no etcd). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  MAX_PRIORITY,
  bucketPriority,
  decodeItem,
  decodePayload,
  encodeItem,
  encodePayload,
  priorityBucket,
} from '../../src/queue/item.js';

describe('queue item encoding', () => {
  it('a higher priority sorts first bytewise, and the bucket round-trips', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_PRIORITY }),
        fc.integer({ min: 0, max: MAX_PRIORITY }),
        (a, b) => {
          expect(bucketPriority(priorityBucket(a))).toBe(a);
          const cmp = Buffer.compare(Buffer.from(priorityBucket(a)), Buffer.from(priorityBucket(b)));
          expect(Math.sign(cmp)).toBe(Math.sign(b - a));
        },
      ),
    );
  });

  it('header and payload round-trip, whatever bytes the payload holds', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.uint8Array(), (a, v, bytes) => {
        const decoded = decodeItem(encodeItem({ a, v }, Buffer.from(bytes)));
        expect(decoded?.header).toEqual({ a, v });
        expect(decoded?.payload.equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it('a value not written by the queue decodes to undefined', () => {
    expect(decodeItem(Buffer.from('plain'))).toBeUndefined();
    expect(decodeItem(Buffer.from('{"x":1}\npayload'))).toBeUndefined();
    expect(decodeItem(Buffer.from('not json\npayload'))).toBeUndefined();
  });

  it('every JSON value survives encodePayload/decodePayload unchanged', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        // JSON has no -0: it comes back as 0, as JSON.parse(JSON.stringify(-0)) does.
        expect(decodePayload(encodePayload(value, undefined), undefined)).toEqual(
          JSON.parse(JSON.stringify(value)),
        );
      }),
    );
  });

  it('a payload that is not JSON is refused, naming where', () => {
    expect(() => encodePayload(undefined, undefined)).toThrow(InvalidArgumentError);
    expect(() => encodePayload({ a: [1, () => 1] }, undefined)).toThrow(/payload\.a\[1\] \(function\)/);
    expect(() => encodePayload(new Map(), undefined)).toThrow(/Map/);
    expect(() => encodePayload({ x: Infinity }, undefined)).toThrow(/payload\.x \(Infinity\)/);
    expect(() => encodePayload(Symbol('s'), undefined)).toThrow(/symbol/);
  });

  it('a codec encodes anything it accepts, and must return bytes', () => {
    const codec = {
      encode: (n: bigint) => Buffer.from(n.toString()),
      decode: (b: Buffer) => BigInt(b.toString()),
    };
    expect(decodePayload(encodePayload(12n, codec), codec)).toBe(12n);
    const bad = { encode: () => 'text' as unknown as Buffer, decode: () => 0 };
    expect(() => encodePayload(1, bad)).toThrow(/codec\.encode/);
  });
});
