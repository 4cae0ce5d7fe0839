/**
 * Issue 16 f3 (election): nested names share a key prefix (`svc/` holds `svc/db/<lease hex>`), as in
 * etcd's own recipes. Only keys that are exactly `<name>/<lease hex>` are candidates of `name`: leader()
 * and the campaign's queue ignore the rest, however many there are.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('election: nested names do not interfere', () => {
  const etcd = useSharedEtcd('election-names');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it("election('svc') ignores a candidate of 'svc/db': leader() is null and a campaign is elected at once", async () => {
    const [a, b] = [await coord(), await coord()];
    const db = await a.election('svc/db').campaign('db-leader');
    expect(await b.election('svc').leader()).toBeNull();
    const svc = await b.election('svc').campaign('svc-leader', { timeoutMs: 3000 });
    expect((await a.election('svc').leader())?.value.toString()).toBe('svc-leader');
    expect((await a.election('svc/db').leader())?.value.toString()).toBe('db-leader');
    await Promise.all([db.resign(), svc.resign()]);
  });

  it("observe('obs') reports its own leader, never a candidate of 'obs/db'", async () => {
    const [a, b] = [await coord(), await coord()];
    const db = await a.election('obs/db').campaign('db-leader');
    const ac = new AbortController();
    const seen = b.election('obs').observe({ signal: ac.signal })[Symbol.asyncIterator]();
    expect((await seen.next()).value).toBeNull(); // the nested candidate is not this election's leader
    const own = await a.election('obs').campaign('obs-leader', { timeoutMs: 3000 });
    expect((await seen.next()).value?.value.toString()).toBe('obs-leader');
    await seen.return?.();
    ac.abort();
    await Promise.all([db.resign(), own.resign()]);
  });

  it('many older non-candidate keys under the prefix: leader() and the queue page past them', async () => {
    const [a, b] = [await coord(), await coord()];
    // Older than every candidate, and inside the hex-looking part of the prefix: nested names, an upper-case
    // suffix, a deeper path. None is `<name>/<lease hex>`.
    for (let i = 0; i < 40; i++) await etcd.admin.put(`${etcd.prefix}many/d${i}/7${i}`).value('nested');
    await etcd.admin.put(`${etcd.prefix}many/ABC`).value('upper');
    await etcd.admin.put(`${etcd.prefix}many/0a/b`).value('deeper');
    expect(await a.election('many').leader()).toBeNull();
    const first = await a.election('many').campaign('first', { timeoutMs: 3000 });
    expect((await b.election('many').leader())?.value.toString()).toBe('first');
    let secondElected = false;
    const second = b
      .election('many')
      .campaign('second', { timeoutMs: 5000 })
      .then((t) => ((secondElected = true), t));
    await new Promise((r) => setTimeout(r, 300));
    expect(secondElected).toBe(false);
    await first.resign();
    const t = await second;
    expect((await a.election('many').leader())?.value.toString()).toBe('second');
    await t.resign();
    expect(await a.election('many').leader()).toBeNull();
  });

  it('non-candidate keys created in one txn (one create revision, more than a page): still paged past', async () => {
    const [a, b] = [await coord(), await coord()];
    await etcd.admin.kv.txn({
      compare: [],
      success: Array.from({ length: 100 }, (_, i) => ({
        request_put: { key: Buffer.from(`${etcd.prefix}txn/c${i}/1`), value: Buffer.from('nested') },
      })),
      failure: [],
    });
    await etcd.admin.put(`${etcd.prefix}txn/e/1`).value('after');
    expect(await a.election('txn').leader()).toBeNull();
    const first = await a.election('txn').campaign('first', { timeoutMs: 3000 });
    expect((await b.election('txn').leader())?.value.toString()).toBe('first');
    const second = b.election('txn').campaign('second', { timeoutMs: 5000 });
    await first.resign();
    await (await second).resign();
  });

  it('candidates() lists only `<name>/<lease hex>` keys, in line order, across pages', async () => {
    const a = await coord();
    const hexes: string[] = [];
    for (let i = 0; i < 100; i++) {
      const hex = (0x1000 + i * 7).toString(16);
      hexes.push(hex);
      await etcd.admin.put(`${etcd.prefix}list/${hex}`).value(`v${i}`);
      await etcd.admin.put(`${etcd.prefix}list/d${i}/${hex}`).value('nested');
    }
    await etcd.admin.put(`${etcd.prefix}list/ABC`).value('upper');
    const list = await a.election('list').candidates();
    expect(list.map((c) => c.key)).toEqual(hexes.map((h) => `list/${h}`));
    expect(list[0]?.value.toString()).toBe('v0');
    expect((await a.election('list').leader())?.key).toBe(list[0]?.key);
    expect(await a.election('nobody').candidates()).toEqual([]);
  });
});
