/**
 * Breaker b-cron finding F3: "every slot runs exactly once across hosts (clock skew ±1.5 s)" with a
 * `retainMs` the schedule accepted (5.2 s, at the old floor catchUpMs + jitterMs + 5 s). Host A swept records
 * finished more than retainMs ago; host B, its clock 1.5 s slow, restarting, looked back by slot time on its
 * own clock, found no record for slots A had just swept, and ran them again (3/3 runs on the breaker's
 * branch, b-cron 5c0e489). Fixed by the floor: records must outlive the window by a minute, so such a
 * retainMs is refused before anything runs. (At the new floor the scenario needs minutes; the torture
 * profile `cron` checks double runs.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, schedule, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('cron: retainMs leaves room for skew and restarts', () => {
  const etcd = useSharedEtcd('cron-retain');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('the old floor (catchUpMs + jitterMs + 5 s) is refused, naming retainMs; a minute more is accepted', async () => {
    const fn = async () => undefined;
    expect(() => schedule(coord, 'ret', '* * * * * *', fn, { retainMs: 5_200 })).toThrow(/`retainMs`/);
    expect(() => schedule(coord, 'ret', '* * * * * *', fn, { catchUpMs: 10_000, retainMs: 70_000 })).toThrow(
      /`retainMs`/,
    );
    const ok = schedule(coord, 'ret', '* * * * * *', fn, { retainMs: 65_001 });
    await ok.close();
  });
});
