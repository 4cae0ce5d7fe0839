/** The holder/waiter split rules of an RW lock and a semaphore (issue 25), on queues given in order. */
import { describe, expect, it } from 'vitest';
import { splitPermits, splitReadersWriters, type LockParticipant } from '../../src/lock/participants.js';

const p = (key: string, extra: Partial<LockParticipant>): LockParticipant => ({
  key,
  fencingToken: BigInt(key.length),
  leaseId: 1n,
  ...extra,
});
const keys = (xs: LockParticipant[]) => xs.map((x) => x.key);

describe('splitReadersWriters', () => {
  const r = (k: string) => p(k, { mode: 'read' });
  const w = (k: string) => p(k, { mode: 'write' });
  it('readers older than the first writer hold; the writer and everyone after it waits', () => {
    const s = splitReadersWriters([r('r1'), r('r2'), w('w1'), r('r3')]);
    expect(keys(s.holders)).toEqual(['r1', 'r2']);
    expect(keys(s.waiters)).toEqual(['w1', 'r3']);
  });
  it('a writer at the head holds alone', () => {
    const s = splitReadersWriters([w('w1'), r('r1'), w('w2')]);
    expect(keys(s.holders)).toEqual(['w1']);
    expect(keys(s.waiters)).toEqual(['r1', 'w2']);
  });
  it('only readers: all hold; empty: nobody', () => {
    expect(keys(splitReadersWriters([r('a'), r('b')]).holders)).toEqual(['a', 'b']);
    expect(splitReadersWriters([])).toEqual({ holders: [], waiters: [] });
  });
});

describe('splitPermits', () => {
  it('the oldest acquisitions whose permits fit hold; the first that does not fit blocks every later one', () => {
    const q = [p('a', { permits: 2 }), p('b', { permits: 3 }), p('c', { permits: 1 })];
    expect(keys(splitPermits(q, 4).holders)).toEqual(['a']);
    expect(keys(splitPermits(q, 4).waiters)).toEqual(['b', 'c']);
    expect(keys(splitPermits(q, 5).holders)).toEqual(['a', 'b']);
    expect(keys(splitPermits(q, 6).holders)).toEqual(['a', 'b', 'c']);
  });
  it('a missing `permits` counts as one', () => {
    expect(keys(splitPermits([p('a', {}), p('b', {})], 1).holders)).toEqual(['a']);
  });
});
