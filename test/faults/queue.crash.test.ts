/**
 * Acceptance 1: 3 producer and 4 consumer processes, consumers kill -9ed at random and restarted. At the
 * end every job was acked (side effects recorded with the job id), no job was held by two live consumers
 * at once, and the queue's prefix is empty.
 *
 * QUEUE_CRASH_JOBS sets the job count (default 600 to stay near a minute on a loaded 2-core box; the acceptance run uses 2000).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { spawnNode, uniquePrefix, usePrivateEtcd, waitFor, type ChildHandle } from '../support/shared.js';

const JOBS = Number(process.env['QUEUE_CRASH_JOBS'] ?? 600);
const QUEUE = 'work';

interface Handling {
  id: string;
  n: number;
  pid: number;
  start: number;
  /** Acked at. */
  end?: number;
  /** The job's signal aborted at (its consumer's lease was or may have been lost). */
  lost?: number;
}

/** Reads every consumer's side-effect file; a line cut short by kill -9 is skipped. */
function readHandlings(files: string[]): { handlings: Handling[]; done: Map<number, string>; acked: number } {
  const byKey = new Map<string, Handling>();
  const done = new Map<number, string>();
  let acked = 0;
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const f = line.split(' ');
      if (f[0] === 'S' && f.length === 6) {
        const h: Handling = { id: f[1]!, n: Number(f[2]), pid: Number(f[4]), start: Number(f[5]) };
        byKey.set(`${h.pid} ${h.id} ${h.start}`, h);
      } else if (f[0] === 'X' && f.length === 6) {
        const h = byKey.get(`${f[3]} ${f[1]} ${f[4]}`);
        if (h) h.lost = Number(f[5]);
      } else if (f[0] === 'D' && f.length === 5) {
        done.set(Number(f[2]), f[1]!);
      } else if (f[0] === 'A' && f.length === 6) {
        const h = byKey.get(`${f[3]} ${f[1]} ${f[4]}`);
        if (h) h.end = Number(f[5]);
        acked++;
      }
    }
  }
  return { handlings: [...byKey.values()], done, acked };
}

describe('queue under consumer crashes (processes)', () => {
  const etcd = usePrivateEtcd({ members: 1 });

  it(`${JOBS} jobs, 3 producers, 4 consumers kill -9ed at random: nothing lost, no overlap, prefix empty`, async () => {
    const { cluster } = etcd;
    const ns = uniquePrefix('queue-crash');
    const dir = mkdtempSync(join(tmpdir(), 'queue-crash-'));
    const env: Record<string, string> = { ETCD_ENDPOINTS: cluster.endpoints.join(','), QUEUE_NS: ns };
    if (process.env['QUEUE_DEBUG']) env['QUEUE_DEBUG'] = '1';
    const files: string[] = [];
    const killedAt = new Map<number, number>();
    let fileNo = 0;
    const startConsumer = (): { child: ChildHandle; file: string } => {
      const file = join(dir, `c${fileNo++}.log`);
      files.push(file);
      return { child: spawnNode('test/workers/queue-consumer.ts', [QUEUE, file], { env }), file };
    };
    const consumers = [0, 1, 2, 3].map(() => startConsumer());
    await Promise.all(consumers.map((c) => c.child.waitForLine(/^ready/, 30_000)));
    const t0 = Date.now();
    const share = Math.ceil(JOBS / 3);
    const producers = [0, 1, 2].map((i) =>
      spawnNode(
        'test/workers/queue-producer.ts',
        [QUEUE, String(i * share), String(Math.max(0, Math.min(share, JOBS - i * share)))],
        {
          env,
        },
      ),
    );
    let kills = 0;
    let passed = false;
    try {
      // Every 0.6–1.5 s, kill -9 a random consumer that is busy with jobs (not one still starting up) and
      // start a replacement, while jobs remain.
      for (;;) {
        await sleep(600 + Math.random() * 900);
        if (readHandlings(files).done.size >= JOBS) break;
        const busy = consumers.filter((c) => {
          try {
            return readFileSync(c.file, 'utf8').includes('S ');
          } catch {
            return false;
          }
        });
        const victim = busy[Math.floor(Math.random() * busy.length)];
        if (victim === undefined) continue;
        victim.child.kill('SIGKILL');
        killedAt.set(victim.child.pid, Date.now());
        kills++;
        await victim.child.exited;
        consumers[consumers.indexOf(victim)] = startConsumer();
        if (Date.now() - t0 > 30_000) break; // then let the rest drain without kills
      }
      await Promise.all(producers.map((p) => p.waitForLine(/^done$/, 120_000)));
      // Every job done: its side effect recorded, and the queue empty (so every job was acked: an item is
      // deleted only by its ack).
      const client = cluster.client();
      const queueKeys = () => client.getAll().prefix(`${ns}queue/${QUEUE}/`).keys();
      // Live consumers keep their registration key (under their lease); items and claims must be gone.
      const jobKeys = async () => (await queueKeys()).filter((k) => !k.includes('/consumers/'));
      await waitFor(async () => readHandlings(files).done.size >= JOBS && (await jobKeys()).length === 0, {
        timeoutMs: 180_000,
        intervalMs: 250,
        message: 'every job done and the queue prefix empty',
      });
      const elapsed = Date.now() - t0;

      const pushed = new Map<number, string>();
      for (const p of producers) {
        for (const line of p.output) {
          const f = line.split(' ');
          if (f[0] === 'P') pushed.set(Number(f[1]), f[2]!);
        }
      }
      expect(pushed.size).toBe(JOBS);
      const { handlings, done, acked } = readHandlings(files);
      // Every job pushed was completed (side effect recorded) under its own id.
      for (const [n, id] of pushed) expect(done.get(n), `job ${n}`).toBe(id);

      // No job held by two live consumers at once: a handling ends at its ack, when its process was killed, or
      // when its job's signal aborted (the consumer's session lease was, or may have been, lost: a consumer
      // starved of CPU for longer than the TTL is not live, and is told so).
      const byId = new Map<string, Handling[]>();
      for (const h of handlings) byId.set(h.id, [...(byId.get(h.id) ?? []), h]);
      let redelivered = 0;
      const lost = handlings.filter((h) => h.lost !== undefined).length;
      for (const [id, hs] of byId) {
        hs.sort((a, b) => a.start - b.start);
        redelivered += hs.length - 1;
        for (let k = 1; k < hs.length; k++) {
          const prev = hs[k - 1]!;
          const ends = [prev.end, prev.lost, killedAt.get(prev.pid)].filter(
            (t): t is number => t !== undefined,
          );
          const prevEnd = ends.length > 0 ? Math.min(...ends) : undefined;
          expect(
            prevEnd,
            `job ${id}: handling by ${prev.pid} neither acked, lost nor killed, yet redelivered`,
          ).toBeDefined();
          expect(
            prevEnd!,
            `job ${id}: redelivered to ${hs[k]!.pid} while ${prev.pid} still held it`,
          ).toBeLessThanOrEqual(hs[k]!.start);
        }
      }
      console.log(
        `queue crash test: ${JOBS} jobs in ${elapsed} ms, ${kills} consumer kills, ${redelivered} redeliveries, ${lost} handlings whose session was lost, ${handlings.length} handlings, ${acked} acks recorded`,
      );
      // Once the consumers are stopped, the queue's prefix is empty: no item, no claim, no registration
      // (a stopped consumer deletes its own, a killed one's goes with its lease).
      await Promise.all(consumers.map((c) => c.child.stop()));
      const left = await waitFor(async () => ((await queueKeys()).length === 0 ? 'empty' : undefined), {
        timeoutMs: 30_000,
        message: 'queue prefix empty',
      }).catch(async () => (await queueKeys()).join(', '));
      expect(left).toBe('empty');
      passed = true;
    } finally {
      await Promise.all([...consumers.map((c) => c.child), ...producers].map((c) => c.stop()));
      for (const { child: c } of consumers) {
        const stats = c.output.find((l) => l.startsWith('stats'));
        if (stats) console.log(`consumer ${c.pid}: ${stats}`);
        if (process.env['QUEUE_DEBUG']) console.log(`consumer ${c.pid} stderr:\n${c.stderr().slice(-3000)}`);
      }
      if (passed) rmSync(dir, { recursive: true, force: true });
      else console.log(`side-effect files kept in ${dir}`);
    }
  }, 240_000);
});
