/**
 * coord.kv watch / watchTree under faults: proxy resets (the watch stream breaks and resumes), compaction
 * while disconnected, etcd restarted empty, and member kills in a 3-member cluster.
 *
 * Invariant (fast-check): every revision that touched the prefix is delivered once, in order, and each
 * item equals a direct read at its revision; after a compaction or a store reset the next item says
 * `reset: true` and equals a direct read.
 */
import type { Etcd3 } from 'etcd3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connect, type Coordinator, type KeyUpdate, type TreeUpdate } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

function collect<T>(it: AsyncIterable<T>): { items: T[]; done: Promise<void> } {
  const items: T[] = [];
  const done = (async () => {
    for await (const item of it) items.push(item);
  })();
  done.catch(() => undefined);
  return { items, done };
}

/** `[key, value, mod revision]` of every key under `prefix` at `revision`, read directly. */
async function directRead(admin: Etcd3, ns: string, prefix: string, revision?: bigint) {
  const start = Buffer.from(ns + prefix);
  const end = Buffer.from(
    ns + prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1),
  );
  const res = await admin.kv.range({
    key: start,
    range_end: end,
    ...(revision !== undefined ? { revision: revision.toString() } : {}),
  });
  return res.kvs.map((kv) => [
    kv.key.toString().slice(ns.length),
    kv.value.toString(),
    BigInt(kv.mod_revision),
  ]);
}

const shape = (item: TreeUpdate) => item.pairs.map((p) => [p.key, p.value.toString(), p.lastIndex]);

type Op = { type: 'put'; key: string; v: number } | { type: 'del'; key: string } | { type: 'fault' };
const ops = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        type: fc.constant('put' as const),
        key: fc.constantFrom('a', 'b', 'c/d'),
        v: fc.nat(99),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ type: fc.constant('del' as const), key: fc.constantFrom('a', 'b', 'c/d') }),
    },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('fault' as const) }) },
  ),
  { minLength: 3, maxLength: 25 },
) as fc.Arbitrary<Op[]>;

/** Always run too: three faults between writes, so every member (or the proxy) is hit at least once. */
const FIXED: Op[] = [
  { type: 'put', key: 'a', v: 1 },
  { type: 'fault' },
  { type: 'put', key: 'b', v: 2 },
  { type: 'fault' },
  { type: 'del', key: 'a' },
  { type: 'put', key: 'c/d', v: 3 },
  { type: 'fault' },
  { type: 'put', key: 'a', v: 4 },
];

/** Runs `list` against a fresh prefix, injecting `fault()` where asked; checks the invariant. */
async function checkRun(
  coord: Coordinator,
  admin: Etcd3,
  ns: string,
  prefix: string,
  list: Op[],
  fault: () => Promise<void>,
): Promise<void> {
  const ac = new AbortController();
  const tree = collect<TreeUpdate>(coord.kv.watchTree(prefix, { signal: ac.signal }));
  const key = collect<KeyUpdate>(coord.kv.watch(`${prefix}a`, { signal: ac.signal }));
  try {
    await waitFor(() => tree.items.length === 1 && key.items.length === 1, { timeoutMs: 15_000 });
    const written: bigint[] = [];
    const aWritten: bigint[] = [];
    for (const op of list) {
      if (op.type === 'fault') {
        await fault();
        continue;
      }
      const k = `${ns}${prefix}${op.key}`;
      const res =
        op.type === 'put'
          ? await admin.put(k).value(String(op.v)).exec()
          : await admin.delete().key(k).exec();
      if (op.type === 'del' && (res as { deleted: string }).deleted === '0') continue;
      written.push(BigInt(res.header.revision));
      if (op.key === 'a') aWritten.push(BigInt(res.header.revision));
    }
    await waitFor(
      () => tree.items.length === written.length + 1 && key.items.length === aWritten.length + 1,
      {
        timeoutMs: 20_000,
        message: `every revision delivered (${written.length} tree, ${aWritten.length} key)`,
      },
    );
    expect(tree.items.slice(1).map((i) => i.revision)).toEqual(written);
    expect(key.items.slice(1).map((i) => i.revision)).toEqual(aWritten);
    for (const item of tree.items) {
      expect(item.reset).toBe(false);
      expect(shape(item)).toEqual(await directRead(admin, ns, prefix, item.revision));
    }
  } finally {
    ac.abort();
    await Promise.allSettled([tree.done, key.done]);
  }
}

describe('kv watches: one member behind a fault proxy', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('property: across proxy resets, every revision once, in order, equal to a direct read', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const ns = uniquePrefix('kvw');
    const coord = await connect({ endpoints: [proxy.endpoint], namespace: ns, ttlSeconds: 10 });
    const admin = etcd.cluster.client();
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(ops, async (list) => {
          await checkRun(coord, admin, ns, `p${run++}/`, list, async () => {
            proxy.reset();
            await new Promise((r) => setTimeout(r, 20));
          });
        }),
        { numRuns: 12, examples: [[FIXED]] },
      );
      expect(coord.watchHub.reconnects).toBeGreaterThan(0);
    } finally {
      await coord.close();
      await proxy.close();
    }
  });

  it('compaction while disconnected: the next item has reset: true and equals a direct read', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const ns = uniquePrefix('kvc');
    const coord = await connect({ endpoints: [proxy.endpoint], namespace: ns, ttlSeconds: 10 });
    const admin = etcd.cluster.client();
    const ac = new AbortController();
    try {
      await admin.put(`${ns}t/a`).value('1');
      await admin.put(`${ns}t/b`).value('1');
      const tree = collect<TreeUpdate>(coord.kv.watchTree('t/', { signal: ac.signal }));
      const key = collect<KeyUpdate>(coord.kv.watch('t/a', { signal: ac.signal }));
      await waitFor(() => tree.items.length === 1 && key.items.length === 1);
      proxy.blackhole();
      proxy.reset();
      await admin.put(`${ns}t/a`).value('2');
      await admin.delete().key(`${ns}t/b`);
      await admin.put(`${ns}t/c`).value('3');
      await admin.put(`${ns}t/a`).value('4');
      await etcd.cluster.compact();
      proxy.pass();
      await waitFor(() => tree.items.length === 2 && key.items.length === 2, { timeoutMs: 15_000 });
      const next = tree.items[1]!;
      expect(next.reset).toBe(true);
      expect(shape(next)).toEqual(await directRead(admin, ns, 't/', next.revision));
      expect(next.changes.map((c) => [c.type, c.key]).sort()).toEqual([
        ['delete', 't/b'],
        ['put', 't/a'],
        ['put', 't/c'],
      ]);
      expect(key.items[1]).toMatchObject({ reset: true, pair: { value: Buffer.from('4') } });
      // And it follows on from there.
      const put = await admin.put(`${ns}t/a`).value('5').exec();
      await waitFor(() => tree.items.length === 3 && key.items.length === 3);
      expect(tree.items[2]).toMatchObject({ revision: BigInt(put.header.revision), reset: false });
      expect(key.items[2]!.pair!.value.toString()).toBe('5');
    } finally {
      ac.abort();
      await coord.close();
      await proxy.close();
    }
  });

  it('etcd restarted empty: the next item has reset: true and equals a direct read of the new store', async () => {
    const ns = uniquePrefix('kvr');
    const coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 10 });
    const ac = new AbortController();
    try {
      let admin = etcd.cluster.client();
      for (let i = 0; i < 5; i++) await admin.put(`${ns}t/k${i}`).value(`old${i}`);
      const tree = collect<TreeUpdate>(coord.kv.watchTree('t/', { signal: ac.signal }));
      const key = collect<KeyUpdate>(coord.kv.watch('t/k0', { signal: ac.signal }));
      await waitFor(() => tree.items.length === 1 && key.items.length === 1);
      expect(tree.items[0]!.pairs).toHaveLength(5);
      await etcd.cluster.restartEmpty();
      admin = etcd.cluster.client();
      await admin.put(`${ns}t/new`).value('n');
      await waitFor(() => tree.items.some((i) => i.reset) && key.items.some((i) => i.reset), {
        timeoutMs: 15_000,
        message: 'a reset item',
      });
      const first = tree.items.find((i) => i.reset)!;
      expect(shape(first)).toEqual(await directRead(admin, ns, 't/', first.revision));
      expect(first.changes.filter((c) => c.type === 'delete')).toHaveLength(5);
      expect(key.items.find((i) => i.reset)!.pair).toBeNull();
      // Then it follows the new store: the latest item equals the store now.
      await admin.put(`${ns}t/k0`).value('again');
      await waitFor(async () => {
        const last = tree.items.at(-1)!;
        return (
          JSON.stringify(shape(last), (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ===
          JSON.stringify(await directRead(admin, ns, 't/'), (_, v: unknown) =>
            typeof v === 'bigint' ? String(v) : v,
          )
        );
      });
      await waitFor(() => key.items.at(-1)?.pair?.value.toString() === 'again');
    } finally {
      ac.abort();
      await coord.close();
    }
  });
});

describe('kv watches: member kills in a 3-member cluster', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it('property: across member kills, every revision once, in order, equal to a direct read', async () => {
    const ns = uniquePrefix('kvm');
    const coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 10 });
    const admin = etcd.cluster.client();
    let run = 0;
    let victim = 0;
    try {
      await fc.assert(
        fc.asyncProperty(ops, async (list) => {
          await checkRun(coord, admin, ns, `m${run++}/`, list, async () => {
            // Kill one member (the stream may be on it), write on the quorum left, bring it back.
            const member = etcd.cluster.members[victim++ % 3]!;
            await member.kill();
            await admin.put(`${ns}unrelated`).value('x');
            await member.restart();
            await etcd.cluster.waitHealthy();
          });
        }),
        { numRuns: 6, examples: [[FIXED]] },
      );
      // The stream's own member was among those killed: it resumed elsewhere.
      expect(coord.watchHub.reconnects).toBeGreaterThan(0);
    } finally {
      await coord.close();
    }
  }, 240_000);
});
