/**
 * Found while fixing kv's compare-and-set across a reset: `AtomicCounter` cached the last `{ value, modRevision }` it saw and compares against the
 * cached mod revision. After an empty-data restart another write can land at that very revision, and the
 * next `add` passes its guard with the old value: 10 + 1 = 11 overwrites the new history's 1000.
 * Observed 1 of 1 before the fix (the test was `it.fails`); the compare-and-set now also compares the
 * generation marker (src/counter/history-guard.ts).
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('atomic counter compare-and-set across an empty-data restart', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  it('an add after a reset does not overwrite the new history (a cached revision from the old one)', async () => {
    const cluster = etcd.cluster;
    const namespace = uniquePrefix('counter-reset');
    const coord = await connect({
      endpoints: cluster.endpoints,
      namespace,
      requestTimeoutMs: 1000,
    });
    const other = await connect({
      endpoints: cluster.endpoints,
      namespace,
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
      expect(theirs.value.toString()).toBe('1000');
      expect(after).toBe(1001n);
    } finally {
      await coord.close();
      await other.close();
    }
  }, 60_000);
});
