/**
 * Breaker b-locks: bad options to the lock handles' unlock/downgrade/holders. Rule: a TypeError/CoordError
 * naming the argument, and nothing changed (the lock still held).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('breaker: lock handles with bad opts', () => {
  const etcd = useSharedEtcd('b-lock-opts');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix });
  });
  afterAll(async () => {
    await coord.close();
  });

  const refused = async (p: () => Promise<unknown>) => {
    let err: unknown;
    try {
      await p();
    } catch (e) {
      err = e;
    }
    return err;
  };

  for (const bad of [null, 'now', 5] as const) {
    it(`multiLock handle unlock(${JSON.stringify(bad)}) names \`opts\` and keeps the locks`, async () => {
      const held = await coord
        .multiLock([`m${String(bad)}/a`, `m${String(bad)}/b`])
        .lock({ timeoutMs: 5000 });
      const err = await refused(() => held.unlock(bad as never));
      const stillHeld = held.held;
      await held.unlock();
      expect(String(err)).toMatch(/`opts`/);
      expect(stillHeld).toBe(true);
    });
    it(`Lock.unlock(${JSON.stringify(bad)}) names \`opts\` and keeps the lock`, async () => {
      const lock = await coord.semaphore(`s${String(bad)}`, 3).acquire({ permits: 2 });
      const err = await refused(() => lock.unlock(bad as never));
      const stillHeld = lock.held;
      await lock.unlock();
      expect(String(err)).toMatch(/`opts`/);
      expect(stillHeld).toBe(true);
    });
  }
});
