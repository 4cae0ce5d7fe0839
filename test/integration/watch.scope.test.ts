/**
 * The watch hub's stream is shared by every caller, so what it runs (subscriber handlers, and the
 * re-reads and re-subscriptions they start) must never carry the deadline of the call that happened to
 * open the stream: a follower's resync started under a caller's scope dies when that caller's deadline
 * passes, and the follower never re-reads again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { currentScope, inScope, type CallScope } from '../../src/core/call-scope.js';
import { connect } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('watch hub work runs outside any caller scope', () => {
  const etcd = useSharedEtcd('watch-scope');

  it('a handler of a watch opened inside a call with a deadline does not see that call', async () => {
    const coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    const ac = new AbortController();
    const caller: CallScope = { signal: ac.signal, expiresAt: performance.now() + 60_000, active: true };
    const seen: (CallScope | undefined)[] = [];
    const key = Buffer.from(`${etcd.prefix}k`);
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      // A long call (think `lock({ timeoutMs })`) that opens the hub's stream and is still running.
      const call = inScope(caller, async () => {
        const sub = coord.watchHub.watch({ key }, { onBatch: () => seen.push(currentScope()) });
        await sub.ready;
        await held;
        sub.close();
      });
      await sleep(50);
      await etcd.admin.put(key.toString()).value('1');
      for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(20);
      release();
      await call;
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBeUndefined();
    } finally {
      ac.abort();
      await coord.close();
    }
  });
});
