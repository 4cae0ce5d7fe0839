/**
 * Issue 25: `coord.multiLock(names)` takes several mutexes all-or-nothing, on the mutex's own key layout
 * `<name>/<leaseId hex>`: it excludes against a plain `coord.mutex(name)` holder and `etcdctl lock`, a
 * timeout or a refusal leaves no key behind, and a lost lease aborts the handle's signal.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { leaseHex } from '../../src/core/keys.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('multiLock', () => {
  const etcd = useSharedEtcd('multilock');
  let coord: Coordinator;
  let other: Coordinator;
  beforeAll(async () => {
    const opts = { endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 };
    [coord, other] = await Promise.all([connect(opts), connect(opts)]);
  });
  afterAll(async () => {
    await Promise.all([coord.close(), other.close()]);
  });

  const keysUnder = async (name: string) =>
    (await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys()).map((k) =>
      k.slice(etcd.prefix.length),
    );

  it('bad input is named before any request; nothing is written', async () => {
    const bad: [unknown, RegExp][] = [
      [[], /`names`/],
      [['x1', 'x1'], /`names`.*"x1" twice/],
      [['x2', ''], /`names\[1\]`/],
      [['x3', 'a\0b'], /`names\[1\]`/],
      ['x4', /`names`/],
      [Array.from({ length: 65 }, (_, i) => `x5-${i}`), /`names`.*at most 64/],
    ];
    for (const [names, message] of bad) {
      expect(() => coord.multiLock(names as string[])).toThrow(message);
    }
    expect(() => coord.multiLock(['x6'], null as never)).toThrow(/`opts`/);
    const ml = coord.multiLock(['x7']);
    await expect(ml.lock({ timeoutMs: -1 })).rejects.toThrow(/`timeoutMs`/);
    await expect(ml.withLock('nope' as never)).rejects.toThrow(/`fn`/);
    expect(await etcd.admin.getAll().prefix(etcd.prefix).keys()).toEqual([]);
  });

  it('an uncontended lock holds every name at one create revision; unlock removes every key', async () => {
    const ml = coord.multiLock(['u/c', 'u/a', 'u/b']);
    expect(ml.names).toEqual(['u/a', 'u/b', 'u/c']);
    const held = await ml.lock({ timeoutMs: 5000 });
    const lease = leaseHex(held.leaseId);
    expect([...held.fencingTokens.keys()]).toEqual(['u/a', 'u/b', 'u/c']);
    expect(new Set(held.fencingTokens.values()).size).toBe(1);
    for (const name of ml.names) {
      expect(await keysUnder(name)).toEqual([`${name}/${lease}`]);
      expect((await other.mutex(name).holder())?.fencingToken).toBe(held.fencingTokens.get(name));
    }
    expect(held.held).toBe(true);
    await held.unlock();
    expect(held.signal.aborted).toBe(true);
    await held.unlock(); // idempotent
    for (const name of ml.names) expect(await keysUnder(name)).toEqual([]);
    // await using, and withLock
    {
      await using again = await ml.lock();
      expect(again.held).toBe(true);
    }
    expect(await keysUnder('u/a')).toEqual([]);
    expect(await ml.withLock((h) => h.fencingTokens.size)).toBe(3);
    expect(await keysUnder('u/b')).toEqual([]);
  });

  it('a plain mutex holder of one name excludes; a timeout and a refused try leave no key of ours', async () => {
    const plain = await other.mutex('p/b').lock();
    const ml = coord.multiLock(['p/a', 'p/b', 'p/c']);
    try {
      expect(await ml.tryLock()).toBeNull();
      await expect(ml.lock({ timeoutMs: 400 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
      expect(await keysUnder('p/a')).toEqual([]);
      expect(await keysUnder('p/b')).toEqual([plain.key]);
      expect(await keysUnder('p/c')).toEqual([]);
      const ac = new AbortController();
      const aborted = ml.lock({ signal: ac.signal });
      await waitFor(async () => (await keysUnder('p/a')).length === 1 || undefined);
      ac.abort();
      await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await keysUnder('p/a')).toEqual([]);

      // A waiter queued in every name gets all of them when the plain holder unlocks, not before.
      let granted = false;
      const waiting = ml.lock({ timeoutMs: 10_000 }).then((h) => ((granted = true), h));
      await waitFor(async () => (await keysUnder('p/c')).length === 1 || undefined);
      await sleep(300);
      expect(granted).toBe(false);
      await plain.unlock();
      const held = await waiting;
      // …and while it holds, a plain mutex on that name waits.
      expect(await other.mutex('p/b').tryLock()).toBeNull();
      await expect(other.mutex('p/b').lock({ timeoutMs: 300 })).rejects.toMatchObject({
        code: 'LOCK_TIMEOUT',
      });
      await held.unlock();
      const after = await other.mutex('p/b').tryLock();
      expect(after).not.toBeNull();
      await after!.unlock();
    } finally {
      await plain.unlock();
    }
  });

  it('excludes against `etcdctl lock` on one of the names', async () => {
    const child = spawn(
      'etcdctl',
      [
        `--endpoints=${etcd.endpoints.join(',')}`,
        'lock',
        `${etcd.prefix}e/b`,
        '--',
        'sh',
        '-c',
        'echo in; sleep 2; echo out',
      ],
      { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: { line: string; at: number }[] = [];
    createInterface({ input: child.stdout }).on('line', (line) =>
      lines.push({ line, at: performance.now() }),
    );
    const seen = (text: string) =>
      waitFor(() => lines.find((l) => l.line === text)?.at, {
        timeoutMs: 15_000,
        message: `etcdctl: ${text}`,
      });
    try {
      await seen('in');
      const ml = coord.multiLock(['e/a', 'e/b']);
      expect(await ml.tryLock()).toBeNull();
      const held = await ml.lock({ timeoutMs: 15_000 });
      const grantedAt = performance.now();
      expect(grantedAt).toBeGreaterThan((await seen('out'))!);
      await held.unlock();
    } finally {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }
  });

  it('while queued: a waiter key deleted → LOCK_LOST, the lease revoked → SESSION_EXPIRED; no key is left', async () => {
    const plain = await other.mutex('w/b').lock();
    try {
      const ml = coord.multiLock(['w/a', 'w/b']);
      const waiting = ml.lock({ timeoutMs: 10_000 });
      await waitFor(async () => (await keysUnder('w/b')).length === 2 || undefined);
      const mine = (await keysUnder('w/a'))[0]!;
      await etcd.admin.delete().key(`${etcd.prefix}${mine}`);
      await expect(waiting).rejects.toMatchObject({ code: 'LOCK_LOST' });
      expect(await keysUnder('w/a')).toEqual([]);
      expect(await keysUnder('w/b')).toEqual([plain.key]);

      const session = await coord.newSession();
      const queued = coord.multiLock(['w/a', 'w/b'], { session }).lock({ timeoutMs: 10_000 });
      await waitFor(async () => (await keysUnder('w/b')).length === 2 || undefined);
      await etcd.admin.leaseClient.leaseRevoke({ ID: session.leaseId.toString() });
      await expect(queued).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
      expect(await keysUnder('w/a')).toEqual([]);
      expect(await keysUnder('w/b')).toEqual([plain.key]);
    } finally {
      await plain.unlock();
    }
  });

  it('a revoked lease aborts the handle’s signal with LOCK_LOST', async () => {
    const session = await coord.newSession();
    const held = await coord.multiLock(['r/a', 'r/b'], { session }).lock({ timeoutMs: 5000 });
    const lost = new Promise<unknown>((resolve) =>
      held.signal.addEventListener('abort', () => resolve(held.signal.reason), { once: true }),
    );
    const t0 = performance.now();
    await etcd.admin.leaseClient.leaseRevoke({ ID: held.leaseId.toString() });
    await expect(lost).resolves.toMatchObject({ code: 'LOCK_LOST' });
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(held.held).toBe(false);
    await held.unlock().catch(() => undefined);
    expect(await keysUnder('r/a')).toEqual([]);
  });

  it('a key deleted by someone else aborts the signal; the other names are released by unlock()', async () => {
    const held = await coord.multiLock(['d/a', 'd/b']).lock({ timeoutMs: 5000 });
    await etcd.admin.delete().key(held.locks.get('d/b')!.etcdKey);
    await waitFor(() => held.signal.aborted || undefined, { message: 'signal aborted' });
    expect(held.signal.reason).toMatchObject({ code: 'LOCK_LOST' });
    await held.unlock();
    expect(await keysUnder('d/a')).toEqual([]);
  });
});
