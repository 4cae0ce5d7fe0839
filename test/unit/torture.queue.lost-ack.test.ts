/** The queue checker reads an ack refused as lost (issue 14 f6) as no proof of a live claim. */
import { describe, expect, it } from 'vitest';
import { checkQueue } from '../../torture/check/queue.js';
import { entry } from './torture.helpers.js';

const job = { p: 'P', n: 0, id: '7' };

describe('torture queue checker: lost acks', () => {
  // The campaign's report: C1 paused across its claim's TTL, C2 took the job and acked it, C1 resumed and acked.
  const history = (c1Ack: ReturnType<typeof entry>) => [
    entry('P', 'push', 0, 1, { ...job, write: true }),
    entry('C1', 'pop', 1, 2, { ...job, attempt: 1 }),
    entry('C2', 'pop', 3_000, 3_100, { ...job, attempt: 2 }),
    entry('C2', 'ack', 3_200, 3_300, { ...job, attempt: 2, write: true }),
    c1Ack,
  ];

  it('an ack that rejected JobLostError (completed elsewhere) is not a double claim, and is counted as lost', () => {
    const lost = entry(
      'C1',
      'ack',
      5_000,
      5_010,
      { ...job, attempt: 1, write: true, lost: 'completed' },
      'failed',
    );
    const res = checkQueue(history(lost), { queueSize: 0, deadLetterSize: 0 });
    expect(res.violations).toEqual([]);
    expect(res.stats['ackLostCompleted']).toBe(1);
    expect(res.stats['ackLostQueued']).toBe(0);
  });

  it('an ack of unknown outcome (may have applied before the loss) is not a double claim either', () => {
    const maybe = entry('C1', 'ack', 5_000, 5_010, { ...job, attempt: 1, write: true }, 'unknown');
    expect(checkQueue(history(maybe), { queueSize: 0, deadLetterSize: 0 }).violations).toEqual([]);
  });

  it('a resolved ack after another consumer popped and acked the job is still a double claim (negative control)', () => {
    const ok = entry('C1', 'ack', 5_000, 5_010, { ...job, attempt: 1, write: true });
    const kinds = checkQueue(history(ok), { queueSize: 0, deadLetterSize: 0 }).violations.map(
      (v) => v.invariant,
    );
    expect(kinds).toEqual(['double-claim']);
  });

  it('a job whose only ack was refused as lost and still queued, and never acked later, is reported', () => {
    const h = [
      entry('P', 'push', 0, 1, { ...job, write: true }),
      entry('C1', 'pop', 1, 2, { ...job, attempt: 1 }),
      entry('C1', 'ack', 5_000, 5_010, { ...job, attempt: 1, write: true, lost: 'queued' }, 'failed'),
    ];
    const kinds = checkQueue(h, { queueSize: 1, deadLetterSize: 0 }).violations.map((v) => v.invariant);
    expect(kinds).toEqual(['acked', 'drained']);
  });
});
