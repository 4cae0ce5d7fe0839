/**
 * `Registration` "lives until `deregister()`/`close()`", and a release must never let "a
 * late-applied old attempt delete a key re-created since" (Release, src/core/release.ts). The deregister
 * attempt is a delete guarded by `Lease == lease`; registrations of one TTL share one pooled lease, so a
 * re-registration of the same id on the same lease re-creates a key the old guard still matches. A first
 * deregister attempt buffered in a paused member, retried elsewhere and confirmed, then applies after the
 * same id registered again and deletes the live instance's key; nothing notices (the registration only
 * watches its lease), so the instance stays undiscoverable while `reg` reports itself registered.
 *
 * Observed: failed 2 of 3 runs (30 ids re-registered on the pooled lease, one follower paused; 3 keys lost per failing run).
 * Before the fix (delete guarded by `Lease == lease`): failed 2 of 3 runs here; after (guarded by the key's
 * create revision, src/core/guarded-delete.ts): passed 6 of 6.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { usePrivateEtcd } from '../support/shared.js';

describe('registry deregister late apply after re-registration', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it('a re-registered id keeps its key when the old deregister lands late', async () => {
    const cluster = etcd.cluster;
    const leader = await cluster.leader();
    const paused = cluster.members.find((m) => m !== leader)!;
    const coord = await connect({
      endpoints: cluster.endpoints,
      namespace: 'brk-reg/',
      requestTimeoutMs: 1000,
      ttlSeconds: 10,
    });
    const admin = cluster.client().namespace('brk-reg/');
    try {
      const reg = coord.registry('svc');
      // Keeps the pooled lease alive across the deregistrations.
      const anchor = await reg.register({ address: '10.0.0.1:1', id: 'anchor' });
      const N = 30;
      const ids = Array.from({ length: N }, (_, i) => `i${i}`);
      const first = await Promise.all(ids.map((id) => reg.register({ address: '10.0.0.2:2', id })));
      for (let i = 0; i < 20; i++) await coord.kv.exists('warm');
      paused.pause();
      const results = await Promise.allSettled(first.map((r) => r.deregister({ timeoutMs: 8000 })));
      const confirmed = ids.filter((_, i) => results[i]!.status === 'fulfilled');
      const again = await Promise.all(confirmed.map((id) => reg.register({ address: '10.0.0.3:3', id })));
      const sameLease = again.filter((r) => r.leaseId === anchor.leaseId).length;
      paused.resume();
      await cluster.waitHealthy();
      await sleep(3000);
      const missing: string[] = [];
      for (const r of again) {
        if (!(await admin.get(r.key).exists())) missing.push(r.id);
      }
      console.log('confirmed', confirmed.length, 'of', N, 'same lease', sameLease, 'missing', missing.length);
      expect({ missing }).toEqual({ missing: [] });
      for (const r of again) await r.deregister();
      await anchor.deregister();
    } finally {
      if (paused.paused) paused.resume();
      await coord.close();
    }
  }, 90_000);
});
