import { describe, expect, it } from 'vitest';
import { checkElection } from '../../torture/check/election.js';
import { entry } from './torture.helpers.js';

function clean() {
  return [
    entry('A', 'elected', 0, 10, { token: '5' }),
    entry('A', 'write', 11, 12, { token: '5', n: 0, revision: '6', write: true }),
    entry('A', 'write', 13, 14, { token: '5', n: 1, revision: '7', write: true }),
    entry('A', 'resign', 15, 16, { token: '5' }),
    entry('B', 'elected', 0, 20, { token: '8' }),
    entry('B', 'write', 21, 22, { token: '8', n: 0, revision: '9', write: true }),
  ];
}

describe('torture election checker', () => {
  it('accepts terms that follow each other', () => {
    expect(checkElection(clean()).violations).toEqual([]);
  });

  it('reports two workers leading the same term', () => {
    const h = [...clean(), entry('C', 'write', 30, 31, { token: '8', n: 0, revision: '10', write: true })];
    expect(checkElection(h).violations.map((v) => v.invariant)).toContain('one-leader-per-term');
  });

  it('reports an old term writing after a newer one (by revision and by time)', () => {
    const h = [...clean(), entry('A', 'write', 100, 101, { token: '5', n: 2, revision: '11', write: true })];
    const kinds = checkElection(h).violations.map((v) => v.invariant);
    expect(kinds).toContain('terms-increase');
    expect(kinds).toContain('stale-leader');
  });

  it('ignores refused and unknown writes', () => {
    const h = [
      ...clean(),
      entry('A', 'write', 100, 101, { token: '5', n: 2, write: true }, 'failed'),
      entry('A', 'write', 100, 101, { token: '5', n: 3, write: true }, 'unknown'),
    ];
    expect(checkElection(h).violations).toEqual([]);
  });
});
