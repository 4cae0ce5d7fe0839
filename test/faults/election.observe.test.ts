/**
 * Acceptance 3 (faults): observe() resumes after a proxy reset without missing the change made meanwhile,
 * and re-reads after compaction while it was cut off; never an older leader after a newer one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect, type LeaderInfo } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('election observe() under faults', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  async function setup(label: string) {
    const prefix = uniquePrefix(label);
    const endpoint = etcd.cluster.endpoints[0]!;
    const proxy = await FaultProxy.start(endpoint);
    // A TTL that outlasts the short blackholes below: these tests are about the watch, not the lease.
    const observer = await connect({ endpoints: [proxy.endpoint], namespace: prefix, ttlSeconds: 10 });
    const a = await connect({ endpoints: [endpoint], namespace: prefix, ttlSeconds: 2 });
    const b = await connect({ endpoints: [endpoint], namespace: prefix, ttlSeconds: 2 });
    const seen: (LeaderInfo | null)[] = [];
    const ac = new AbortController();
    const loop = (async () => {
      for await (const l of observer.election('obs').observe({ signal: ac.signal })) seen.push(l);
    })();
    const close = async () => {
      ac.abort();
      await loop;
      await Promise.all([observer.close(), a.close(), b.close()]);
      await proxy.close();
    };
    return { proxy, observer, a, b, seen, close };
  }

  const assertMonotonic = (seen: (LeaderInfo | null)[]) => {
    let newest = 0n;
    for (const l of seen) {
      if (!l) continue;
      expect(l.revision).toBeGreaterThanOrEqual(newest);
      newest = l.revision;
    }
  };

  it('after a proxy reset it resumes and reports the change made while it was disconnected', async () => {
    const s = await setup('el-obs-reset');
    try {
      const ta = await s.a.election('obs').campaign('A');
      await waitFor(() => s.seen.at(-1)?.value.toString() === 'A');
      s.proxy.blackhole();
      const pb = s.b.election('obs').campaign('B');
      await waitFor(async () => (await s.a.election('obs').leader()) !== null);
      await ta.resign();
      const tb = await pb;
      s.proxy.reset();
      s.proxy.pass();
      await waitFor(() => s.seen.at(-1)?.value.toString() === 'B', {
        timeoutMs: 20_000,
        message: 'observer sees B after reset',
      });
      await tb.proclaim('B2');
      await waitFor(() => s.seen.at(-1)?.value.toString() === 'B2');
      assertMonotonic(s.seen);
      await tb.resign();
      await waitFor(() => s.seen.at(-1) === null);
    } finally {
      await s.close();
    }
  });

  it('after compaction of the history it missed, it re-reads and reports the current leader', async () => {
    const s = await setup('el-obs-compact');
    try {
      const ta = await s.a.election('obs').campaign('A');
      await waitFor(() => s.seen.at(-1)?.value.toString() === 'A');
      s.proxy.blackhole();
      await sleep(100);
      for (let i = 0; i < 5; i++) await ta.proclaim(`A${i}`);
      const pb = s.b.election('obs').campaign('B');
      await sleep(100);
      await ta.resign();
      const tb = await pb;
      await tb.proclaim('B-final');
      await etcd.cluster.compact();
      s.proxy.pass();
      await waitFor(() => s.seen.at(-1)?.value.toString() === 'B-final', {
        timeoutMs: 20_000,
        message: 'observer re-read after compaction',
      });
      assertMonotonic(s.seen);
      await tb.resign();
    } finally {
      await s.close();
    }
  });

  it('a queued campaign whose watch broke over compacted history re-reads and is elected once the leader resigns', async () => {
    const s = await setup('el-wait-compact');
    try {
      const ta = await s.a.election('q').campaign('A');
      let elected = false;
      const waiting = s.observer
        .election('q')
        .campaign('W')
        .then((t) => ((elected = true), t));
      await waitFor(async () => (await s.a.client.getAll().prefix(s.a.keyspace.key('q/')).count()) === 2);
      s.proxy.blackhole();
      for (let i = 0; i < 3; i++) await ta.proclaim(`A${i}`);
      await etcd.cluster.compact();
      s.proxy.pass();
      await sleep(300);
      expect(elected).toBe(false);
      await ta.resign();
      const tw = await waiting;
      expect(tw.fencingToken).toBeGreaterThan(ta.fencingToken);
      await tw.resign();
    } finally {
      await s.close();
    }
  });
});
