import { describe, expect, it } from 'vitest';
import type { CoordError } from '../../src/index.js';
import { connect, PermissionDeniedError } from '../../src/index.js';
import type { WatchBatch } from '../../src/core/watch-hub.js';
import { waitFor } from '../support/shared.js';
import { useSecureEtcd } from '../support/secure-etcd.js';

/** Acceptance 3: the limited user touching app2/ gets PERMISSION_DENIED; its other watchers keep delivering. */
describe('security: permission denied is a clear, contained error', () => {
  const secure = useSecureEtcd({ tls: true, auth: true });

  it('app1 touching app2/: PERMISSION_DENIED naming what it touched; its app1/ watchers keep delivering', async () => {
    const { etcd } = secure;
    // No namespace, so the app1 user can name app2/ keys at all.
    const coord = await connect({
      endpoints: [etcd.url],
      tls: etcd.tlsFor(),
      auth: { username: 'app1', password: etcd.passwords.app1 },
      ttlSeconds: 2,
    });
    const admin = etcd.admin();
    try {
      const cfg = await coord.config('app1/cfg/');
      const seen: unknown[] = [];
      cfg.on('change', (next) => seen.push((next as { v?: unknown }).v));
      const batches: WatchBatch[] = [];
      const own = coord.watchHub.watch(
        { key: Buffer.from('app1/raw'), end: Buffer.from('app1/raw0') },
        { onBatch: (b) => batches.push(b) },
      );
      await own.ready;
      const reconnectsBefore = coord.watchHub.reconnects;

      // A watch on app2/ on the same client (same gRPC stream): only that subscription fails.
      const errors: Error[] = [];
      const denied = coord.watchHub.watch(
        { key: Buffer.from('app2/'), end: Buffer.from('app20') },
        { onBatch: () => undefined, onError: (err) => errors.push(err) },
      );
      const readyErr = await denied.ready.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(readyErr).toBeInstanceOf(PermissionDeniedError);
      expect((readyErr as Error).message).toMatch(/^watch on prefix "app2\/": permission denied/);
      expect(errors).toHaveLength(1);
      denied.close();

      // Unary requests: the recipe's error names the recipe and the key it was about.
      const counterErr = await coord
        .counter('app2/ids')
        .increment()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect((counterErr as CoordError).code).toBe('PERMISSION_DENIED');
      expect((counterErr as Error).message).toContain('app2/ids');
      const lockErr = await coord
        .mutex('app2/lock')
        .lock({ timeoutMs: 5000 })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect((lockErr as CoordError).code).toBe('PERMISSION_DENIED');
      const cfgErr = await coord.config('app2/cfg/').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((cfgErr as CoordError).code).toBe('PERMISSION_DENIED');
      const rangeErr = await (async () => {
        for await (const kv of coord.range('app2/')) void kv;
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((rangeErr as CoordError).code).toBe('PERMISSION_DENIED');

      // The app1 watchers created before the denials still deliver, on the same stream.
      await admin.put('app1/cfg/v').value('1');
      await admin.put('app1/raw').value('x');
      await waitFor(() => seen.includes(1) && batches.length === 1, { message: 'app1 watchers deliver' });
      // …and a new one created after them works too.
      const later: WatchBatch[] = [];
      const next = coord.watchHub.watch(
        { key: Buffer.from('app1/later') },
        { onBatch: (b) => later.push(b) },
      );
      await next.ready;
      await admin.put('app1/later').value('y');
      await waitFor(() => later.length === 1, { message: 'a watcher created after the denial delivers' });
      expect(coord.watchHub.reconnects).toBe(reconnectsBefore);
      own.close();
      next.close();
      await cfg.close();
    } finally {
      await coord.close();
    }
  });

  it('no credentials against an etcd with auth on: PERMISSION_DENIED saying what to give, not a raw gRPC error', async () => {
    const { etcd } = secure;
    // Granting a lease needs no user, so connect() itself succeeds; the first key access says what is missing.
    const coord = await connect({
      endpoints: [etcd.url],
      tls: etcd.tlsFor(),
      namespace: 'app1/',
      ttlSeconds: 2,
    });
    try {
      const err = await coord
        .counter('c')
        .increment()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect((err as Error).message).toMatch(/etcd requires authentication/);
      const sub = coord.watchHub.watch({ key: Buffer.from('app1/x') }, { onBatch: () => undefined });
      const watchErr = await sub.ready.then(
        () => undefined,
        (e: unknown) => e,
      );
      sub.close();
      expect(watchErr).toBeInstanceOf(PermissionDeniedError);
    } finally {
      await coord.close();
    }
  });
});
