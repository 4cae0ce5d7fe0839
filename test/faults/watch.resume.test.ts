import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connect, type WatchBatch } from '../../src/index.js';
import type { CompactedError } from '../../src/core/errors.js';
import { RangeFollower } from '../../src/range/follow.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

type Op =
  | { kind: 'put'; key: number }
  | { kind: 'delete'; key: number }
  | { kind: 'txn'; keys: number[] }
  | { kind: 'reset' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(5) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('txn' as const),
      keys: fc.uniqueArray(fc.nat(5), { minLength: 2, maxLength: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'reset' as const }) },
);

describe('resumable watch', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('after proxy resets mid-stream, every revision is delivered once, in order, with all its events', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const admin = etcd.cluster.client();
    let reconnects = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), async (ops) => {
          const ns = uniquePrefix('watch');
          const coord = await connect({ endpoints: [proxy.endpoint], namespace: ns, ttlSeconds: 5 });
          const got: WatchBatch[] = [];
          const range = coord.keyspace.prefixRange('');
          const sub = coord.watchHub.watch(range, { onBatch: (b) => got.push(b) });
          try {
            await sub.ready;
            const expected: { revision: bigint; keys: string[] }[] = [];
            const live = new Set<number>();
            for (const o of ops) {
              if (o.kind === 'reset') {
                proxy.reset();
                continue;
              }
              if (o.kind === 'put') {
                const res = await admin.put(`${ns}k${o.key}`).value('v');
                live.add(o.key);
                expected.push({ revision: BigInt(res.header.revision), keys: [`${ns}k${o.key}`] });
              } else if (o.kind === 'delete') {
                const res = await admin.delete().key(`${ns}k${o.key}`);
                // Deleting a missing key creates no revision and no event.
                if (live.delete(o.key))
                  expected.push({ revision: BigInt(res.header.revision), keys: [`${ns}k${o.key}`] });
              } else {
                const res = await admin
                  .if(`${ns}none`, 'Version', '==', 0)
                  .then(...o.keys.map((k) => admin.put(`${ns}k${k}`).value('t')))
                  .commit();
                o.keys.forEach((k) => live.add(k));
                expected.push({
                  revision: BigInt(res.header.revision),
                  keys: o.keys.map((k) => `${ns}k${k}`),
                });
              }
            }
            const last = expected.at(-1)?.revision ?? 0n;
            await waitFor(() => (got.at(-1)?.revision ?? 0n) >= last, {
              timeoutMs: 20_000,
              message: `revision ${last} delivered`,
            });
            expect(
              got.map((b) => ({ revision: b.revision, keys: b.events.map((e) => e.kv.key.toString()) })),
            ).toEqual(expected);
          } finally {
            reconnects += coord.watchHub.reconnects;
            sub.close();
            await coord.close();
          }
        }),
        { numRuns: 15 },
      );
      // The resets really broke streams that then resumed.
      expect(reconnects).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it('history compacted while disconnected: the subscriber gets CompactedError, and a follower re-reads a correct snapshot', async () => {
    const ns = uniquePrefix('watch-compact');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const admin = etcd.cluster.client();
    const coord = await connect({ endpoints: [proxy.endpoint], namespace: ns, ttlSeconds: 10 });
    try {
      const compacted: CompactedError[] = [];
      const sub = coord.watchHub.watch(coord.keyspace.prefixRange(''), {
        onBatch: () => undefined,
        onCompacted: (e) => compacted.push(e),
      });
      await sub.ready;
      const state = new Map<string, string>();
      let snapshots = 0;
      const follower = new RangeFollower(coord, '', {
        onSnapshot: (kvs) => {
          snapshots++;
          state.clear();
          for (const kv of kvs) state.set(kv.key.toString(), kv.value.toString());
        },
        onBatch: (b) => {
          for (const e of b.events) {
            if (e.type === 'put') state.set(e.kv.key.toString(), e.kv.value.toString());
            else state.delete(e.kv.key.toString());
          }
        },
      });
      await admin.put(`${ns}a`).value('1');
      await follower.start();
      expect(state.get('a')).toBe('1');

      proxy.blackhole();
      await admin.put(`${ns}b`).value('2');
      await admin.delete().key(`${ns}a`);
      await etcd.cluster.compact();
      proxy.pass();

      await waitFor(() => compacted.length === 1, { timeoutMs: 20_000, message: 'CompactedError delivered' });
      expect(compacted[0]!.code).toBe('COMPACTED');
      await waitFor(() => snapshots === 2 && state.get('b') === '2' && !state.has('a'), {
        timeoutMs: 20_000,
        message: 're-snapshot',
      });
      await admin.put(`${ns}c`).value('3');
      await waitFor(() => state.get('c') === '3', { message: 'follows after the re-snapshot' });
      follower.close();
      sub.close();
    } finally {
      await coord.close();
      await proxy.close();
    }
  });
});
