/**
 * Acceptance 4 and 6: `set`/`delete` with CAS on the key's mod revision, and bad input rejected before
 * any request.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConflictError, InvalidArgumentError, connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('WatchedConfig: set and delete', () => {
  const etcd = useSharedEtcd('config-write');
  let coord: Coordinator;
  const full = (k: string) => `${etcd.prefix}${k}`;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('set writes JSON (plain text for strings that are not JSON) and value reflects it when set resolves', async () => {
    const cfg = await coord.config('rw/config/');
    try {
      const rev = await cfg.set('db/url', 'postgres://db/app');
      expect(cfg.value).toEqual({ db: { url: 'postgres://db/app' } });
      expect(cfg.revision).toBeGreaterThanOrEqual(rev);
      expect(cfg.modRevision('db/url')).toBe(rev);
      await cfg.set('db/port', '5432');
      await cfg.set('db/opts', { ssl: true });
      expect(await etcd.admin.get(full('rw/config/db/url')).string()).toBe('postgres://db/app');
      expect(await etcd.admin.get(full('rw/config/db/port')).string()).toBe('"5432"');
      expect(await etcd.admin.get(full('rw/config/db/opts')).string()).toBe('{"ssl":true}');
      expect(cfg.value).toEqual({ db: { url: 'postgres://db/app', port: '5432', opts: { ssl: true } } });
      await cfg.delete('db/port');
      expect(cfg.value).toEqual({ db: { url: 'postgres://db/app', opts: { ssl: true } } });
      // Deleting a missing key is not an error and writes nothing.
      await cfg.delete('db/port');
    } finally {
      await cfg.close();
    }
  });

  it('set with a stale expectRevision → ConflictError, nothing written, no change', async () => {
    const cfg = await coord.config('cas/config/');
    const changes: bigint[] = [];
    cfg.on('change', (_n, _p, info) => changes.push(info.revision));
    try {
      const r1 = await cfg.set('pool', 10, { expectRevision: 0n }); // create-only
      const r2 = await cfg.set('pool', 20, { expectRevision: cfg.modRevision('pool') });
      expect(r2).toBeGreaterThan(r1);
      const stale = cfg.set('pool', 30, { expectRevision: r1 });
      await expect(stale).rejects.toBeInstanceOf(ConflictError);
      await expect(stale).rejects.toMatchObject({ code: 'CONFLICT' });
      await expect(cfg.set('pool', 40, { expectRevision: 0n })).rejects.toBeInstanceOf(ConflictError);
      expect(await etcd.admin.get(full('cas/config/pool')).string()).toBe('20');
      const kv = await etcd.admin.get(full('cas/config/pool')).exec();
      expect(BigInt(kv.kvs[0]!.mod_revision)).toBe(r2);
      await expect(cfg.delete('pool', { expectRevision: r1 })).rejects.toBeInstanceOf(ConflictError);
      expect(await etcd.admin.get(full('cas/config/pool')).string()).toBe('20');
      const r3 = await cfg.delete('pool', { expectRevision: r2 });
      expect(changes).toEqual([r1, r2, r3]);
      expect(cfg.value).toEqual({});
    } finally {
      await cfg.close();
    }
  });

  it('bad input is rejected before any request, naming the argument', async () => {
    const cfg = await coord.config('input/config/');
    const kv = coord.client.kv;
    const spies = [
      vi.spyOn(kv, 'txn'),
      vi.spyOn(kv, 'range'),
      vi.spyOn(kv, 'put'),
      vi.spyOn(kv, 'deleteRange'),
    ];
    const watchers = coord.watchHub.watcherCount;
    try {
      const bad = coord as unknown as { config(p: unknown, o?: unknown): Promise<unknown> };
      await expect(bad.config('')).rejects.toThrow(/`prefix`/);
      await expect(bad.config(42)).rejects.toBeInstanceOf(TypeError);
      await expect(bad.config('a\0b')).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(bad.config('p/', { schema: {} })).rejects.toThrow(/`schema`/);
      await expect(bad.config('p/', { defaults: [1] })).rejects.toThrow(/`defaults`/);
      await expect(bad.config('p/', { timeoutMs: -1 })).rejects.toThrow(/`timeoutMs`/);
      await expect(bad.config('p/', { signal: 'x' })).rejects.toThrow(/`signal`/);

      await expect(cfg.set('', 1)).rejects.toThrow(/`key`/);
      await expect(cfg.set('a//b', 1)).rejects.toThrow(/`key`/);
      await expect(cfg.set('/a', 1)).rejects.toThrow(/`key`/);
      await expect(cfg.set('a/', 1)).rejects.toThrow(/`key`/);
      await expect(cfg.set('a/__proto__', 1)).rejects.toThrow(/`key`/);
      await expect(cfg.set('k', undefined)).rejects.toThrow(/`value`/);
      await expect(cfg.set('k', 10n)).rejects.toThrow(/`value`/);
      await expect(cfg.set('k', 'x'.repeat(2_000_000))).rejects.toThrow(/`value`.*1\.5 MiB/);
      await expect(cfg.set('k', 1, { expectRevision: -1n })).rejects.toThrow(/`expectRevision`/);
      await expect(cfg.set('k', 1, { expectRevision: 5 as unknown as bigint })).rejects.toThrow(
        /`expectRevision`/,
      );
      await expect(cfg.set('k', 1, { timeoutMs: Number.NaN })).rejects.toThrow(/`timeoutMs`/);
      await expect(cfg.delete('')).rejects.toThrow(/`key`/);
      await expect(cfg.delete('k', { signal: {} as AbortSignal })).rejects.toThrow(/`signal`/);
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      expect(coord.watchHub.watcherCount).toBe(watchers);
    } finally {
      for (const spy of spies) spy.mockRestore();
      await cfg.close();
    }
  });

  it('set after close is rejected', async () => {
    const cfg = await coord.config('closed/config/');
    await cfg.close();
    await expect(cfg.set('k', 1)).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
