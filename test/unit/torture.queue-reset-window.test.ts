/**
 * Store epochs around a reset's window (issue 16). A push acknowledged while the reset was under way may
 * have been applied by the old store just before it was killed, and is then legitimately lost with its
 * data; one acknowledged after the reset ended is on the new store and must be acked. A follower's report
 * logged inside the window may come from either store and is judged in neither; one logged after it is.
 */
import { describe, expect, it } from 'vitest';
import { checkPerEpoch, splitEpochs } from '../../torture/check/epochs.js';
import { checkConfig } from '../../torture/check/config.js';
import { checkQueue } from '../../torture/check/queue.js';
import type { HistoryEntry } from '../../torture/history.js';
import type { FaultRecord } from '../../torture/nemesis.js';
import { entry } from './torture.helpers.js';

const reset: FaultRecord = { kind: 'wipe-cluster', target: 'cluster', start: 1_000, end: 2_000 };
const drained = { queueSize: 0, deadLetterSize: 0 };
const push = (n: number, start: number, end: number): HistoryEntry =>
  entry('producer', 'push', start, end, { p: 'producer', n, id: String(100 + n), write: true });

function check(h: HistoryEntry[]): string[] {
  return checkPerEpoch(splitEpochs(h, [reset]), (e) => checkQueue(e, drained)).violations.map(
    (v) => `${v.invariant}: ${v.message}`,
  );
}

describe('torture queue checker across a store reset', () => {
  it('accepts a push acknowledged in the reset window (applied by the old store before the kill) and never acked', () => {
    expect(check([push(7, 1_002, 1_010)])).toEqual([]);
    // …also one in flight when the reset ended.
    expect(check([push(8, 1_900, 2_050)])).toEqual([]);
  });

  it('negative control: a push acknowledged after the reset ended and never acked is reported', () => {
    expect(check([push(9, 2_100, 2_110)])).toEqual([
      'acked: epoch 2/2: job producer#9 (id 109) pushed but never acked',
    ]);
  });

  it('an operation in the window is in both stores, a write of unknown outcome in each', () => {
    const [before, after] = splitEpochs([push(7, 1_002, 1_010)], [reset]);
    expect(before?.map((e) => e.outcome)).toEqual(['unknown']);
    expect(after?.map((e) => e.outcome)).toEqual(['unknown']);
    const [old, fresh] = splitEpochs([push(1, 10, 20), push(2, 2_100, 2_110)], [reset]);
    expect(old?.map((e) => e.outcome)).toEqual(['ok']);
    expect(fresh?.map((e) => e.outcome)).toEqual(['ok']);
  });

  it('a read that ended in the window is in neither store; a grant that waited through the reset is in the new one', () => {
    const read = entry('r', 'change', 1_100, 1_100, { revision: '2662', value: {} });
    const grant = entry('m', 'lock', 1_500, 2_300, { token: '3' });
    const before = entry('m', 'lock', 900, 950, { token: '2600' });
    const [old, fresh] = splitEpochs([read, grant, before], [reset]);
    expect(old).toEqual([before]);
    expect(fresh).toEqual([grant]);
  });

  it("a follower's old-store change logged in the window is no revision-order violation; logged after it, it is", () => {
    const config = (at: number): string[] => {
      const h = [
        entry('r', 'change', at, at, { revision: '2662', value: {} }),
        entry('r', 'change', 2_500, 2_500, { revision: '12', value: {} }),
        entry('r', 'final', 9_000, 9_000, { revision: '12', value: {} }),
      ];
      return checkPerEpoch(splitEpochs(h, [reset]), (e) =>
        checkConfig(e, { config: {} }, ['r']),
      ).violations.map((v) => v.invariant);
    };
    expect(config(1_100)).toEqual([]);
    expect(config(2_100)).toEqual(['revision-order']); // the negative control
  });
});
