import { describe, expect, it } from 'vitest';
import { checkMutex } from '../../torture/check/mutex.js';
import { entry } from './torture.helpers.js';

/** A clean alternation: A holds token 10 and writes 1, then B holds token 12 and writes 2. */
function clean() {
  return [
    entry('A', 'lock', 0, 10, { token: '10' }),
    entry('A', 'read', 11, 12, { token: '10', value: 0 }),
    entry('A', 'write', 20, 25, { token: '10', value: 1, write: true }),
    entry('B', 'lock', 5, 30, { token: '12' }),
    entry('B', 'read', 31, 32, { token: '12', value: 1 }),
    entry('B', 'write', 40, 45, { token: '12', value: 2, write: true }),
  ];
}

describe('torture mutex checker', () => {
  it('accepts a history where ownership never overlaps and the count matches', () => {
    const res = checkMutex(clean(), { mutexCount: 2 });
    expect(res.violations).toEqual([]);
    expect(res.stats['acked']).toBe(2);
  });

  it('reports a lost update: two acknowledged writes of the same value', () => {
    const h = clean();
    // A was paused after reading 0, lost its lock, and wrote 1 after B had written 1 (unguarded).
    h.splice(2, 1, entry('A', 'write', 5_000, 5_010, { token: '10', value: 1, write: true }));
    h[4] = entry('B', 'read', 31, 32, { token: '12', value: 0 });
    h[5] = entry('B', 'write', 40, 45, { token: '12', value: 1, write: true });
    const res = checkMutex(h, { mutexCount: 1 });
    const kinds = res.violations.map((v) => v.invariant);
    expect(kinds).toContain('distinct-values');
    expect(kinds).toContain('stale-owner'); // A wrote at 5000 with token 10 after B was granted 12 at 30
    expect(kinds).toContain('count'); // 2 acks, final 1
  });

  it('reports an old token writing a higher value than a newer token (fencing order)', () => {
    const h = [
      entry('A', 'lock', 0, 10, { token: '20' }),
      entry('A', 'write', 11, 12, { token: '20', value: 1, write: true }),
      entry('B', 'lock', 0, 5, { token: '15' }),
      entry('B', 'write', 13, 14, { token: '15', value: 2, write: true }),
    ];
    expect(checkMutex(h, { mutexCount: 2 }).violations.map((v) => v.invariant)).toContain('fencing-order');
  });

  it('bounds the final count by acknowledged plus unknown writes', () => {
    const h = [...clean(), entry('A', 'write', 50, 60, { token: '14', value: 3, write: true }, 'unknown')];
    expect(checkMutex(h, { mutexCount: 3 }).violations).toEqual([]);
    expect(checkMutex(h, { mutexCount: 2 }).violations).toEqual([]);
    expect(checkMutex(h, { mutexCount: 4 }).violations.map((v) => v.invariant)).toEqual(['count']);
    expect(checkMutex(h, { mutexCount: 1 }).violations.map((v) => v.invariant)).toEqual(['count']);
  });

  it('ignores refused (failed) writes and writes within the clock slack', () => {
    const h = [
      ...clean(),
      entry('A', 'write', 5_000, 5_001, { token: '10', value: 2, write: true }, 'failed'),
      // Sent 10 ms after B's grant by the clock: within the slack between processes' clocks.
      entry('C', 'lock', 0, 1, { token: '9' }),
      entry('C', 'write', 40, 41, { token: '9', value: 0.5, write: true }, 'failed'),
    ];
    expect(checkMutex(h, { mutexCount: 2 }).violations).toEqual([]);
  });

  it('tells callers of one process apart: one lock key handed to two concurrent lock() calls is reported', () => {
    const h = [
      entry('A', 'lock', 0, 10, { caller: 0, token: '30' }),
      entry('A', 'lock', 0, 12, { caller: 1, token: '30' }),
    ];
    expect(checkMutex(h, { mutexCount: 0 }).violations.map((v) => v.invariant)).toEqual([
      'one-holder-per-token',
    ]);
  });
});
