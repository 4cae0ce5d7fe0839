import { describe, expect, it } from 'vitest';
import { checkLeader } from '../../torture/check/leader.js';
import { checkElection } from '../../torture/check/election.js';
import { checkOnce } from '../../torture/check/once.js';
import { entry } from './torture.helpers.js';

const invariants = (r: { violations: Array<{ invariant: string }> }): string[] =>
  r.violations.map((v) => v.invariant);

describe('torture once checker', () => {
  it('accepts one run per slot, the other callers skipping', () => {
    const h = [
      entry('A', 'run', 0, 100, { slot: 's1', caller: 0 }),
      entry('A', 'once', 0, 110, { slot: 's1', caller: 0, status: 'ran', write: true }),
      entry('A', 'once', 0, 120, { slot: 's1', caller: 1, status: 'skipped', write: true }),
      entry('B', 'once', 0, 120, { slot: 's1', caller: 0, status: 'skipped', write: true }),
    ];
    expect(checkOnce(h).violations).toEqual([]);
  });

  it('reports a handler that ran again after a run whose once() succeeded (ran-again)', () => {
    const h = [
      entry('A', 'run', 0, 100, { slot: 's1', caller: 0 }),
      entry('A', 'once', 0, 110, { slot: 's1', caller: 0, status: 'ran', write: true }),
      entry('B', 'run', 5_000, 5_100, { slot: 's1', caller: 0 }),
      entry('B', 'once', 0, 5_110, { slot: 's1', caller: 0, status: 'ran', write: true }),
    ];
    expect(invariants(checkOnce(h))).toEqual(['ran-again']);
  });

  it('allows the re-run when the first run’s once() failed after its handler (the record may be missing)', () => {
    const h = [
      entry('A', 'run', 0, 100, { slot: 's1', caller: 0 }),
      entry(
        'A',
        'once',
        0,
        3_000,
        { slot: 's1', caller: 0, write: true, error: 'SESSION_EXPIRED: x' },
        'failed',
      ),
      entry('B', 'run', 5_000, 5_100, { slot: 's1', caller: 0 }),
    ];
    const res = checkOnce(h);
    expect(res.violations).toEqual([]);
    expect(res.stats['allowedReruns']).toBe(1);
  });

  it('reports two callers of one process running the slot at once (concurrent-run), not one told it lost', () => {
    const both = [
      entry('A', 'run', 0, 300, { slot: 's1', caller: 0 }),
      entry('A', 'run', 10, 310, { slot: 's1', caller: 1 }),
    ];
    expect(invariants(checkOnce(both))).toContain('concurrent-run');
    const toldFirst = [
      entry('A', 'run', 0, 3_000, { slot: 's1', caller: 0, abortedAt: 1_000 }, 'failed'),
      entry('B', 'run', 2_500, 2_800, { slot: 's1', caller: 0 }),
    ];
    expect(checkOnce(toldFirst).violations).toEqual([]);
  });
});

describe('torture runAsLeader checker', () => {
  it('reports two bodies at once on one coordinator (one-body) and a shared term', () => {
    const h = [
      entry('A', 'body', 0, 500, { caller: 0, token: '7' }),
      entry('A', 'body', 100, 600, { caller: 1, token: '7' }),
    ];
    expect(invariants(checkLeader(h)).sort()).toEqual(['one-body', 'one-leader-per-term']);
  });

  it('accepts a new leader after the old body’s signal aborted', () => {
    const h = [
      entry('A', 'body', 0, 4_000, { caller: 0, token: '7', abortedAt: 1_500 }, 'failed'),
      entry('B', 'body', 3_000, 3_500, { caller: 0, token: '9' }),
    ];
    expect(checkLeader(h).violations).toEqual([]);
  });
});

describe('torture election checker with several callers per coordinator', () => {
  it('reports two callers of one process both elected with the same term', () => {
    const h = [
      entry('A', 'elected', 0, 10, { caller: 0, token: '5' }),
      entry('A', 'elected', 0, 12, { caller: 1, token: '5' }),
    ];
    expect(invariants(checkElection(h))).toEqual(['one-leader-per-term']);
  });

  it('reports an observer whose last leader differs from a direct read (observe-converged)', () => {
    const h = [entry('O', 'final', 9_000, 9_000, { leader: 'election/leader/abc' })];
    expect(invariants(checkElection(h, { electionLeader: null }, ['O']))).toEqual(['observe-converged']);
    expect(checkElection(h, { electionLeader: 'election/leader/abc' }, ['O']).violations).toEqual([]);
  });
});
