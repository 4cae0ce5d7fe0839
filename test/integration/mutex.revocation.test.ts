/**
 * Issue 25: revocation (Curator's `Revoker`). A caller *asks* the holder to release; a `revocable` holder
 * hears it as a `revokeRequested` event and decides; the request dies with that holder (its unlock deletes
 * it), so the next holder is never asked by a stale request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('mutex revocation requests', () => {
  const etcd = useSharedEtcd('mutex-revocation');
  let holderSide: Coordinator;
  let askerSide: Coordinator;
  beforeAll(async () => {
    holderSide = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    askerSide = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await holderSide.close();
    await askerSide.close();
  });
  const revokeKey = (name: string) => `${etcd.prefix}${name}\0revoke`;

  it('a free lock has no one to ask: requestRelease() returns null and writes nothing', async () => {
    expect(await askerSide.mutex('free').requestRelease()).toBeNull();
    expect(await etcd.admin.get(revokeKey('free')).string()).toBeNull();
  });

  it('the revocable holder gets revokeRequested; nothing is released until it decides', async () => {
    const lock = await holderSide.mutex('asked', { revocable: true }).lock();
    let heard = 0;
    lock.on('revokeRequested', () => heard++);
    const asked = await askerSide.mutex('asked').requestRelease();
    expect(asked?.fencingToken).toBe(lock.fencingToken);
    expect(asked?.leaseId).toBe(lock.leaseId);
    await waitFor(() => heard === 1);
    expect(lock.revokeRequested).toBe(true);
    expect(lock.held).toBe(true); // a request, not a break
    expect(await askerSide.mutex('asked').tryLock()).toBeNull();
    await lock.unlock();
    expect(await etcd.admin.get(revokeKey('asked')).string()).toBeNull(); // deleted in the unlock txn
  });

  it('a request made of one holder does not reach the next holder', async () => {
    const first = await holderSide.mutex('handover', { revocable: true }).lock();
    await askerSide.mutex('handover').requestRelease();
    await waitFor(() => first.revokeRequested);
    const nextP = askerSide.mutex('handover', { revocable: true }).lock();
    await first.unlock();
    const next = await nextP;
    let heard = false;
    next.on('revokeRequested', () => (heard = true));
    await new Promise((r) => setTimeout(r, 300)); // a stale request would have been delivered by now
    expect(heard).toBe(false);
    expect(next.revokeRequested).toBe(false);
    await next.unlock();
  });

  it('a holder that is not revocable leaves the request until its lease ends, and no later holder acts on it', async () => {
    // Found by the breaker: the unlock of a holder that never watches the request does not delete it (that
    // would make every user of the name need an RBAC grant on the key). It names that holder's token.
    const owner = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    const first = await owner.mutex('plain').lock();
    await askerSide.mutex('plain').requestRelease();
    await first.unlock();
    expect(await etcd.admin.get(revokeKey('plain')).string()).toBe(first.fencingToken.toString());
    const next = await holderSide.mutex('plain', { revocable: true }).lock();
    let heard = false;
    next.on('revokeRequested', () => (heard = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(heard).toBe(false);
    await owner.close(); // the request's lease ends with the asked holder's session
    expect(await etcd.admin.get(revokeKey('plain')).string()).toBeNull();
    await next.unlock();
  });

  it('bad input is named', async () => {
    await expect(
      askerSide.mutex('x').requestRelease({ signal: 'no' as unknown as AbortSignal }),
    ).rejects.toThrow(/signal/);
    await expect(askerSide.mutex('x').requestRelease(null as never)).rejects.toThrow(/`opts`/);
    await expect(askerSide.mutex('x').holder(null as never)).rejects.toThrow(/`opts`/);
    await expect(askerSide.mutex('x', { reentrant: true }).lock(null as never)).rejects.toThrow(/`opts`/);
    await expect(askerSide.mutex('x').withLock('no' as never)).rejects.toThrow(/`fn`/);
    expect(() => askerSide.mutex('x', { reentrant: 'yes' as never })).toThrow(/`reentrant`/);
    expect(() => askerSide.mutex('x', { revocable: 1 as never })).toThrow(/`revocable`/);
    expect(() => askerSide.mutex('x', null as never)).toThrow(/`opts`/);
    expect(await etcd.admin.getAll().prefix(etcd.prefix).keys()).not.toContain(`${etcd.prefix}x\0revoke`);
  });
});
