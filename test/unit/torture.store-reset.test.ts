import { describe, expect, it } from 'vitest';
import { checkPerEpoch, splitEpochs } from '../../torture/check/epochs.js';
import { checkCounter } from '../../torture/check/counter.js';
import { checkMemberDown } from '../../torture/check/member-down.js';
import { checkStoreReset } from '../../torture/check/store-reset.js';
import type { FaultRecord } from '../../torture/nemesis.js';
import { entry } from './torture.helpers.js';

const reset: FaultRecord = { kind: 'wipe-cluster', target: 'cluster', start: 1_000, end: 2_000 };

describe('torture store epochs', () => {
  it('judges each store on its own: counter values restart after a cluster reset without a violation', () => {
    const h = [
      entry('c', 'increment', 0, 10, { value: '1', write: true }),
      entry('c', 'increment', 20, 30, { value: '2', write: true }),
      entry('c', 'increment', 3_000, 3_010, { value: '1', write: true }),
    ];
    const epochs = splitEpochs(h, [reset]);
    expect(epochs.map((e) => e.length)).toEqual([2, 1]);
    const res = checkPerEpoch(epochs, (e) => checkCounter(e, { counter: 1, atomicCounter: 0 }));
    expect(res.violations).toEqual([]);
    // Without the epoch split the same history is a duplicate value.
    expect(checkCounter(h, { counter: 1, atomicCounter: 0 }).violations.map((v) => v.invariant)).toContain(
      'unique',
    );
  });

  it('puts an operation in flight across the reset into both stores, as of unknown outcome', () => {
    const h = [entry('c', 'increment', 900, 2_500, { value: '3', write: true })];
    const [before, after] = splitEpochs(h, [reset]);
    expect(before?.[0]?.outcome).toBe('unknown');
    expect(after?.[0]?.outcome).toBe('unknown');
  });
});

describe('torture store-reset checker', () => {
  const write = entry('w', 'set', 2_100, 2_200, { key: 'a', seq: 50, write: true, revision: '2' });

  it('reports a follower that does not show the first write on the new store (it stays on the old history)', () => {
    const h = [write, entry('r', 'change', 900, 900, { revision: '90', value: { a: 40 } })];
    const res = checkStoreReset(h, { revision: '3' }, [reset], { config: ['r'], all: ['r'] });
    expect(res.violations.map((v) => v.invariant)).toEqual(['follower-stale']);
  });

  it('accepts a follower that re-read, and reports one whose final revision the store never reached', () => {
    const h = [
      write,
      entry('r', 'change', 2_300, 2_300, { revision: '2', value: { a: 50 } }),
      entry('r', 'final', 9_000, 9_000, { revision: '2', value: { a: 50 } }),
      entry('d', 'final', 9_000, 9_000, { revision: '95' }),
    ];
    const res = checkStoreReset(h, { revision: '3' }, [reset], { config: ['r'], all: ['r', 'd'] });
    expect(res.violations.map((v) => `${v.invariant} ${v.evidence[0]?.worker}`)).toEqual([
      'follower-ahead d',
    ]);
  });
});

describe('torture member-down checker', () => {
  const down: FaultRecord = { kind: 'member-down', target: 'm1', start: 0, end: 60_000 };

  it('reports an operation that failed while one member was down, after the kill grace', () => {
    const h = [
      entry('c', 'increment', 100, 200, { write: true, error: 'UNAVAILABLE: x' }, 'unknown'),
      entry('c', 'increment', 5_000, 5_100, { write: true, error: 'UNAVAILABLE: refused' }, 'unknown'),
      entry('q', 'pop', 6_000, 8_000, { error: 'ABORTED: timed out' }, 'failed'),
      entry('c', 'increment', 9_000, 9_100, { write: true, value: '4' }),
    ];
    const res = checkMemberDown(h, [down]);
    expect(res.violations).toHaveLength(1);
    expect(res.violations[0]?.message).toContain('m1 down');
    expect(res.stats['explained']).toBe(1);
  });
});
