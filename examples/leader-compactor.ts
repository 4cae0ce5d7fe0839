/**
 * A leader-guarded background job: every replica runs this program, exactly one of them (the leader)
 * compacts etcd's history every `intervalSeconds`, keeping the last `KEEP_REVISIONS` revisions. When the
 * leader stops or loses its lease, another replica takes over within one watch notification (or the TTL).
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/leader-compactor.ts [replica-name] [intervalSeconds]
 *
 * With EXAMPLE_SMOKE=1 it starts two replicas in this one process, lets the first lead for a moment,
 * shuts it down to show the handover, and exits; it then only logs the compaction it would do (the smoke
 * etcd is shared with other programs that still need its history).
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, runAsLeader, type Coordinator } from '../src/index.js';

const smoke = process.env.EXAMPLE_SMOKE === '1';
const KEEP_REVISIONS = 10_000n;
const intervalMs = Number(process.argv[3] ?? (smoke ? 0.3 : 60)) * 1000;

async function compactOnce(coord: Coordinator, replica: string, fencingToken: bigint): Promise<void> {
  const status = await coord.client.maintenance.status();
  const current = BigInt(status.header.revision);
  const target = current - KEEP_REVISIONS;
  if (target <= 0n) {
    console.log(`[${replica}] leader (term ${fencingToken}): revision ${current}, nothing to compact yet`);
    return;
  }
  if (smoke) {
    console.log(`[${replica}] leader (term ${fencingToken}): would compact at ${target} (dry run)`);
    return;
  }
  await coord.client.kv.compact({ revision: target.toString(), physical: false });
  console.log(`[${replica}] leader (term ${fencingToken}): compacted at ${target}`);
}

/** One replica: stands for leader until `stop` aborts; compacts while it leads. */
async function replica(coord: Coordinator, name: string, stop: AbortSignal): Promise<void> {
  await runAsLeader(
    coord,
    'examples/compactor',
    async (signal, term) => {
      console.log(`[${name}] elected (fencing token ${term.fencingToken})`);
      while (!signal.aborted) {
        await compactOnce(coord, name, term.fencingToken);
        await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
      }
      console.log(`[${name}] no longer leader: ${(signal.reason as Error).message}`);
    },
    { value: name, repeat: true, signal: stop },
  ).catch((err: unknown) => {
    if (!stop.aborted) throw err;
  });
}

const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());

if (!smoke) {
  const coord = await connect({ ttlSeconds: 10 });
  try {
    await replica(coord, process.argv[2] ?? `${hostname()}:${process.pid}`, stop.signal);
  } finally {
    await coord.close(); // resigns, so another replica takes over at once
  }
} else {
  const namespace = `examples/leader-compactor-${process.pid}/`;
  const [one, two] = [
    await connect({ namespace, ttlSeconds: 2 }),
    await connect({ namespace, ttlSeconds: 2 }),
  ];
  const stopOne = new AbortController();
  try {
    const first = replica(one, 'replica-1', stopOne.signal);
    await sleep(200);
    const second = replica(two, 'replica-2', stop.signal);
    await sleep(800);
    console.log('[replica-1] shutting down');
    stopOne.abort(new Error('replica-1 is shutting down'));
    await first;
    await sleep(800);
    stop.abort(new Error('the example is over'));
    await second;
    const leader = await two.election('examples/compactor').leader();
    console.log(`leader after shutdown: ${leader ? leader.value.toString() : 'none'}`);
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
}
