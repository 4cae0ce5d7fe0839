/**
 * Acceptance 1: random puts, deletes and multi-key txns under the prefix and just outside it, written by
 * a direct client while the config's connection (through a FaultProxy) is reset at random points.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { Etcd3, IRequestOp } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTree, decodeValue } from '../../src/config/shape.js';
import type { ConfigChangeInfo, ConfigObject } from '../../src/config/index.js';
import { connect, type Coordinator, type WatchedConfig } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

const NS = 'ns/';
const KEYS = ['a', 'a/b', 'b', 'db/url', 'db/pool', 'x/y/z'] as const;
const VALUES = ['1', '42', 'text', '"quoted"', '{"k":1}', 'true', ''] as const;

type Write = { t: 'put'; key: string; value: string } | { t: 'del'; key: string };
type Op =
  | Write
  | { t: 'txn'; writes: Write[] }
  | { t: 'outside'; key: string; value: string }
  | { t: 'reset'; afterMs: number }
  | { t: 'attach' };

const write: fc.Arbitrary<Write> = fc.oneof(
  fc.record({
    t: fc.constant('put' as const),
    key: fc.constantFrom(...KEYS),
    value: fc.constantFrom(...VALUES),
  }),
  fc.record({ t: fc.constant('del' as const), key: fc.constantFrom(...KEYS) }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: write },
  {
    weight: 2,
    // etcd refuses two writes to one key in a txn: keys are distinct.
    arbitrary: fc
      .uniqueArray(write, { minLength: 2, maxLength: 4, selector: (w) => w.key })
      .map((writes) => ({ t: 'txn' as const, writes })),
  },
  {
    weight: 1,
    // Just outside: a sibling sharing the text prefix, and the folder name itself.
    arbitrary: fc.record({
      t: fc.constant('outside' as const),
      key: fc.constantFrom('app/configX', 'app/config', 'app/configX/a'),
      value: fc.constantFrom(...VALUES),
    }),
  },
  // A reset now (0) or a few ms later, landing while the next writes' events are in flight.
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('reset' as const), afterMs: fc.constantFrom(0, 1, 3, 8) }),
  },
  // Two more configs on the same prefix, attached midway while the writes go on (they share the first
  // one's watcher and one join read).
  { weight: 1, arbitrary: fc.constant({ t: 'attach' as const }) },
);

type Change = { next: ConfigObject; prev: ConfigObject; info: ConfigChangeInfo };

/** A config and every change it emitted, from the value and revision it started with. */
interface Followed {
  cfg: WatchedConfig;
  start: { revision: bigint; value: ConfigObject };
  changes: Change[];
}

async function follow(coord: Coordinator, prefix: string): Promise<Followed> {
  const cfg = await coord.config(prefix);
  const changes: Change[] = [];
  cfg.on('change', (next, prev, info) => changes.push({ next, prev, info }));
  return { cfg, start: { revision: cfg.revision, value: cfg.value }, changes };
}

interface Expected {
  revision: bigint;
  keys: string[];
  value: ConfigObject;
}

function treeOf(model: Map<string, string>): ConfigObject {
  return buildTree([...model].map(([k, v]) => [k, decodeValue(v)] as const)).tree;
}

describe('WatchedConfig property (private etcd, proxy resets)', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let proxy: FaultProxy;
  let coord: Coordinator;
  let admin: Etcd3;
  let run = 0;

  beforeAll(async () => {
    proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    coord = await connect({ endpoints: [proxy.endpoint], namespace: NS, ttlSeconds: 10 });
    admin = etcd.cluster.client();
  });
  afterAll(async () => {
    await coord?.close();
    await proxy?.close();
  });

  it('every change is one revision, in order, none skipped or repeated; a multi-key txn is one change; the final value equals a direct read', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const base = `run${run++}/app/`;
        const prefix = `${base}config/`;
        const full = (k: string) => Buffer.from(`${NS}${prefix}${k}`);
        const first = await follow(coord, prefix);
        const followed = [first];
        const model = new Map<string, string>();
        const expected: Expected[] = [];
        const resets: Promise<void>[] = [];
        const attaching: Promise<void>[] = [];
        let lastWrite = first.start.revision;
        /** The config's value as of a revision: the last expected change at or below it ({} before any). */
        const valueAt = (r: bigint) => expected.filter((e) => e.revision <= r).at(-1)?.value ?? {};
        try {
          for (const o of ops) {
            if (o.t === 'reset') {
              if (o.afterMs === 0) proxy.reset();
              else resets.push(sleep(o.afterMs).then(() => proxy.reset()));
              continue;
            }
            if (o.t === 'attach') {
              const before = lastWrite;
              attaching.push(
                ...[1, 2].map(async () => {
                  const late = await follow(coord, prefix);
                  followed.push(late);
                  // It reads after it was asked for: every write completed before is in its first value.
                  expect(late.start.revision).toBeGreaterThanOrEqual(before);
                }),
              );
              continue;
            }
            if (o.t === 'outside') {
              const res = await admin
                .put(`${NS}${base}${o.key.slice('app/'.length)}`)
                .value(o.value)
                .exec();
              lastWrite = BigInt(res.header.revision);
              continue;
            }
            const writes = o.t === 'txn' ? o.writes : [o];
            const req: IRequestOp[] = writes.map((w) =>
              w.t === 'put'
                ? { request_put: { key: full(w.key), value: Buffer.from(w.value) } }
                : { request_delete_range: { key: full(w.key) } },
            );
            const res = await admin.kv.txn({ compare: [], success: req, failure: [] });
            lastWrite = BigInt(res.header.revision);
            // The keys this revision really touched: every put, and deletes of keys that existed.
            const touched = writes.filter((w) => w.t === 'put' || model.has(w.key)).map((w) => w.key);
            for (const w of writes) {
              if (w.t === 'put') model.set(w.key, w.value);
              else model.delete(w.key);
            }
            if (touched.length > 0) {
              expected.push({
                revision: BigInt(res.header.revision),
                keys: touched.sort(),
                value: treeOf(model),
              });
            }
          }
          await Promise.all(resets);
          await Promise.all(attaching);
          // A last write under the prefix: once the config has applied it, it has applied everything before.
          const end = await admin.put(full('zz/end')).value('1').exec();
          model.set('zz/end', '1');
          expected.push({ revision: BigInt(end.header.revision), keys: ['zz/end'], value: treeOf(model) });
          for (const { cfg, start, changes } of followed) {
            await waitFor(() => cfg.revision >= BigInt(end.header.revision), {
              timeoutMs: 15_000,
              message: 'the last write',
            });
            expect(start.value).toEqual(valueAt(start.revision));
            const mine = expected.filter((e) => e.revision > start.revision);
            expect(changes.map((c) => c.info.revision)).toEqual(mine.map((e) => e.revision));
            changes.forEach((c, i) => {
              expect(c.info.changedKeys.sort()).toEqual(mine[i]?.keys);
              expect(c.next).toEqual(mine[i]?.value);
              // prev is exactly the value of the change before (the starting value before the first).
              expect(c.prev).toEqual(i === 0 ? start.value : mine[i - 1]?.value);
            });
          }
          const cfg = first.cfg;
          const direct = await admin.getAll().prefix(`${NS}${prefix}`).strings();
          const read = buildTree(
            Object.entries(direct).map(
              ([k, v]) => [k.slice(NS.length + prefix.length), decodeValue(v)] as const,
            ),
          ).tree;
          expect(cfg.value).toEqual(read);
          expect(cfg.value).toEqual(treeOf(model));
        } finally {
          await Promise.allSettled(attaching);
          await Promise.all(followed.map((f) => f.cfg.close()));
        }
      }),
      // CONFIG_PROP_RUNS=200 for a longer hunt.
      { numRuns: Number(process.env.CONFIG_PROP_RUNS ?? 20) },
    );
    // The resets really broke the watch stream (and the config resumed after each).
    expect(coord.watchHub.reconnects).toBeGreaterThan(0);
  });
});
