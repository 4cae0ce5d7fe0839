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

  it('bad input is named', async () => {
    await expect(
      askerSide.mutex('x').requestRelease({ signal: 'no' as unknown as AbortSignal }),
    ).rejects.toThrow(/signal/);
  });
});
