/**
 * Issue 15, acceptance 2, for registrations: whatever happens to the connection while `deregister()` is
 * in flight (its reply dropped, the connection reset, a short blackhole), the instance is gone for every
 * other client within TTL + 1 s of the heal, every time, without the registrar's coordinator closing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const TTL_SECONDS = 2;

describe('deregister under faults (property)', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
  });

  it('reply drops, resets and short blackholes during deregister → the instance is gone within TTL + 1 s of the heal, every time', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          kind: fc.constantFrom<'drop-replies' | 'reset' | 'blackhole'>('drop-replies', 'reset', 'blackhole'),
          startMs: fc.integer({ min: 0, max: 30 }),
          durationMs: fc.integer({ min: 50, max: 1200 }),
          separateLease: fc.boolean(),
        }),
        async ({ kind, startMs, durationMs, separateLease }) => {
          const namespace = uniquePrefix('reg-prop');
          const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
          const registrar = await connect({
            endpoints: [proxy.endpoint],
            namespace,
            ttlSeconds: TTL_SECONDS,
            requestTimeoutMs: 500,
          });
          cleanup.push(
            () => proxy.close(),
            () => registrar.close(),
            async () => proxy.pass(),
          );
          const id = `i${round++}`;
          const reg = await registrar.registry('api').register({
            id,
            address: `${id}:80`,
            ...(separateLease ? { ttlSeconds: TTL_SECONDS } : {}),
          });
          const key = `${namespace}services/api/${id}`;
          const exists = async () => (await etcd.cluster.client().get(key).exec()).kvs.length > 0;
          expect(await exists()).toBe(true);

          const deregistered = reg.deregister().then(
            () => 'ok',
            (err: { code?: string }) => err.code ?? 'error',
          );
          await sleep(startMs);
          if (kind === 'reset') proxy.reset();
          else {
            if (kind === 'drop-replies') proxy.dropReplies();
            else proxy.blackhole();
            await sleep(durationMs);
            proxy.pass();
          }
          const healedAt = performance.now();
          await waitFor(async () => !(await exists()), {
            timeoutMs: TTL_SECONDS * 1000 + 1000,
            message: `${kind}: instance still registered TTL + 1 s after the heal`,
          });
          expect(performance.now() - healedAt).toBeLessThan(TTL_SECONDS * 1000 + 1000);
          expect(['ok', 'UNAVAILABLE']).toContain(await deregistered);
          for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
        },
      ),
      { numRuns: 10 },
    );
  }, 120_000);

  it('negative control: an instance nobody deregisters is still there TTL + 1 s later (the check can fire)', async () => {
    const namespace = uniquePrefix('reg-prop');
    const registrar = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace,
      ttlSeconds: TTL_SECONDS,
    });
    cleanup.push(() => registrar.close());
    await registrar.registry('api').register({ id: 'kept', address: 'kept:80' });
    const key = `${namespace}services/api/kept`;
    const gone = waitFor(async () => (await etcd.cluster.client().get(key).exec()).kvs.length === 0, {
      timeoutMs: TTL_SECONDS * 1000 + 1000,
    });
    await expect(gone).rejects.toThrow();
  }, 30_000);
});
