/**
 * Breaker b-locks: bad options to the counter calls. The rule: a TypeError/CoordError NAMING the argument,
 * and nothing written. `checkOptions` (src/counter/options.ts) reads `opts.signal` without checking that
 * `opts` is an object: `null` crashes with "Cannot read properties of null" (no argument named), and a
 * non-object (a string, a number) passes silently — the write goes ahead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('breaker: counter calls with bad opts', () => {
  const etcd = useSharedEtcd('b-counter-opts');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix });
  });
  afterAll(async () => {
    await coord.close();
  });

  const calls: [string, (bad: never) => Promise<unknown>][] = [
    ['atomicCounter.set', (bad) => coord.atomicCounter('c/set').set(5n, bad)],
    ['atomicCounter.trySet', (bad) => coord.atomicCounter('c/tryset').trySet(5n, bad)],
    ['atomicCounter.add', (bad) => coord.atomicCounter('c/add').add(5n, bad)],
    ['atomicCounter.reserve', (bad) => coord.atomicCounter('c/reserve').reserve(5, bad)],
    ['idGenerator.next', (bad) => coord.idGenerator('c/ids').next(bad)],
    ['counter.increment', (bad) => coord.counter('c/inc').increment(bad)],
  ];

  for (const [name, call] of calls) {
    for (const bad of [null, 'fast', 5] as const) {
      it(`${name}(…, ${JSON.stringify(bad)}) is refused naming \`opts\`, nothing written`, async () => {
        const err = await call(bad as never).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, 'the call went ahead').toBeDefined();
        expect(String(err)).toMatch(/`opts`/);
        expect(await etcd.admin.getAll().prefix(`${etcd.prefix}c/`).keys()).toEqual([]);
      });
    }
  }

  it('reserve(n) refuses n outside the documented 1..2^53-1 (a bigint too), naming `n`, nothing written', async () => {
    const err = await coord
      .atomicCounter('c2/reserve-big')
      .reserve(2n ** 53n)
      .then(
        (block) => block,
        (e: unknown) => e,
      );
    console.log('reserve(2n ** 53n) →', err);
    expect(String(err)).toMatch(/`n`/);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}c2/`).keys()).toEqual([]);
  });
});
