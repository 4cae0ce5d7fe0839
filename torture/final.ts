/**
 * What the runner reads from etcd directly (not through a worker) at the end of a campaign: the final
 * state the checkers compare with, and the quiesce-time probes (can every lock and election name be
 * taken within one TTL?).
 *
 * @module
 */
import type { Coordinator } from '../src/index.js';
import type { FinalState } from './history.js';
import {
  ATOMIC_NAME,
  CONFIG_PREFIX,
  COUNTER_NAME,
  DEAD_LETTER,
  ELECTION_NAME,
  HOLDER_PREFIXES,
  LEADER_NAME,
  MUTEX_COUNT_KEY,
  MUTEX_NAME,
  QUEUE,
  QUEUE_OPTIONS,
  SERVICE,
} from './names.js';

/** The workers' session TTL: a name whose holder died is free again within it. */
export const WORKER_TTL_MS = 2_000;

export async function readFinal(admin: Coordinator): Promise<FinalState> {
  const rangeOf = async (prefix: string): Promise<Array<{ key: string; value: string; leaseId: bigint }>> => {
    const out: Array<{ key: string; value: string; leaseId: bigint }> = [];
    for await (const kv of admin.range(prefix)) {
      out.push({
        key: kv.key.toString().slice(prefix.length),
        value: kv.value.toString(),
        leaseId: kv.leaseId,
      });
    }
    return out;
  };
  const mutex = await rangeOf(MUTEX_COUNT_KEY);
  const config: Record<string, unknown> = {};
  for (const { key, value } of await rangeOf(CONFIG_PREFIX)) config[key] = decode(value);
  const holders: FinalState['holders'] = [];
  for (const prefix of HOLDER_PREFIXES) {
    for (const kv of await rangeOf(prefix)) {
      // `once` keeps its done record (no lease) next to the lock keys: only lease-held keys hold.
      if (kv.leaseId !== 0n) holders.push({ key: prefix + kv.key, leaseId: kv.leaseId.toString(16) });
    }
  }
  return {
    mutexCount: Number(mutex.find((kv) => kv.key === '')?.value ?? 0),
    counter: Number(await admin.counter(COUNTER_NAME).get()),
    atomicCounter: Number(await admin.atomicCounter(ATOMIC_NAME).get()),
    registry: (await rangeOf(`services/${SERVICE}/`)).map((kv) => kv.key).sort(),
    config,
    queueSize: await admin.queue(QUEUE, QUEUE_OPTIONS).size(),
    deadLetterSize: await admin.queue(DEAD_LETTER).size(),
    electionLeader: (await admin.election(ELECTION_NAME).leader())?.key ?? null,
    revision: (await currentRevision(admin)).toString(),
    holders,
  };
}

export async function currentRevision(admin: Coordinator): Promise<bigint> {
  const res = await admin.requester.run(
    'torture revision',
    (o) => admin.client.kv.range({ key: Buffer.from('torture-revision-probe'), keys_only: true }, o),
    {},
  );
  return BigInt(res.header.revision);
}

/**
 * Takes and releases every lock and election name the workers use, each within one TTL (+1 s): after
 * quiesce nobody holds them, and a holder that died is gone within its TTL. A name that cannot be taken
 * is held by a ghost.
 */
export async function probeNames(admin: Coordinator): Promise<NonNullable<FinalState['probes']>> {
  const timeoutMs = WORKER_TTL_MS + 1_000;
  const probe = async (
    name: string,
    take: () => Promise<() => Promise<unknown>>,
  ): Promise<NonNullable<FinalState['probes']>[number]> => {
    const t0 = Date.now();
    try {
      const release = await take();
      const ms = Date.now() - t0;
      await release().catch(() => undefined);
      return { name, ok: true, ms };
    } catch (err) {
      return { name, ok: false, ms: Date.now() - t0, error: String((err as Error)?.message ?? err) };
    }
  };
  return [
    await probe(`mutex ${MUTEX_NAME}`, async () => {
      const l = await admin.mutex(MUTEX_NAME).lock({ timeoutMs });
      return () => l.unlock();
    }),
    await probe(`election ${ELECTION_NAME}`, async () => {
      const t = await admin.election(ELECTION_NAME).campaign('torture-probe', { timeoutMs });
      return () => t.resign();
    }),
    await probe(`election ${LEADER_NAME}`, async () => {
      const t = await admin.election(LEADER_NAME).campaign('torture-probe', { timeoutMs });
      return () => t.resign();
    }),
  ];
}

function decode(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
