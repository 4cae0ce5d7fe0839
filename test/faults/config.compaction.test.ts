/**
 * Acceptance 2: history compacted while the config's connection is down → on reconnect the config
 * re-reads the prefix, ends up equal to a direct read, and emits exactly one change (only if the value
 * differs).
 */
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ConfigChangeInfo, ConfigObject } from '../../src/config/index.js';
import { connect, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

describe('WatchedConfig: compaction while disconnected', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let proxy: FaultProxy;
  let coord: Coordinator;
  let admin: Etcd3;

  beforeAll(async () => {
    proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    coord = await connect({ endpoints: [proxy.endpoint], namespace: 'ns/', ttlSeconds: 10 });
    admin = etcd.cluster.client();
  });
  afterAll(async () => {
    await coord?.close();
    await proxy?.close();
  });

  /** Cuts the config's connection (new connections hang too), runs `fn`, compacts, reconnects. */
  async function whileDisconnected(fn: () => Promise<void>): Promise<bigint> {
    proxy.blackhole();
    proxy.reset();
    try {
      await fn();
      return await etcd.cluster.compact();
    } finally {
      proxy.pass();
    }
  }

  it('the value differs: one change at the re-read revision, equal to a direct read', async () => {
    const cfg = await coord.config('one/config/');
    const changes: { next: ConfigObject; info: ConfigChangeInfo }[] = [];
    cfg.on('change', (next, _prev, info) => changes.push({ next, info }));
    try {
      await admin.put('ns/one/config/a').value('1');
      await admin.put('ns/one/config/gone').value('x');
      await waitFor(() => changes.length === 2);
      const compacted = await whileDisconnected(async () => {
        await admin.put('ns/one/config/a').value('2');
        await admin.put('ns/one/config/a').value('3');
        await admin.put('ns/one/config/b/c').value('"deep"');
        await admin.delete().key('ns/one/config/gone');
        await admin.put('ns/one/configX').value('outside');
      });
      await waitFor(() => changes.length === 3, {
        timeoutMs: 30_000,
        message: 'the change after the re-read',
      });
      expect(changes[2]?.next).toEqual({ a: 3, b: { c: 'deep' } });
      expect(changes[2]?.info.revision).toBeGreaterThanOrEqual(compacted);
      expect(changes[2]?.info.changedKeys).toEqual(['a', 'b/c', 'gone']);
      const direct = await admin.getAll().prefix('ns/one/config/').strings();
      expect(direct).toEqual({ 'ns/one/config/a': '3', 'ns/one/config/b/c': '"deep"' });
      expect(cfg.value).toEqual({ a: 3, b: { c: 'deep' } });
      // Still following after the re-read.
      await admin.put('ns/one/config/a').value('4');
      await waitFor(() => (cfg.value as { a: number }).a === 4);
      expect(changes).toHaveLength(4);
    } finally {
      await cfg.close();
    }
  });

  it('the re-read finds an invalid config: one `invalid`, the last valid value kept; fixed later → one change', async () => {
    const cfg = await coord.config('inv/config/', {
      schema: z.object({ a: z.number() }),
      defaults: { a: 0 },
    });
    const events: string[] = [];
    cfg.on('change', (next) => events.push(`change ${next.a}`));
    cfg.on('invalid', (_issues, raw) => events.push(`invalid ${JSON.stringify(raw)}`));
    try {
      await admin.put('ns/inv/config/a').value('1');
      await waitFor(() => events.length === 1);
      const compacted = await whileDisconnected(async () => {
        await admin.put('ns/inv/config/a').value('2');
        await admin.put('ns/inv/config/a').value('oops');
      });
      await waitFor(() => cfg.revision >= compacted, { timeoutMs: 30_000, message: 'the re-read' });
      expect(events).toEqual(['change 1', 'invalid {"a":"oops"}']);
      expect(cfg.value).toEqual({ a: 1 });
      await admin.put('ns/inv/config/a').value('3');
      await waitFor(() => cfg.value.a === 3);
      expect(events).toEqual(['change 1', 'invalid {"a":"oops"}', 'change 3']);
    } finally {
      await cfg.close();
    }
  });

  it('the value is the same after the missed history: no change, but the revision moves on', async () => {
    const cfg = await coord.config('same/config/');
    const changes: bigint[] = [];
    cfg.on('change', (_n, _p, info) => changes.push(info.revision));
    try {
      await admin.put('ns/same/config/a').value('1');
      await waitFor(() => changes.length === 1);
      const compacted = await whileDisconnected(async () => {
        await admin.put('ns/same/config/a').value('2');
        await admin.put('ns/same/config/a').value('1');
      });
      await waitFor(() => cfg.revision >= compacted, { timeoutMs: 30_000, message: 'the re-read' });
      expect(changes).toHaveLength(1);
      expect(cfg.value).toEqual({ a: 1 });
      const after = await admin.put('ns/same/config/a').value('5').exec();
      await waitFor(() => changes.length === 2);
      expect(changes[1]).toBe(BigInt(after.header.revision));
    } finally {
      await cfg.close();
    }
  });
});
