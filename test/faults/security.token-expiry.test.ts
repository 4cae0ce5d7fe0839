import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { refreshAuthToken } from '../../src/core/auth.js';
import { FaultProxy } from '../support/proxy.js';
import { waitFor } from '../support/shared.js';
import { useSecureEtcd } from '../support/secure-etcd.js';

const TOKEN_TTL_S = 2;

/**
 * Acceptance 2: with a 2 s auth-token TTL, a lock holder, a leader, a registration and a config watcher
 * keep working for more than 3× the TTL. The holder's client makes no unary call for seconds (its token
 * expires), then opens new watchers on its old stream and has both streams cut, so watch creates and
 * stream reopens meet the expired token.
 */
describe.each(['simple', 'jwt'] as const)(
  'security: recipes keep working across %s auth-token expiry',
  (authToken) => {
    const secure = useSecureEtcd({ tls: true, auth: true, authTokenTtlSeconds: TOKEN_TTL_S, authToken });

    it('lock, leadership, registration and config watch survive 3× the token TTL, streams re-authenticate', async () => {
      const { etcd } = secure;
      const proxy = await FaultProxy.start(etcd.endpoint);
      const login = {
        tls: etcd.tlsFor(),
        auth: { username: 'app1', password: etcd.passwords.app1 },
        namespace: 'app1/expiry/',
        ttlSeconds: 2,
      };
      const holder = await connect({ ...login, endpoints: [`https://${proxy.endpoint}`] });
      const writer = await connect({ ...login, endpoints: [etcd.url] });
      const events: string[] = [];
      const authBefore = await etcd.grpcCalls('Authenticate');
      try {
        holder.session.on('lost', () => events.push('session lost'));
        const lock = await holder.mutex('jobs/a').lock({ timeoutMs: 10_000 });
        lock.signal.addEventListener('abort', () => events.push('lock lost'));
        const term = await holder.election('svc/leader').campaign('holder', { timeoutMs: 10_000 });
        term.signal.addEventListener('abort', () => events.push('leadership lost'));
        const reg = await holder.registry('payments').register({ id: 'h1', address: '10.0.0.1:1' });
        reg.on('lost', () => events.push('registration lost'));
        const cfg = await holder.config('cfg/');
        const seen: number[] = [];
        cfg.on('change', (next) => seen.push(Number((next as { n?: unknown }).n)));
        const cfgWriter = await writer.config('cfg/');

        let written = 0;
        const write = async () => {
          written++;
          await cfgWriter.set('n', written);
        };
        // Past the TTL with no unary call from the holder: its cached token is now expired.
        for (let i = 0; i < 4; i++) {
          await sleep(TOKEN_TTL_S * 400);
          await write();
        }
        // New watchers on the holder's old stream (opened with the expired token), each read first by a
        // unary call that etcd3 re-authenticates on its own.
        const svc = await holder.discovery('payments');
        expect(svc.get('h1')).toBeDefined();
        const waiter = writer.mutex('jobs/a').lock({ timeoutMs: 30_000 });
        await sleep(TOKEN_TTL_S * 1000 + 500);
        // Cut the holder's connections: the keepalive and watch streams reopen with whatever token is cached.
        proxy.reset();
        for (let i = 0; i < 4; i++) {
          await sleep(TOKEN_TTL_S * 400);
          await write();
        }
        await sleep(TOKEN_TTL_S * 1000 + 500);
        await write();
        await waitFor(() => seen.at(-1) === written, {
          timeoutMs: 15_000,
          message: 'last config update seen',
        });

        expect(events).toEqual([]);
        expect(seen).toEqual(Array.from({ length: written }, (_, i) => i + 1));
        expect(lock.signal.aborted).toBe(false);
        expect(term.isLeader).toBe(true);
        expect(reg.registered).toBe(true);
        expect((await writer.election('svc/leader').leader())?.value.toString()).toBe('holder');
        // Bounded: a handful of stream replacements and logins over ~12 s (6 token lifetimes, 2 clients), not a loop.
        expect(holder.watchHub.reconnects).toBeLessThan(20);
        const logins = (await etcd.grpcCalls('Authenticate')) - authBefore;
        expect(logins).toBeLessThan(40);

        // Unary calls after a long idle: the lock hands over.
        await lock.unlock();
        await (await waiter).unlock();
        await svc.close();
        await Promise.all([cfg.close(), cfgWriter.close()]);
      } finally {
        await Promise.all([holder.close(), writer.close()]);
        await proxy.close();
      }
    });

    it('a token that can no longer be renewed (password changed): watchers fail with a clear error, no re-auth loop', async () => {
      const { etcd } = secure;
      const coord = await connect({
        endpoints: [etcd.url],
        tls: etcd.tlsFor(),
        auth: { username: 'app2', password: etcd.passwords.app2 },
        namespace: 'app2/renew/',
        ttlSeconds: 2,
      });
      try {
        const cfg = await coord.config('cfg/'); // opens the watch stream with the current token
        // Changing the password revokes the user's tokens at once, and re-authenticating fails from now on.
        await etcd.admin().user('app2').setPassword(`changed-${etcd.passwords.app2}`);
        const reconnectsBefore = coord.watchHub.reconnects;
        const errors: Error[] = [];
        const sub = coord.watchHub.watch(
          { key: Buffer.from('app2/renew/other') },
          { onBatch: () => undefined, onError: (err) => errors.push(err) },
        );
        const err = await sub.ready.then(
          () => undefined,
          (e: unknown) => e,
        );
        sub.close();
        expect((err as Error & { code?: string }).code).toBe('PERMISSION_DENIED');
        // Refused for the expired token, re-authentication fails: the subscriber is told, no retry loop.
        expect((err as Error).message).toMatch(
          /^watch: etcd authentication failed \(wrong user name or password\)/,
        );
        expect(errors).toHaveLength(1);
        expect(coord.watchHub.reconnects - reconnectsBefore).toBeLessThanOrEqual(1);
        // Unary calls say what is wrong.
        const writeErr = await cfg.set('k', 1).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((writeErr as Error).message).toMatch(/authentication failed/);
        await cfg.close();
      } finally {
        await coord.close();
      }
    });

    it('an RBAC change elsewhere (a new user) leaves running clients working: unary calls and new watchers', async () => {
      const { etcd } = secure;
      const login = {
        endpoints: [etcd.url],
        tls: etcd.tlsFor(),
        auth: { username: 'app1', password: etcd.passwords.app1 },
        namespace: 'app1/rbac/',
        ttlSeconds: 2,
      };
      const coord = await connect(login);
      const writer = await connect(login);
      try {
        const cfg = await coord.config('cfg/');
        const writerCfg = await writer.config('cfg/');
        const errors: Error[] = [];
        cfg.on('error', (err) => errors.push(err));
        expect(await coord.counter('c').increment()).toBe(1n);
        // Every change to users or roles bumps etcd's auth revision; JWT tokens issued before are then "old".
        await etcd.admin().user(`other-${authToken}`).create('x');
        expect(await coord.counter('c').increment()).toBe(2n);
        const svc = await coord.discovery('payments'); // a new watcher on the stream opened before the change
        await writerCfg.set('v', 1);
        await waitFor(() => (cfg.value as { v?: unknown }).v === 1, { message: 'config update delivered' });
        await svc.close();
        await Promise.all([cfg.close(), writerCfg.close()]);
        expect(errors).toEqual([]);
      } finally {
        await Promise.all([coord.close(), writer.close()]);
      }
    });

    it('refreshAuthToken: a burst of refreshes after expiry is one login', async () => {
      const { etcd } = secure;
      const coord = await connect({
        endpoints: [etcd.url],
        tls: etcd.tlsFor(),
        auth: { username: 'app1', password: etcd.passwords.app1 },
        namespace: 'app1/burst/',
        ttlSeconds: 2,
      });
      try {
        await coord.counter('c').increment();
        await sleep(TOKEN_TTL_S * 1000 + 1500); // the cached token expires
        const before = await etcd.grpcCalls('Authenticate');
        await Promise.all(
          Array.from({ length: 20 }, () => refreshAuthToken(coord.client, Buffer.from('app1/burst/c'))),
        );
        expect((await etcd.grpcCalls('Authenticate')) - before).toBe(1);
        // The fresh token serves the next calls without another login.
        expect(await coord.counter('c').increment()).toBe(2n);
        expect((await etcd.grpcCalls('Authenticate')) - before).toBe(1);
      } finally {
        await coord.close();
      }
    });
  },
);
