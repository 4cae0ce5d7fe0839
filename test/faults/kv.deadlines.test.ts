/**
 * coord.kv under an unreachable or reply-dropping etcd: every call settles within its `timeoutMs` (plus the
 * documented slack), and an unconditional write whose reply is lost is an UnavailableError with
 * `mayHaveApplied` — not repeated — while a guarded one is repeated safely or reported as such.
 */
import { describe, expect, it } from 'vitest';
import { connect, UnavailableError, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

/** The documented slack of a deadline (REQUEST_GRACE_MS / ATTEMPT_GRACE_MS) plus event-loop latency. */
const SLACK_MS = 400;

async function settlesWithin(ms: number, p: Promise<unknown>, name = ''): Promise<unknown> {
  const t0 = performance.now();
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(performance.now() - t0, name).toBeLessThan(ms + SLACK_MS);
  return err;
}

describe('kv: deadlines and unknown outcomes', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  async function withProxy(fn: (coord: Coordinator, proxy: FaultProxy, ns: string) => Promise<void>) {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const ns = uniquePrefix('kvdl');
    const coord = await connect({ endpoints: [proxy.endpoint], namespace: ns, ttlSeconds: 5 });
    try {
      await fn(coord, proxy, ns);
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  }

  it('every call settles within timeoutMs while etcd is blackholed', async () => {
    await withProxy(async (coord, proxy) => {
      const pair = await coord.kv.put('k', 'v');
      proxy.blackhole();
      proxy.reset();
      const timeoutMs = 500;
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => coord.kv.get('k', { timeoutMs })],
        ['exists', () => coord.kv.exists('k', { timeoutMs })],
        ['list', () => coord.kv.list('', { timeoutMs })],
        ['put', () => coord.kv.put('k', 'w', { timeoutMs })],
        ['put ttl', () => coord.kv.put('t', 'w', { timeoutMs, ttlSeconds: 3 })],
        ['delete', () => coord.kv.delete('k', { timeoutMs })],
        ['deleteTree', () => coord.kv.deleteTree('k', { timeoutMs })],
        ['atomicPut', () => coord.kv.atomicPut('k', 'w', pair, { timeoutMs })],
        ['atomicDelete', () => coord.kv.atomicDelete('k', pair, { timeoutMs })],
        ['watch', () => coord.kv.watch('k', { timeoutMs }).next()],
        ['watchTree', () => coord.kv.watchTree('', { timeoutMs }).next()],
        ['lock', () => coord.kv.lock('l', { timeoutMs })],
      ];
      for (const [name, call] of calls) {
        const err = await settlesWithin(timeoutMs, call(), name);
        expect(err, name).toBeInstanceOf(Error);
        expect((err as { code?: string }).code, `${name}: ${String(err)}`).toMatch(
          /UNAVAILABLE|LOCK_TIMEOUT/,
        );
      }
      const ac = new AbortController();
      const aborted = coord.kv.get('k', { signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      expect(((await settlesWithin(100, aborted)) as { code?: string }).code).toBe('ABORTED');
    });
  });

  it('a put whose reply is lost is UnavailableError with mayHaveApplied, sent once, and it did apply', async () => {
    await withProxy(async (coord, proxy, ns) => {
      const admin = etcd.cluster.client();
      await coord.kv.put('once', '0');
      proxy.dropReplies();
      const err = await settlesWithin(600, coord.kv.put('once', '1', { timeoutMs: 600 }));
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as UnavailableError).mayHaveApplied).toBe(true);
      proxy.pass();
      await waitFor(async () => (await admin.get(`${ns}once`).string()) === '1');
      // Sent once: one put after the first, so the version is 2.
      const res = await admin.get(`${ns}once`).exec();
      expect(res.kvs[0]!.version).toBe('2');
    });
  });

  it('an atomicPut whose reply is lost is reported as may-have-applied, never as a false conflict', async () => {
    await withProxy(async (coord, proxy) => {
      const base = await coord.kv.put('cas', '0');
      proxy.dropReplies();
      const attempt = coord.kv.atomicPut('cas', '1', base, { timeoutMs: 1500 });
      // Replies come back while the call still repeats: the repeat fails its guard (the first applied).
      setTimeout(() => proxy.pass(), 500);
      const outcome = await attempt.then(
        (p) => p,
        (e: unknown) => e,
      );
      const now = await coord.kv.get('cas');
      expect(now!.value.toString()).toBe('1');
      if (outcome instanceof Error) {
        expect(outcome).toBeInstanceOf(UnavailableError);
        expect((outcome as UnavailableError).mayHaveApplied).toBe(true);
      } else {
        expect(outcome).toEqual(now);
      }
    });
  });
});
