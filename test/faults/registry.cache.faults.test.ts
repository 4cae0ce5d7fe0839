/**
 * The discovery cache against random writes interleaved with connection resets and compactions while
 * disconnected: after every step it equals a direct read, and every revision is applied once, in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connect, type ServiceDiscovery } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

type Cmd =
  | { kind: 'put'; id: number; port: number }
  | { kind: 'del'; id: number }
  | { kind: 'junk'; id: number }
  | { kind: 'reset' }
  | { kind: 'compact-disconnected'; writes: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      id: fc.integer({ min: 0, max: 5 }),
      port: fc.integer({ min: 1, max: 9999 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('del' as const), id: fc.integer({ min: 0, max: 5 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('junk' as const), id: fc.integer({ min: 0, max: 5 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reset' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('compact-disconnected' as const),
      writes: fc.integer({ min: 0, max: 3 }),
    }),
  },
);

function cacheView(svc: ServiceDiscovery): string {
  return svc
    .instances()
    .map((i) => `${i.id}=${i.address}@${i.revision}`)
    .join(',');
}

describe('registry discovery under resets and compaction (private etcd)', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('after every step the cache equals a direct read, and updates come once per revision, in order', async () => {
    const admin = etcd.cluster.client();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 5, maxLength: 15 }), async (cmds) => {
        const ns = uniquePrefix(`reg-cf${run++}`);
        const prefix = `${ns}services/api/`;
        const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
        const coord = await connect({
          endpoints: [proxy.endpoint],
          namespace: ns,
          ttlSeconds: 10,
          requestTimeoutMs: 1000,
        });
        try {
          const svc = await coord.discovery('api');
          const updates: bigint[] = [];
          svc.on('update', (rev) => updates.push(rev));
          const direct = async (): Promise<{ view: string; revision: bigint }> => {
            const res = await admin.getAll().prefix(prefix).exec();
            const rows: string[] = [];
            for (const kv of res.kvs) {
              try {
                const v = JSON.parse(kv.value.toString()) as { Addr?: unknown };
                if (typeof v.Addr === 'string')
                  rows.push(`${kv.key.toString().slice(prefix.length)}=${v.Addr}@${kv.mod_revision}`);
              } catch {
                // not an instance: discovery skips it too
              }
            }
            return { view: rows.sort().join(','), revision: BigInt(res.header.revision) };
          };
          const put = (id: number, value: string) => admin.put(`${prefix}i${id}`).value(value).exec();
          for (const c of cmds) {
            if (c.kind === 'put')
              await put(c.id, JSON.stringify({ Addr: `h${c.id}:${c.port}`, Metadata: {} }));
            else if (c.kind === 'junk') await put(c.id, '{broken');
            else if (c.kind === 'del') await admin.delete().key(`${prefix}i${c.id}`).exec();
            else if (c.kind === 'reset') proxy.reset();
            else {
              proxy.blackhole();
              for (let w = 0; w < c.writes; w++) await put(w, JSON.stringify({ Addr: `c${w}:1` }));
              await etcd.cluster.compact();
              proxy.pass();
            }
            const want = await direct();
            await waitFor(() => svc.revision >= want.revision || cacheView(svc) === want.view, {
              timeoutMs: 20_000,
              message: `cache caught up after ${c.kind}`,
            });
            await waitFor(async () => cacheView(svc) === (await direct()).view, {
              timeoutMs: 20_000,
              message: `cache equal after ${c.kind}`,
            });
          }
          for (let i = 1; i < updates.length; i++)
            expect(updates[i]! > updates[i - 1]!, `update revisions increase: ${updates.join(',')}`).toBe(
              true,
            );
        } finally {
          proxy.pass();
          await coord.close();
          await proxy.close();
        }
      }),
      { numRuns: 6, endOnFailure: true },
    );
  });
});
