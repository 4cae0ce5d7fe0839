/**
 * Breaker b-locks: IdGenerator.next() says each caller waits on the shared reservation "with its own signal
 * and deadline". But the reservation runs under the deadline of the caller that STARTED it
 * (id-generator.ts: `this.#reserve(opts.timeoutMs)`), so a caller with a generous timeoutMs that joins a
 * reservation started by an impatient caller fails as soon as the impatient deadline passes, although etcd
 * answers well within its own.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, useSharedEtcd } from '../support/shared.js';

describe('breaker: idGenerator shared reservation deadline', () => {
  const etcd = useSharedEtcd('b-idgen-deadline');

  it("a patient next() joining an impatient caller's reservation is answered within its own timeoutMs", async () => {
    const proxy = await FaultProxy.start(etcd.endpoints[0]!);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: uniquePrefix('b-idgen-dl'),
      requestTimeoutMs: 5000,
    });
    try {
      const gen = coord.idGenerator('ids', { blockSize: 10 });
      await gen.next(); // connection and marker warm
      for (let i = 0; i < 9; i++) await gen.next(); // block used up
      proxy.delay(300); // etcd answers, slowly (well within 5 s)
      const impatient = gen.next({ timeoutMs: 100 }).then(
        (v) => ({ v }),
        (e: Error) => ({ e: e.name }),
      );
      const patient = gen.next({ timeoutMs: 5000 }).then(
        (v) => ({ v }),
        (e: Error) => ({ e: `${e.name}: ${e.message}` }),
      );
      const [a, b] = await Promise.all([impatient, patient]);
      console.log({ a, b });
      expect(b).toHaveProperty('v');
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  }, 30_000);
});
