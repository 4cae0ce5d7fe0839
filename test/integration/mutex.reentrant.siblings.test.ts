/**
 * Found by the breaker (issue 25): `lock()` of a reentrant mutex used `AsyncLocalStorage.enterWith` in
 * the synchronous part of the caller's async function — the *caller's caller's* context. Every sibling
 * task that parent started later (a second worker, the next interval tick, a withLock) inherited the
 * holding and shared the lock: mutual exclusion broken inside one process. Each case counts how many
 * tasks are inside the critical section at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('reentrant mutex: sibling tasks of one parent never share the lock', () => {
  const etcd = useSharedEtcd('mutex-reentrant-siblings');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  /** Counts tasks inside the critical section; `max` is the most seen at once. */
  function section() {
    const s = {
      inside: 0,
      max: 0,
      async enter(ms: number) {
        s.inside++;
        s.max = Math.max(s.max, s.inside);
        await sleep(ms);
        s.inside--;
      },
    };
    return s;
  }

  it('two sibling workers started by the same parent', async () => {
    const m = coord.mutex('sib', { reentrant: true });
    const s = section();
    const worker = async () => {
      const l = await m.lock({ timeoutMs: 5000 });
      await s.enter(400);
      await l.unlock();
    };
    const a = worker(); // an independent task, like a request handler
    while (s.inside === 0) await sleep(10); // A holds now
    const b = worker(); // a sibling, not started by A
    await Promise.all([a, b]);
    expect(s.max).toBe(1);
  });

  it('setInterval ticks (independent runs of one job)', async () => {
    const m = coord.mutex('tick', { reentrant: true });
    const s = section();
    const done: Promise<void>[] = [];
    const job = async () => {
      const l = await m.lock({ timeoutMs: 5000 });
      await s.enter(250);
      await l.unlock();
    };
    await new Promise<void>((resolve) => {
      let runs = 0;
      const t = setInterval(() => {
        done.push(job());
        if (++runs === 4) {
          clearInterval(t);
          resolve();
        }
      }, 100);
    });
    await Promise.all(done);
    expect(s.max).toBe(1);
  });

  it('a withLock from a sibling started after a bare lock() was granted', async () => {
    const m = coord.mutex('sibwl', { reentrant: true });
    const s = section();
    const a = (async () => {
      const l = await m.lock({ timeoutMs: 5000 });
      await s.enter(300);
      await l.unlock();
    })();
    while (s.inside === 0) await sleep(10);
    const b = m.withLock(() => s.enter(300), { timeoutMs: 5000 });
    await Promise.all([a, b]);
    expect(s.max).toBe(1);
  });

  it('negative control: tasks started inside one withLock do share it (that is the scope)', async () => {
    const m = coord.mutex('scope', { reentrant: true });
    const s = section();
    await m.withLock(async () => {
      await Promise.all([m.withLock(() => s.enter(200)), m.withLock(() => s.enter(200))]);
    });
    expect(s.max).toBe(2);
  });
});
