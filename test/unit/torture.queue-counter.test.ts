import { describe, expect, it } from 'vitest';
import { checkCounter } from '../../torture/check/counter.js';
import { checkQueue } from '../../torture/check/queue.js';
import { Prng } from '../../torture/prng.js';
import { entry } from './torture.helpers.js';

const job = { p: 'P', n: 0, id: '7' };

describe('torture queue checker', () => {
  it('accepts a job redelivered after its first consumer lost the claim', () => {
    const h = [
      entry('P', 'push', 0, 1, { ...job, write: true }),
      entry('C1', 'pop', 1, 2, { ...job, attempt: 1 }),
      entry('C2', 'pop', 1, 3_000, { ...job, attempt: 2 }), // C1 was paused: its claim expired
      entry('C2', 'ack', 3_010, 3_020, { ...job, attempt: 2, write: true }),
      entry('C1', 'ack', 4_000, 4_010, { ...job, attempt: 1, write: true }, 'failed'),
    ];
    expect(checkQueue(h, { queueSize: 0, deadLetterSize: 0 }).violations).toEqual([]);
  });

  it('reports a double claim, a job never acked and jobs left behind', () => {
    const h = [
      entry('P', 'push', 0, 1, { ...job, write: true }),
      entry('P', 'push', 0, 1, { p: 'P', n: 1, id: '8', write: true }),
      entry('C1', 'pop', 1, 2, { ...job, attempt: 1 }),
      entry('C2', 'pop', 500, 600, { ...job, attempt: 2 }),
      entry('C1', 'ack', 1_000, 1_010, { ...job, attempt: 1, write: true }), // C1's claim was live all along
    ];
    const kinds = checkQueue(h, { queueSize: 1, deadLetterSize: 0 }).violations.map((v) => v.invariant);
    expect(kinds).toEqual(['acked', 'drained', 'double-claim']);
  });
});

describe('torture counter checker', () => {
  const inc = (v: number, outcome: 'ok' | 'unknown' = 'ok') =>
    entry(
      'C',
      'increment',
      0,
      1,
      outcome === 'ok' ? { value: String(v), write: true } : { write: true },
      outcome,
    );
  const add = (v: number, outcome: 'ok' | 'unknown' = 'ok') =>
    entry('C', 'add', 0, 1, outcome === 'ok' ? { value: String(v), write: true } : { write: true }, outcome);

  it('accepts gaps filled by unknown outcomes', () => {
    const h = [inc(1), inc(2, 'unknown'), inc(3), add(1), add(2, 'unknown'), add(3)];
    expect(checkCounter(h, { counter: 3, atomicCounter: 3 }).violations).toEqual([]);
    expect(checkCounter(h, { counter: 3, atomicCounter: 2 }).violations).toEqual([]);
  });

  it('reports duplicates, unexplained gaps and finals out of bounds', () => {
    const h = [inc(1), inc(1), inc(4), add(1), add(1)];
    const kinds = checkCounter(h, { counter: 4, atomicCounter: 5 }).violations.map((v) => v.invariant);
    expect(kinds).toContain('unique');
    expect(kinds).toContain('gap-free');
    expect(kinds).toContain('counter-final');
    expect(kinds).toContain('atomic-bound');
  });
});

describe('torture PRNG', () => {
  it('replays the same choices from the same seed', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const seqA = Array.from({ length: 20 }, () => a.int(0, 1000));
    expect(Array.from({ length: 20 }, () => b.int(0, 1000))).toEqual(seqA);
    expect(new Prng(43).int(0, 1000)).not.toBe(seqA[0]);
    expect(new Prng(1).shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
  });
});
