import { describe, expect, it } from 'vitest';
import { checkConfig } from '../../torture/check/config.js';
import { checkRegistry } from '../../torture/check/registry.js';
import { entry } from './torture.helpers.js';

describe('torture registry checker', () => {
  const roles = new Map([
    ['R', 'registrar'],
    ['D', 'discovery'],
  ]);

  it('accepts caches that converged to etcd and registrations that were restored', () => {
    const h = [
      entry('R', 'register', 0, 1, { id: 'r-0', write: true }),
      entry('R', 'final', 9, 9, { live: ['r-0'] }),
      entry('D', 'final', 9, 9, { instances: ['r-0', 'ghost'] }),
    ];
    expect(checkRegistry(h, { registry: ['ghost', 'r-0'] }, roles).violations).toEqual([]);
  });

  it('reports a stale cache, a lost registration and a missing report', () => {
    const h = [
      entry('R', 'final', 9, 9, { live: ['r-0', 'r-1'] }),
      entry('D', 'final', 9, 9, { instances: ['r-0', 'r-2'] }),
    ];
    const kinds = checkRegistry(h, { registry: ['r-0'] }, roles).violations.map((v) => v.invariant);
    expect(kinds).toEqual(['registration-restored', 'cache-converged']);
    const silent = checkRegistry([], { registry: [] }, roles).violations;
    expect(silent).toHaveLength(2);
  });
});

describe('torture config checker', () => {
  const writes = [
    entry('W', 'set', 0, 1, { key: 'a', seq: 1, revision: '10', write: true }),
    entry('W', 'set', 2, 3, { key: 'b', seq: 2, revision: '11', write: true }),
    entry('W', 'set', 4, 5, { key: 'a', seq: 3, write: true }, 'unknown'),
    entry('W', 'set', 6, 7, { key: 'a', seq: 4, revision: '14', write: true }),
  ];

  it('accepts a reader that saw a subsequence of the states, including an unknown write', () => {
    const h = [
      ...writes,
      entry('R', 'initial', 0, 0, { revision: '10', value: { a: 1 } }),
      entry('R', 'change', 8, 8, { revision: '12', value: { a: 3, b: 2 } }),
      entry('R', 'change', 8, 8, { revision: '14', value: { a: 4, b: 2 } }),
      entry('R', 'final', 9, 9, { revision: '14', value: { b: 2, a: 4 } }),
    ];
    expect(checkConfig(h, { config: { a: 4, b: 2 } }, ['R']).violations).toEqual([]);
  });

  it('reports revisions out of order, a value from the future, an old value and a stale final', () => {
    const h = [
      ...writes,
      entry('R', 'initial', 0, 0, { revision: '11', value: { a: 4, b: 2 } }), // a=4 is only written at 14
      entry('R', 'change', 8, 8, { revision: '11', value: { a: 1, b: 2 } }), // same revision twice
      entry('R', 'change', 8, 8, { revision: '15', value: { a: 1, b: 2 } }), // a=1 after a=4 at 14
      entry('R', 'final', 9, 9, { revision: '15', value: { a: 1, b: 2 } }),
    ];
    const kinds = checkConfig(h, { config: { a: 4, b: 2 } }, ['R']).violations.map((v) => v.invariant);
    expect(kinds.filter((k) => k === 'state-at-revision')).toHaveLength(2);
    expect(kinds).toContain('revision-order');
    expect(kinds).toContain('final-value');
  });
});

describe('torture config checker: late writes', () => {
  it('accepts, and notes, a write of unknown outcome applied after a later acknowledged write', () => {
    const h = [
      entry('W', 'set', 0, 2_000, { key: 'c', seq: 698, write: true }, 'unknown'),
      entry('W', 'set', 2_100, 2_200, { key: 'c', seq: 700, revision: '13725', write: true }),
      entry('R', 'change', 2_300, 2_300, { revision: '13725', value: { c: 700 } }),
      entry('R', 'change', 4_500, 4_500, { revision: '13729', value: { c: 698 } }),
      entry('R', 'final', 9_000, 9_000, { revision: '13729', value: { c: 698 } }),
    ];
    const res = checkConfig(h, { config: { c: 698 } }, ['R']);
    expect(res.violations).toEqual([]);
    expect(res.stats['lateApplied']).toBe(1);
    expect(res.notes?.[0]).toMatch(/applied late/);
  });
});
