import { describe, expect, it } from 'vitest';
import { CompactedError, connect } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

describe('range iteration and compaction', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('a snapshot compacted away mid-iteration is a CompactedError, never a partial result', async () => {
    const ns = uniquePrefix('range-compact');
    const admin = etcd.cluster.client();
    for (let i = 0; i < 10; i++) await admin.put(`${ns}k${i}`).value('v');
    const coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 2 });
    try {
      const seen: string[] = [];
      const iterate = async () => {
        for await (const kv of coord.range('', { pageSize: 2 })) {
          if (seen.length === 0) {
            await admin.put(`${ns}later`).value('v');
            await etcd.cluster.compact();
          }
          seen.push(kv.key.toString());
        }
      };
      await expect(iterate()).rejects.toBeInstanceOf(CompactedError);
      expect(seen.length).toBeLessThan(10);
      // Asking for a compacted revision up front fails the same way.
      await expect(coord.range('', { revision: 2n }).count()).rejects.toMatchObject({ code: 'COMPACTED' });
    } finally {
      await coord.close();
    }
  });
});
