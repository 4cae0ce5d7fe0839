import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Etcd3, Watcher } from 'etcd3';
import type { BenchContext, Scenario } from '../lib.js';
import { percentile } from '../lib.js';
import type { WatchedConfig } from '../../src/index.js';

const CONSUMERS = 1000;
const ROUNDS = 60;
const WARMUP = 5;

async function seed(admin: Etcd3, prefix: string): Promise<void> {
  await Promise.all([
    admin.put(`${prefix}db/url`).value('postgres://db:5432/app'),
    admin.put(`${prefix}db/pool`).value('10'),
    admin.put(`${prefix}features`).value('{"beta":true}'),
    admin.put(`${prefix}seq`).value('-1000'),
  ]);
}

/**
 * Puts `seq` = round, `ROUNDS` times, and measures put → every consumer has seen it. `arm(round, done)`
 * must call `done()` once all consumers saw `round`.
 */
async function putToAll(
  admin: Etcd3,
  key: string,
  arm: (round: number, done: () => void) => void,
): Promise<number[]> {
  const latencies: number[] = [];
  for (let round = -WARMUP; round < ROUNDS; round++) {
    const seen = new Promise<void>((resolve) => arm(round, resolve));
    const t = performance.now();
    await admin.put(key).value(String(round));
    await seen;
    if (round >= 0) latencies.push(performance.now() - t);
  }
  return latencies;
}

/** A forced GC, so heap deltas measure what is retained, not garbage (tsx runs without --expose-gc). */
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapMiB(): number {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** etcd-coord: 1,000 WatchedConfig on one prefix, one coordinator. */
async function fanOutCoord(ctx: BenchContext): Promise<void> {
  const ns = ctx.prefix('config-fan');
  const admin = ctx.client();
  await seed(admin, `${ns}app/config/`);
  const coord = await ctx.connect({ namespace: ns });
  const heap0 = heapMiB();

  let t = performance.now();
  const cfgs: WatchedConfig[] = await Promise.all(
    Array.from({ length: CONSUMERS }, () => coord.config('app/config/')),
  );
  const attachParallelMs = performance.now() - t;
  const watchers = coord.watchHub.watcherCount;
  const heap = heapMiB() - heap0;

  let current = Number.NaN;
  let count = 0;
  let done: () => void = () => undefined;
  for (const cfg of cfgs) {
    cfg.on('change', (next) => {
      if (next['seq'] === current && ++count === CONSUMERS) done();
    });
  }
  const latencies = await putToAll(admin, `${ns}app/config/seq`, (round, resolve) => {
    current = round;
    count = 0;
    done = resolve;
  });
  await Promise.all(cfgs.map((c) => c.close()));

  // The same 1,000, attached one after another, for a like-for-like comparison with the naive loop.
  t = performance.now();
  const serial: WatchedConfig[] = [];
  for (let i = 0; i < CONSUMERS; i++) serial.push(await coord.config('app/config/'));
  const attachSerialMs = performance.now() - t;
  await Promise.all(serial.map((c) => c.close()));

  ctx.record({
    scenario: 'config',
    variant: `put → all ${CONSUMERS} WatchedConfig updated (etcd-coord, one coordinator)`,
    opsPerSec: (ROUNDS / latencies.reduce((a, b) => a + b, 0)) * 1000,
    ratioTo: 'rawPut1',
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: {
      'attach all (parallel) ms': attachParallelMs,
      'attach all (one by one) ms': attachSerialMs,
      'etcd watchers': watchers,
      'heap MiB': heap,
    },
  });
}

/** The naive approach: per consumer, a get, then its own etcd3 watcher from the next revision, one after another. */
async function fanOutNaive(ctx: BenchContext): Promise<void> {
  const prefix = `${ctx.prefix('config-naive')}app/config/`;
  const admin = ctx.client();
  await seed(admin, prefix);
  const client = ctx.client();
  const heap0 = heapMiB();

  let current = Number.NaN;
  let count = 0;
  let done: () => void = () => undefined;
  const watchers: Watcher[] = [];
  const t = performance.now();
  for (let i = 0; i < CONSUMERS; i++) {
    const res = await client.getAll().prefix(prefix).exec();
    const state = new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
    const w = await client
      .watch()
      .prefix(prefix)
      .startRevision(String(BigInt(res.header.revision) + 1n))
      .create();
    w.on('put', (kv) => {
      state.set(kv.key.toString(), kv.value.toString());
      if (Number(kv.value.toString()) === current && ++count === CONSUMERS) done();
    });
    w.on('delete', (kv) => state.delete(kv.key.toString()));
    watchers.push(w);
  }
  const attachMs = performance.now() - t;
  const heap = heapMiB() - heap0;

  const latencies = await putToAll(admin, `${prefix}seq`, (round, resolve) => {
    current = round;
    count = 0;
    done = resolve;
  });
  await Promise.all(watchers.map((w) => w.cancel()));

  ctx.record({
    scenario: 'config',
    variant: `put → all ${CONSUMERS} consumers updated (naive: get + etcd3 watcher each, one after another)`,
    opsPerSec: (ROUNDS / latencies.reduce((a, b) => a + b, 0)) * 1000,
    ratioTo: 'rawPut1',
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: { 'attach all (one by one) ms': attachMs, 'etcd watchers': CONSUMERS, 'heap MiB': heap },
  });
}

export const scenarios: Scenario[] = [
  { name: 'config: fan-out 1000 WatchedConfig', run: fanOutCoord },
  { name: 'config: fan-out 1000 naive etcd3 watchers', run: fanOutNaive },
];
