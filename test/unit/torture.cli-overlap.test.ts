import { describe, expect, it } from 'vitest';
import { checkCliOverlap, workerWithLiveChild } from '../../torture/check/cli-overlap.js';
import { entry } from './torture.helpers.js';

/** A child's stamps: start at `from`, alive every 100 ms until `to` (no exit stamp: it was killed). */
function life(worker: string, run: string, token: string, from: number, to: number, group = 'all') {
  const d = { run, command: 'lock', group, token };
  const out = [entry(worker, 'child-start', from, from, d)];
  for (let t = from + 100; t <= to; t += 100) out.push(entry(worker, 'child-alive', t, t, d));
  return out;
}

describe('torture CLI overlap checker', () => {
  it('accepts children of one hold that follow each other', () => {
    const res = checkCliOverlap([...life('A', 'A#1', '10', 0, 1000), ...life('B', 'B#1', '12', 1050, 2000)]);
    expect(res.violations).toEqual([]);
    expect(res.stats['children']).toBe(2);
    expect(res.stats['minGapMs']).toBe(50);
  });

  it("reports a child that started while the previous holder's child was still alive", () => {
    const res = checkCliOverlap([...life('A', 'A#1', '10', 0, 3000), ...life('B', 'B#1', '12', 2000, 2500)]);
    expect(res.violations.map((v) => v.invariant)).toEqual(['cli-overlap']);
    expect(res.violations[0]?.message).toMatch(/A#1 \(token 10\) was still alive 1000 ms after B#1/);
  });

  it('does not compare different once slots, and reads a token that went backwards as a store reset', () => {
    const slots = checkCliOverlap([
      ...life('A', 'A#1', '10', 0, 3000, 'slot-1'),
      ...life('B', 'B#1', '12', 1000, 2000, 'slot-2'),
    ]);
    expect(slots.violations).toEqual([]);
    const reset = checkCliOverlap([...life('A', 'A#1', '90', 0, 3000), ...life('B', 'B#1', '5', 1000, 2000)]);
    expect(reset.violations).toEqual([]);
    expect(reset.notes?.[0]).toMatch(/store reset/);
  });

  it('finds the worker whose child is alive now', () => {
    const h = [...life('A', 'A#1', '10', 0, 1000), ...life('B', 'B#1', '12', 1100, 1900)];
    expect(workerWithLiveChild(h, 1950)).toBe('B');
    expect(workerWithLiveChild(h, 5000)).toBeUndefined();
  });
});
