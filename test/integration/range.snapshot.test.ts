import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { EPOCH_KEY } from '../../src/core/epoch.js';
import { useSharedEtcd } from '../support/shared.js';

const keyBytes = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 4 }),
  fc.constantFrom(
    new Uint8Array([0xff]),
    new Uint8Array([0xff, 0xff]),
    new Uint8Array([0x61]),
    new Uint8Array([0x61, 0x62]),
  ),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }).map((s) => new Uint8Array(Buffer.from(s))),
);

describe('range iteration is a snapshot', () => {
  const etcd = useSharedEtcd('range');

  it('yields exactly the keys present at the snapshot revision, in order, each once, while others write and delete', async () => {
    let run = 0;
    let total = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(keyBytes, {
          minLength: 0,
          maxLength: 40,
          selector: (k) => Buffer.from(k).toString('hex'),
        }),
        fc.integer({ min: 1, max: 45 }),
        fc.boolean(),
        fc.array(fc.tuple(fc.boolean(), keyBytes), { maxLength: 20 }),
        async (keys, pageSize, reverse, mutations) => {
          const ns = `${etcd.prefix}${run++}/`;
          const coord = await connect({ endpoints: etcd.endpoints, namespace: ns, ttlSeconds: 2 });
          try {
            const full = (k: Uint8Array) => Buffer.concat([Buffer.from(ns), Buffer.from(k)]);
            for (let i = 0; i < keys.length; i += 50) {
              const ops = keys.slice(i, i + 50).map((k, j) => etcd.admin.put(full(k)).value(`v${i + j}`));
              await etcd.admin
                .if(full(new Uint8Array([0])), 'Version', '>', -1)
                .then(...ops)
                .commit();
            }
            const query = coord.range('', { pageSize, reverse });
            const seen: string[] = [];
            let writers: Promise<unknown> | undefined;
            for await (const kv of query) {
              // Start writing and deleting under the prefix once the snapshot revision is fixed.
              writers ??= Promise.all(
                mutations.map(([del, k]) =>
                  del ? etcd.admin.delete().key(full(k)) : etcd.admin.put(full(k)).value('new'),
                ),
              );
              seen.push(`${kv.key.toString('hex')}=${kv.value.toString()}`);
            }
            await writers;
            const revision = query.revision!;
            const direct = await etcd.admin.getAll().prefix(ns).revision(revision.toString()).exec();
            // The generation marker (created by the range itself) is no user key: a range leaves it out.
            const marker = Buffer.from(EPOCH_KEY).toString('hex');
            let expected = direct.kvs
              .map((kv) => `${kv.key.subarray(ns.length).toString('hex')}=${kv.value.toString()}`)
              .filter((entry) => !entry.startsWith(`${marker}=`));
            if (reverse) expected = expected.reverse();
            expect(seen).toEqual(expected);
            expect(new Set(seen).size).toBe(seen.length);
            total += seen.length;
          } finally {
            await coord.close();
            await etcd.admin.delete().prefix(ns);
          }
        },
      ),
      { numRuns: 30 },
    );
    // The property saw real data, not 30 empty ranges (random sizes: CI once saw 94 keys in all).
    expect(total).toBeGreaterThan(30);
  });

  it('count() counts the range, and a page size below 1 is rejected before any request', async () => {
    const coord = await connect({
      endpoints: etcd.endpoints,
      namespace: `${etcd.prefix}count/`,
      ttlSeconds: 2,
    });
    try {
      await Promise.all([1, 2, 3].map((i) => etcd.admin.put(`${etcd.prefix}count/k${i}`).value('x')));
      expect(await coord.range('k').count()).toBe(3n);
      expect(await coord.range('k', { end: 'k3' }).count()).toBe(2n);
      expect(() => coord.range('k', { pageSize: 0 })).toThrow(/`pageSize`/);
      expect(() => coord.range('k', { pageSize: 1.5 })).toThrow(/`pageSize`/);
      expect(() => coord.range('k', { timeoutMs: -1 })).toThrow(/`timeoutMs`/);
    } finally {
      await coord.close();
    }
  });
});
