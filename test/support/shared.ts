/**
 * Helpers for test files: the shared etcd from global-setup, per-suite key prefixes, private
 * clusters for fault tests, polling assertions and worker processes.
 *
 * @example
 * describe('mutex fairness', () => {
 *   const etcd = useSharedEtcd('mutex-fair');
 *   it('grants in order', async () => {
 *     await etcd.admin.put(`${etcd.prefix}k`).value('v');
 *   });
 * });
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, inject } from 'vitest';
import { startEtcd, type EtcdCluster, type StartEtcdOptions } from './etcd.js';

export { spawnNode, type ChildExit, type ChildHandle } from './node-child.js';

/**
 * The shared etcd's client endpoints, provided by global-setup.
 *
 * @throws {Error} outside a vitest run with test/support/global-setup.ts configured.
 */
export function sharedEndpoints(): string[] {
  const endpoints = inject('etcdEndpoints');
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new Error("no shared etcd: is 'test/support/global-setup.ts' in vitest's globalSetup?");
  }
  return endpoints;
}

/** A key prefix no other test uses: `t-<label>-<8 hex>/`. */
export function uniquePrefix(label: string): string {
  return `t-${label}-${randomBytes(4).toString('hex')}/`;
}

/**
 * Gives the calling `describe` a unique prefix on the shared etcd and an admin client (created in
 * `beforeAll`); `afterAll` deletes ONLY that prefix and closes the client.
 *
 * @throws {Error} when `admin` is read outside the suite's hooks and tests.
 */
export function useSharedEtcd(label: string): { endpoints: string[]; prefix: string; admin: Etcd3 } {
  const endpoints = sharedEndpoints();
  const prefix = uniquePrefix(label);
  let admin: Etcd3 | undefined;
  beforeAll(() => {
    admin = new Etcd3({ hosts: endpoints });
  });
  afterAll(async () => {
    const client = admin;
    admin = undefined;
    if (client === undefined) return;
    try {
      await client.delete().prefix(prefix).exec();
    } finally {
      client.close();
    }
  });
  return {
    endpoints,
    prefix,
    get admin(): Etcd3 {
      if (admin === undefined)
        throw new Error(`useSharedEtcd('${label}'): admin is only available inside the suite`);
      return admin;
    },
  };
}

/**
 * Starts a private etcd (`startEtcd(opts)`) in `beforeAll` and stops it in `afterAll`, which
 * vitest runs even when tests fail. Fault tests use this, so they can kill and pause members.
 */
export function usePrivateEtcd(opts?: StartEtcdOptions): { readonly cluster: EtcdCluster } {
  let cluster: EtcdCluster | undefined;
  beforeAll(async () => {
    cluster = await startEtcd(opts);
  });
  afterAll(async () => {
    await cluster?.stop();
    cluster = undefined;
  });
  return {
    get cluster(): EtcdCluster {
      if (cluster === undefined) throw new Error('usePrivateEtcd: the cluster exists only inside the suite');
      return cluster;
    },
  };
}

/**
 * Polls `fn` until it returns a truthy value (which it resolves with). Errors thrown by `fn` count
 * as "not yet". For TEST assertions only: library code must wait on watches, not poll.
 *
 * @throws {Error} after `timeoutMs` (default 10 s), naming `message` and the last error or value.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50, message = 'condition' } = opts;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : String(last);
      throw new Error(`waitFor: ${message} not met within ${timeoutMs} ms (last: ${detail})`, {
        cause: last,
      });
    }
    await sleep(intervalMs);
  }
}
