import { describe, expect, it } from 'vitest';
import { checkGhosts } from '../../torture/check/ghosts.js';
import { entry } from './torture.helpers.js';

const final = (details: Record<string, unknown>, worker = 'mutex-1') =>
  entry(worker, 'final', 1_000, 1_000, { leaseId: 'abc', inflight: [], ...details });

describe('torture ghost-key checker', () => {
  it('accepts keys their owners report holding, and no keys', () => {
    const h = [final({ held: ['mutex/lock/abc'] })];
    expect(
      checkGhosts(h, { holders: [{ key: 'mutex/lock/abc', leaseId: 'abc' }], registry: [] }).violations,
    ).toEqual([]);
    expect(checkGhosts([final({ held: [] })], { holders: [], registry: [] }).violations).toEqual([]);
  });

  it('reports a key under a live lease whose owner believes it released it, naming the owner', () => {
    const res = checkGhosts([final({ held: [] })], {
      holders: [{ key: 'mutex/lock/abc', leaseId: 'abc' }],
      registry: [],
    });
    expect(res.violations.map((v) => v.invariant)).toEqual(['ghost-key']);
    expect(res.violations[0]?.message).toContain('mutex-1');
  });

  it('reports a registration no registrar believes live, and a name that could not be taken in one TTL', () => {
    const h = [final({ live: ['r-1'] }, 'registry-registrar-1')];
    const res = checkGhosts(h, {
      holders: [],
      registry: ['r-1', 'r-2'],
      probes: [{ name: 'mutex mutex/lock', ok: false, ms: 3_000, error: 'timed out' }],
    });
    expect(res.violations.map((v) => v.invariant)).toEqual(['ghost-key', 'lock-takeable']);
  });
});
