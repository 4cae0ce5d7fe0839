/**
 * A paginated range() on a namespace where no watch was ever opened (so no generation marker
 * exists), while etcd is restarted empty and the new store is written past the snapshot revision before
 * the next page is read. Guarantee: "Paginated coord.range() iterators fail with StoreResetError when
 * the store is reset between pages" / "never a silent partial result".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, StoreResetError } from '../../src/index.js';
import { usePrivateEtcd } from '../support/shared.js';

describe('reset: range() across a store reset', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c().catch(() => undefined);
  });

  for (const withWatch of [false, true]) {
    it(`a reset between pages to a store already past the snapshot revision is never a silent mix (watch opened before: ${withWatch})`, async () => {
      const cluster = etcd.cluster;
      const ns = `brk-${Math.random().toString(16).slice(2, 8)}/`;
      const admin = cluster.client();
      for (let i = 0; i < 20; i++) await admin.put(`${ns}r/k${String(i).padStart(2, '0')}`).value('OLD');
      const coord = await connect({
        endpoints: cluster.endpoints,
        namespace: ns,
        ttlSeconds: 2,
        requestTimeoutMs: 3000,
      });
      closers.push(() => coord.close());
      if (withWatch) {
        const cfg = await coord.config('other/');
        closers.push(() => cfg.close());
      }
      const marker = await admin.get(`${ns}\0etcd-coord/epoch`).string();
      console.log('marker before reset:', marker);
      const q = coord.range('r/', { pageSize: 2, timeoutMs: 20_000 });
      const it = q[Symbol.asyncIterator]();
      const seen: Array<[string, string]> = [];
      for (let i = 0; i < 3; i++) {
        const r = await it.next();
        if (r.done) break;
        seen.push([r.value.key.toString(), r.value.value.toString()]);
      }
      // Let the prefetched next page arrive from the old store, so the page after it is read from the new one.
      await new Promise((r) => setTimeout(r, 500));
      const rev = q.revision!;
      console.log('snapshot revision', rev);
      // etcd loses its data; the new store is written past the snapshot revision before the next page.
      await cluster.members[0]!.restart({ wipeData: true });
      const admin2 = cluster.client();
      for (let i = 0; i < 20; i++) await admin2.put(`${ns}r/k${String(i).padStart(2, '0')}`).value('NEW');
      for (let i = 0; i < 30; i++) await admin2.put(`pad/${i}`).value('x');
      console.log('new store revision', await cluster.currentRevision());
      let error: unknown;
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          seen.push([r.value.key.toString(), r.value.value.toString()]);
        }
      } catch (err) {
        error = err;
      }
      const values = new Set(seen.map(([, v]) => v));
      console.log(
        'values seen',
        [...values],
        'count',
        seen.length,
        'error',
        (error as Error | undefined)?.name,
      );
      if (error === undefined) {
        // No error: the result must be one consistent snapshot (all OLD, all 20 keys).
        expect([...values], `a silent mix of two histories: ${JSON.stringify(seen)}`).toEqual(['OLD']);
        expect(seen.length).toBe(20);
      } else {
        expect(error).toBeInstanceOf(StoreResetError);
      }
    });
  }

  it('a reset between pages to an empty store (behind the snapshot) is a StoreResetError, not "compacted" (no watch opened)', async () => {
    const cluster = etcd.cluster;
    const ns = `brk-${Math.random().toString(16).slice(2, 8)}/`;
    const admin = cluster.client();
    for (let i = 0; i < 20; i++) await admin.put(`${ns}r/k${String(i).padStart(2, '0')}`).value('OLD');
    const coord = await connect({
      endpoints: cluster.endpoints,
      namespace: ns,
      ttlSeconds: 2,
      requestTimeoutMs: 3000,
    });
    closers.push(() => coord.close());
    const q = coord.range('r/', { pageSize: 2, timeoutMs: 20_000 });
    const it = q[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) await it.next();
    await new Promise((r) => setTimeout(r, 500));
    await cluster.members[0]!.restart({ wipeData: true });
    let error: unknown;
    try {
      for (;;) if ((await it.next()).done) break;
    } catch (err) {
      error = err;
    }
    console.log('error:', String(error));
    expect(error).toBeInstanceOf(StoreResetError);
  });

  it('a coordinator whose marker was lost in an earlier reset still catches a later one between pages (no watch opened)', async () => {
    const cluster = etcd.cluster;
    const ns = `rst-${Math.random().toString(16).slice(2, 8)}/`;
    const fill = async (value: string) => {
      const admin = cluster.client();
      for (let i = 0; i < 20; i++) await admin.put(`${ns}r/k${String(i).padStart(2, '0')}`).value(value);
    };
    await fill('GEN0');
    const coord = await connect({
      endpoints: cluster.endpoints,
      namespace: ns,
      ttlSeconds: 2,
      requestTimeoutMs: 3000,
    });
    closers.push(() => coord.close());
    // The first range makes sure of the marker; then the store loses it (and everything else).
    for await (const kv of coord.range('r/', { pageSize: 50 })) void kv;
    await cluster.members[0]!.restart({ wipeData: true });
    await fill('GEN1');
    const q = coord.range('r/', { pageSize: 2, timeoutMs: 20_000 });
    const it = q[Symbol.asyncIterator]();
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await it.next();
      if (!r.done) seen.push(r.value.value.toString());
    }
    await new Promise((r) => setTimeout(r, 500));
    await cluster.members[0]!.restart({ wipeData: true });
    await fill('GEN2');
    const admin = cluster.client();
    for (let i = 0; i < 30; i++) await admin.put(`pad/${i}`).value('x');
    let error: unknown;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        seen.push(r.value.value.toString());
      }
    } catch (err) {
      error = err;
    }
    if (error === undefined) expect([...new Set(seen)]).toEqual(['GEN1']);
    else expect(error).toBeInstanceOf(StoreResetError);
  });
});
