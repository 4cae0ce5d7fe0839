/**
 * Failure class 1 for every release built on `Release` (unlock, resign, deregister): a call that gives up
 * (its `timeoutMs`, or the default deadline) while an attempt is in flight, or while the release goes on
 * in the background, must not say "not applied". Found by the queue's torture finding (`queue/acked`,
 * an ack that applied although its call said it had not); the same loop serves these releases.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, UnavailableError, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const REQUEST_TIMEOUT_MS = 1000;

describe('a release cut short with an attempt in flight says it may have applied', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
  });

  async function cutOff(): Promise<{ namespace: string; proxy: FaultProxy; coord: Coordinator }> {
    const namespace = uniquePrefix('release-in-flight');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    // The lease outlives the dropped replies: only the release can remove the key.
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace,
      ttlSeconds: 10,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    cleanup.push(
      () => proxy.close(),
      () => coord.close(),
      async () => proxy.pass(),
    );
    return { namespace, proxy, coord };
  }

  const count = async (prefix: string) => (await etcd.cluster.client().getAll().prefix(prefix).keys()).length;

  const cases: Record<
    string,
    (coord: Coordinator) => Promise<(o: { timeoutMs?: number }) => Promise<unknown>>
  > = {
    'mutex unlock': async (coord) => {
      const lock = await coord.mutex('m').lock();
      return (o) => lock.unlock(o);
    },
    resign: async (coord) => {
      const term = await coord.election('e').campaign('me');
      return (o) => term.resign(o);
    },
    deregister: async (coord) => {
      const reg = await coord.registry('api').register({ id: 'a1', address: 'a1:80' });
      return (o) => reg.deregister(o);
    },
  };
  const prefixes: Record<string, string> = {
    'mutex unlock': 'm/',
    resign: 'e/',
    deregister: 'services/api/',
  };

  for (const [name, arrange] of Object.entries(cases)) {
    for (const timeoutMs of [300, undefined]) {
      it(`${name}(${timeoutMs === undefined ? '' : `{ timeoutMs: ${timeoutMs} }`}) with its reply dropped: rejects mayHaveApplied, and it did apply`, async () => {
        const { namespace, proxy, coord } = await cutOff();
        const release = await arrange(coord);
        const prefix = `${namespace}${prefixes[name]!}`;
        expect(await count(prefix)).toBeGreaterThan(0);
        proxy.dropReplies();
        const err = await release(timeoutMs === undefined ? {} : { timeoutMs }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UnavailableError);
        expect((err as UnavailableError).mayHaveApplied, (err as Error).message).toBe(true);
        await waitFor(async () => (await count(prefix)) === 0, { message: `${name} applied` });
        proxy.pass();
        await release({}); // called again: confirmed
      }, 30_000);
    }
  }
});
