/**
 * Acceptance 3: validation through a Standard Schema validator (zod 4), defaults, the last valid value
 * kept through invalid updates, asynchronous validators applied in revision order.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { ConfigValidationError } from '../../src/config/index.js';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

const AppConfig = z.object({
  db: z.object({ url: z.string().url(), pool: z.number().int().positive() }),
  debug: z.boolean().default(false),
});

describe('WatchedConfig: schema', () => {
  const etcd = useSharedEtcd('config-schema');
  let coord: Coordinator;
  const full = (k: string) => `${etcd.prefix}${k}`;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('typed value (defaults merged under etcd); an invalid update emits `invalid` and keeps the value; a later valid one applies', async () => {
    await etcd.admin.put(full('typed/config/db/url')).value('postgres://db:5432/app');
    const cfg = await coord.config('typed/config/', { schema: AppConfig, defaults: { db: { pool: 10 } } });
    try {
      expectTypeOf(cfg.value).toEqualTypeOf<{ db: { url: string; pool: number }; debug: boolean }>();
      expect(cfg.value).toEqual({ db: { url: 'postgres://db:5432/app', pool: 10 }, debug: false });

      const events: string[] = [];
      let invalid: { issues: readonly StandardSchemaV1.Issue[]; raw: unknown; revision: bigint } | undefined;
      cfg.on('change', (next, prev) => events.push(`change ${prev.db.pool}->${next.db.pool}`));
      cfg.on('invalid', (issues, raw, info) => {
        events.push('invalid');
        invalid = { issues, raw, revision: info.revision };
      });

      const bad = await etcd.admin.put(full('typed/config/db/pool')).value('many').exec();
      await waitFor(() => cfg.revision >= BigInt(bad.header.revision));
      expect(events).toEqual(['invalid']);
      expect(invalid?.revision).toBe(BigInt(bad.header.revision));
      expect(invalid?.issues[0]?.path?.map((p) => (typeof p === 'object' ? p.key : p))).toEqual([
        'db',
        'pool',
      ]);
      expect(invalid?.raw).toEqual({ db: { url: 'postgres://db:5432/app', pool: 'many' } });
      expect(cfg.value.db.pool).toBe(10);

      await etcd.admin.put(full('typed/config/db/pool')).value('20');
      await waitFor(() => cfg.value.db.pool === 20);
      // prev is the last VALID value, not the rejected one.
      expect(events).toEqual(['invalid', 'change 10->20']);
    } finally {
      await cfg.close();
    }
  });

  it('a config that is invalid on load is a ConfigValidationError with the issues; nothing stays open', async () => {
    await etcd.admin.put(full('bad/config/db/url')).value('not a url');
    const watchers = coord.watchHub.watcherCount;
    const attempt = coord.config('bad/config/', { schema: AppConfig });
    await expect(attempt).rejects.toBeInstanceOf(ConfigValidationError);
    await expect(attempt).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      raw: { db: { url: 'not a url' } },
    });
    await expect(attempt).rejects.toThrow(/db\.url/);
    expect(coord.watchHub.watcherCount).toBe(watchers);
  });

  it('an asynchronous validator: updates are still applied one revision at a time, in order', async () => {
    const seen: number[] = [];
    const slow: StandardSchemaV1<unknown, { n: number }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => {
          const n = (value as { n?: unknown }).n ?? 0;
          await sleep(Math.floor(Math.random() * 20));
          return typeof n === 'number' ? { value: { n } } : { issues: [{ message: 'n must be a number' }] };
        },
      },
    };
    const cfg = await coord.config('async/config/', { schema: slow });
    cfg.on('change', (next) => seen.push(next.n));
    try {
      for (let i = 1; i <= 10; i++) await etcd.admin.put(full('async/config/n')).value(String(i));
      await waitFor(() => cfg.value.n === 10);
      expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await cfg.close();
    }
  });

  it('a listener that throws is reported as `error` and does not stop later updates', async () => {
    const cfg = await coord.config('throws/config/');
    const errors: Error[] = [];
    cfg.on('error', (err) => errors.push(err));
    cfg.once('change', () => {
      throw new Error('listener bug');
    });
    try {
      await etcd.admin.put(full('throws/config/a')).value('1');
      await etcd.admin.put(full('throws/config/a')).value('2');
      await waitFor(() => (cfg.value as { a?: number }).a === 2);
      expect(errors.map((e) => e.message)).toEqual(['listener bug']);
    } finally {
      await cfg.close();
    }
  });
});
