/**
 * DoubleBarrier across worker processes. Ordering is proven with etcd revisions, never wall-clock guesses:
 * an admin watch records when each participant key was created and deleted, and each worker writes a marker
 * right after `enter()` / `leave()` returned, whose revision orders that moment against those events.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnNode, useSharedEtcd, waitFor, type ChildHandle } from '../support/shared.js';

const max = (xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a));
const min = (xs: bigint[]) => xs.reduce((a, b) => (b < a ? b : a));

/** Every put (create) and delete of participant keys, by lease hex, with its revision. */
class WaiterLog {
  readonly created = new Map<string, bigint>();
  readonly deleted = new Map<string, bigint>();
  #watcher: Watcher | undefined;

  static async start(admin: Etcd3, prefix: string): Promise<WaiterLog> {
    const log = new WaiterLog();
    const lease = (kv: IKeyValue) => kv.key.toString().slice(prefix.length);
    log.#watcher = await admin.watch().prefix(prefix).create();
    log.#watcher.on('put', (kv) => log.created.set(lease(kv), BigInt(kv.mod_revision)));
    log.#watcher.on('delete', (kv) => log.deleted.set(lease(kv), BigInt(kv.mod_revision)));
    return log;
  }

  async stop(): Promise<void> {
    await this.#watcher?.cancel();
  }
}

describe('DoubleBarrier with worker processes', () => {
  const etcd = useSharedEtcd('dbarrier-proc');
  const workers: ChildHandle[] = [];
  const logs: WaiterLog[] = [];
  let n = 0;

  function worker(name: string, count: number, env: Record<string, string> = {}): ChildHandle {
    const id = `w${n++}`;
    const child = spawnNode('test/workers/barrier-double.ts', [name, String(count), id], {
      env: { ETCD_ENDPOINTS: etcd.endpoints.join(','), COORD_NAMESPACE: etcd.prefix, ...env },
    });
    workers.push(child);
    return child;
  }
  /** The participant key's suffix (its lease hex), printed by the worker once the key exists. */
  async function leaseOf(w: ChildHandle): Promise<string> {
    const line = await w.waitForLine((l) => l.startsWith('waiting ') || l.startsWith('error '), 60_000);
    if (line.startsWith('error ')) throw new Error(`worker ${w.pid}: ${line}\n${w.stderr()}`);
    return line.split(' ')[1]!;
  }
  async function revisionOf(w: ChildHandle, what: 'entered' | 'left'): Promise<bigint> {
    const line = await w.waitForLine((l) => l.startsWith(`${what} `) || l.startsWith('error '), 60_000);
    if (line.startsWith('error ')) throw new Error(`worker ${w.pid}: ${line}\n${w.stderr()}`);
    return BigInt(line.split(' ')[1]!);
  }
  async function watchWaiters(name: string): Promise<WaiterLog> {
    const log = await WaiterLog.start(etcd.admin, `${etcd.prefix}${name}/waiters/`);
    logs.push(log);
    return log;
  }

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await Promise.all(logs.splice(0).map((l) => l.stop()));
  });

  it('5 processes: nobody passes enter before all 5 arrived, nobody passes leave before all 5 left', async () => {
    const log = await watchWaiters('five');
    // Staggered arrivals and unequal work, so early arrivers really wait and early finishers really wait.
    const ws = Array.from({ length: 5 }, (_, i) =>
      worker('five', 5, { ENTER_DELAY_MS: String(i * 400), WORK_MS: String((4 - i) * 300) }),
    );
    const leases = await Promise.all(ws.map(leaseOf));
    const entered = await Promise.all(ws.map((w) => revisionOf(w, 'entered')));
    const left = await Promise.all(ws.map((w) => revisionOf(w, 'left')));
    for (const w of ws) expect(await w.exited).toEqual({ code: 0, signal: null });

    await waitFor(() => leases.every((l) => log.deleted.has(l)), {
      message: 'every participant key deleted',
    });
    const created = leases.map((l) => log.created.get(l)!);
    const deleted = leases.map((l) => log.deleted.get(l)!);
    expect(created.every((r) => r > 0n)).toBe(true);
    // The first to pass enter did so after the last participant key was created…
    expect(min(entered)).toBeGreaterThan(max(created));
    // …and the first to pass leave did so after the last participant key was deleted.
    expect(min(left)).toBeGreaterThan(max(deleted));
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}five/`).keys()).toEqual([]);
  });

  it('a participant killed while waiting in enter stops counting: the others wait for a replacement', async () => {
    const log = await watchWaiters('replace');
    const a = worker('replace', 3);
    const victim = worker('replace', 3, { COORD_TTL: '2' });
    const [leaseA, leaseV] = await Promise.all([leaseOf(a), leaseOf(victim)]);
    await waitFor(() => log.created.has(leaseA) && log.created.has(leaseV), {
      timeoutMs: 30_000,
      message: 'two arrived',
    });

    victim.kill('SIGKILL');
    // Its lease expires (TTL 2 s) and takes its key with it.
    await waitFor(() => log.deleted.has(leaseV), {
      timeoutMs: 15_000,
      message: "the victim's key deleted by lease expiry",
    });
    expect(a.output.some((l) => l.startsWith('entered'))).toBe(false);

    const b = worker('replace', 3);
    const c = worker('replace', 3);
    const leasesBC = await Promise.all([leaseOf(b), leaseOf(c)]);
    const entered = await Promise.all([a, b, c].map((w) => revisionOf(w, 'entered')));
    await Promise.all([a, b, c].map((w) => revisionOf(w, 'left')));
    const createdBC = leasesBC.map((l) => log.created.get(l)!);
    // A passed only once the two replacements had arrived, after the victim was gone.
    expect(min(entered)).toBeGreaterThan(max(createdBC));
    expect(min(entered)).toBeGreaterThan(log.deleted.get(leaseV)!);
  });

  it('a participant killed after entering is not waited for forever: leave proceeds once its lease removed its key', async () => {
    const log = await watchWaiters('dead-leaver');
    const a = worker('dead-leaver', 3);
    const b = worker('dead-leaver', 3);
    const victim = worker('dead-leaver', 3, { MODE: 'hang', COORD_TTL: '2' });
    const leaseV = await leaseOf(victim);
    await Promise.all([a, b, victim].map((w) => revisionOf(w, 'entered')));
    victim.kill('SIGKILL');

    const left = await Promise.all([a, b].map((w) => revisionOf(w, 'left')));
    await waitFor(() => log.deleted.has(leaseV), { message: "the victim's key deleted" });
    // They waited for the dead participant's key to go (by lease expiry), then proceeded.
    expect(min(left)).toBeGreaterThan(log.deleted.get(leaseV)!);
    for (const w of [a, b]) expect(await w.exited).toEqual({ code: 0, signal: null });
  });
});
