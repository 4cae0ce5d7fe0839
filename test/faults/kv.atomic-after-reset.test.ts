/**
 * From the breaker (break-s3; failure class 4): `kv.atomicPut(key, value, previous)` "writes `value` only if the key is still
 * as `previous` (its mod revision is `previous.lastIndex`)" and otherwise throws KeyConflictError. After
 * etcd restarts with empty data, revisions start over: another client's write can land at the very
 * revision `previous.lastIndex` names, and a compare-and-set built from a pair read in the old history
 * then overwrites a value it never saw (a lost update), instead of a conflict or a reset error.
 *
 * Observed: failed 3 of 3 runs (the stale CAS overwrote the other client's value every time).
 */
import { describe, expect, it } from 'vitest';
import { connect, ConflictError, type KeyConflictError } from '../../src/index.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

describe('kv compare-and-set across an empty-data restart', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('a pair from the old history passes neither atomicDelete nor atomicPut in the new one', async () => {
    const cluster = etcd.cluster;
    const coord = await connect({
      endpoints: cluster.endpoints,
      namespace: 'brk-kvr/',
      requestTimeoutMs: 1000,
    });
    const other = await connect({
      endpoints: cluster.endpoints,
      namespace: 'brk-kvr/',
      requestTimeoutMs: 1000,
    });
    try {
      for (let i = 0; i < 5; i++) await coord.kv.put('pad', `${i}`);
      const seen = await coord.kv.put('k', 'mine');
      await cluster.members[0]!.restart({ wipeData: true });
      // Another client writes in the new history until its write of `k` lands at `seen.lastIndex`.
      let theirs: bigint = 0n;
      await waitFor(
        async () => {
          const rev = (await other.kv.put('filler', 'x')).lastIndex;
          if (rev + 1n < seen.lastIndex) return false;
          theirs = (await other.kv.put('k', 'theirs')).lastIndex;
          return true;
        },
        { timeoutMs: 20_000, intervalMs: 1, message: 'new history reaches the old revision' },
      );
      // atomicDelete with the old pair: the same guard, the same conflict.
      await expect(coord.kv.atomicDelete('k', seen)).rejects.toBeInstanceOf(ConflictError);
      const outcome = await coord.kv.atomicPut('k', 'mine-2', seen).then(
        () => 'overwrote',
        (e: unknown) => e,
      );
      console.log('old lastIndex', seen.lastIndex, 'theirs at', theirs, 'outcome', String(outcome));
      expect(theirs).toBe(seen.lastIndex);
      // The key is not as `previous` said ('theirs', not 'mine'): nothing may be written.
      expect(outcome).toBeInstanceOf(ConflictError);
      expect((outcome as KeyConflictError).current?.value.toString()).toBe('theirs');
      expect((await other.kv.get('k'))?.value.toString()).toBe('theirs');
      // The conflict's `current` is a pair of the new history: a compare-and-set loop converges.
      const next = await coord.kv.atomicPut('k', 'mine-3', (outcome as KeyConflictError).current);
      expect(next.value.toString()).toBe('mine-3');
    } finally {
      await coord.close();
      await other.close();
    }
  }, 60_000);
});
