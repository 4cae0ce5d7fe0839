/**
 * Issue 16 f2: a paginated range read across an empty-data restart must fail with a clear error, never mix
 * pages of two histories — whether the new store is behind the snapshot's revision or already past it.
 */
import { describe, expect, it } from 'vitest';
import { connect, StoreResetError, type KeyValue } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

describe('range iteration across a store reset (issue 16)', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  async function iterateAcrossReset(ahead: boolean): Promise<unknown> {
    const ns = uniquePrefix(`reset-range-${ahead ? 'ahead' : 'behind'}`);
    const endpoint = etcd.cluster.endpoints[0]!;
    const coord = await connect({ endpoints: [endpoint], namespace: ns, ttlSeconds: 2 });
    try {
      // A watch makes the coordinator create the namespace's generation marker.
      const cfg = await coord.config('cfg/');
      for (let i = 0; i < 10; i++)
        await coord.client.put(`${ns}r/${String(i).padStart(2, '0')}`).value('old');
      const seen: KeyValue[] = [];
      const it = coord.range('r/', { pageSize: 3 })[Symbol.asyncIterator]();
      for (let i = 0; i < 3; i++) seen.push((await it.next()).value as KeyValue);
      const oldRevision = await etcd.cluster.currentRevision();
      await etcd.cluster.members[0]!.restart({ wipeData: true });
      const writes = ahead ? Number(oldRevision) + 10 : 3;
      for (let i = 0; i < writes; i++) {
        await coord.client.put(`${ns}r/${String(i % 10).padStart(2, '0')}`).value('new');
      }
      if (ahead) expect(await etcd.cluster.currentRevision()).toBeGreaterThan(oldRevision);
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          seen.push(r.value);
        }
      } catch (err) {
        return err;
      }
      await cfg.close();
      return seen.map((kv) => kv.value.toString());
    } finally {
      await coord.close();
    }
  }

  it('fails with StoreResetError when the new store is behind the snapshot revision', async () => {
    const err = await iterateAcrossReset(false);
    expect(err).toBeInstanceOf(StoreResetError);
    expect((err as Error).message).toMatch(/reset/);
  }, 30_000);

  it('fails with StoreResetError when the new store is already past the snapshot revision', async () => {
    const err = await iterateAcrossReset(true);
    expect(err).toBeInstanceOf(StoreResetError);
    expect((err as Error).message).toMatch(/reset/);
  }, 30_000);
});
