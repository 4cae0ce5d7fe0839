/**
 * Known hole (found while fixing kv's compare-and-set across a reset; NOT fixed here: src/counter is not
 * this branch's): `AtomicCounter` caches the last `{ value, modRevision }` it saw and compares against the
 * cached mod revision. After an empty-data restart another write can land at that very revision, and the
 * next `add` passes its guard with the old value: 10 + 1 = 11 overwrites the new history's 1000.
 * Observed 1 of 1. `it.fails` documents the hole: drop `.fails` once the counter stamps or re-reads across a
 * reset (e.g. a compare on the generation marker, as src/kv/epoch-stamp.ts does).
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

describe('atomic counter compare-and-set across an empty-data restart', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  it.fails(
    'an add after a reset does not overwrite the new history (a cached revision from the old one)',
    async () => {
      const cluster = etcd.cluster;
      const coord = await connect({
        endpoints: cluster.endpoints,
        namespace: 'prb-c/',
        requestTimeoutMs: 1000,
      });
      const other = await connect({
        endpoints: cluster.endpoints,
        namespace: 'prb-c/',
        requestTimeoutMs: 1000,
      });
      try {
        for (let i = 0; i < 5; i++) await coord.kv.put('pad', `${i}`);
        const c = coord.atomicCounter('c');
        await c.add(10n);
        const rev = (await coord.kv.get('c'))!.lastIndex;
        await cluster.members[0]!.restart({ wipeData: true });
        await waitFor(
          async () => {
            const r = (await other.kv.put('filler', 'x')).lastIndex;
            if (r + 1n < rev) return false;
            await other.kv.put('c', '1000');
            return true;
          },
          { timeoutMs: 20_000, intervalMs: 1, message: 'reach' },
        );
        const theirs = (await other.kv.get('c'))!;
        const after = await c.add(1n);
        console.log(
          'old rev',
          rev,
          'theirs at',
          theirs.lastIndex,
          'add returned',
          after,
          'stored',
          (await other.kv.get('c'))!.value.toString(),
        );
        expect(after).toBe(1001n);
      } finally {
        await coord.close();
        await other.close();
      }
    },
    60_000,
  );
});
