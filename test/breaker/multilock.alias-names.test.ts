/**
 * Breaker b-locks: two distinct JS strings that encode to the SAME etcd key (lone surrogates both become
 * U+FFFD in UTF-8) pass `sortedNames`' distinct check. multiLock must refuse them before any request
 * (InvalidArgumentError naming `names`), or at least settle; instead lock() waits for its own in-process
 * turn on the same key (self-deadlock) and tryLock() ...
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('breaker: multiLock names that alias one etcd key', () => {
  const etcd = useSharedEtcd('b-ml-alias');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({
      endpoints: etcd.endpoints,
      namespace: etcd.prefix,
      ttlSeconds: 5,
      requestTimeoutMs: 2000,
    });
  });
  afterAll(async () => {
    await coord.close();
  });

  const a = 'acct\uD800';
  const b = 'acct\uDC00';

  it('sanity: the two names are one etcd key', () => {
    expect(a).not.toBe(b);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('multiLock([a, b]) with aliasing names is refused before any request (names distinct in etcd)', async () => {
    let err: unknown;
    try {
      const ml = coord.multiLock([a, b]);
      const t0 = Date.now();
      const held = await ml.lock({ timeoutMs: 3000 }).catch((e: unknown) => e);
      err = held;
      console.log('lock() settled after', Date.now() - t0, 'ms with', held);
      if (held && typeof (held as { unlock?: unknown }).unlock === 'function')
        await (held as { unlock(): Promise<void> }).unlock();
    } catch (e) {
      err = e;
    }
    expect(String(err)).toMatch(/names/);
    expect((err as Error).name).toMatch(/InvalidArgument|TypeError/);
    expect(
      (await etcd.admin.getAll().prefix(etcd.prefix).keys()).filter((k) => !k.includes('etcd-coord/epoch')),
    ).toEqual([]);
  }, 20_000);

  it('tryLock() with aliasing names settles within requestTimeoutMs and writes nothing', async () => {
    const t0 = Date.now();
    try {
      const ml = coord.multiLock([`t${a}`, `t${b}`]);
      const r = await Promise.race([
        ml.tryLock().then(
          (h) => ({ h }),
          (e: unknown) => ({ e }),
        ),
        new Promise((res) => setTimeout(() => res({ hung: true }), 8000)),
      ]);
      console.log('tryLock settled after', Date.now() - t0, 'ms with', r);
      expect(r).not.toHaveProperty('hung');
      expect(r).not.toHaveProperty('h');
    } catch (e) {
      console.log('threw', e); // refused up front (InvalidArgumentError) is the correct outcome
    }
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(
      (await etcd.admin.getAll().prefix(etcd.prefix).keys()).filter((k) => !k.includes('etcd-coord/epoch')),
    ).toEqual([]);
  }, 20_000);

  it('no recipe takes such a name: a plain mutex on it is refused too (nothing aliases, nothing can leak)', () => {
    expect(() => coord.mutex(`u${a}`)).toThrow(/well-formed Unicode/);
    expect(() => coord.election(`u${b}`)).toThrow(/well-formed Unicode/);
    // A valid astral character (a surrogate pair) is fine.
    expect(() => coord.mutex('acct\u{1F600}')).not.toThrow();
  });
});
