import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Etcd3 } from 'etcd3';
import type { BenchContext, Scenario } from '../lib.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const VALUE = Buffer.alloc(100, 'v');

async function fill(client: Etcd3, prefix: string, n: number): Promise<void> {
  const batches = Math.ceil(n / 100);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let b = next++; b < batches; b = next++) {
        const ops = [];
        for (let i = b * 100; i < Math.min(n, (b + 1) * 100); i++) {
          ops.push(client.put(`${prefix}${String(i).padStart(8, '0')}`).value(VALUE));
        }
        await client
          .if(`${prefix}x`, 'Version', '==', 0)
          .then(...ops)
          .commit();
      }
    }),
  );
}

/** Runs `fn` while sampling heap use; returns keys/s and the peak heap growth in MiB. */
async function sampled(
  n: number,
  fn: (tick: () => void) => Promise<number>,
): Promise<{ keysPerSec: number; peakMiB: number }> {
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = 0;
  let seen = 0;
  // Live heap, not garbage: collect before each sample, every 5,000 keys.
  const tick = () => {
    if (++seen % 5000 !== 0) return;
    gc();
    peak = Math.max(peak, process.memoryUsage().heapUsed - base);
  };
  const t = performance.now();
  const count = await fn(tick);
  const ms = performance.now() - t;
  if (count !== n) throw new Error(`expected ${n} keys, got ${count}`);
  return { keysPerSec: (n / ms) * 1000, peakMiB: peak / 2 ** 20 };
}

async function rangeScenario(ctx: BenchContext, n: number): Promise<void> {
  const prefix = ctx.prefix(`range${n}`);
  const client = ctx.client();
  await fill(client, prefix, n);
  const coord = await ctx.connect();
  try {
    const ours = await sampled(n, async (tick) => {
      let count = 0;
      for await (const kv of coord.range(prefix, { pageSize: 1000 })) {
        if (kv.value.length !== 100) throw new Error('bad value');
        count++;
        tick();
      }
      return count;
    });
    // One unpaginated response: past gRPC's 4 MiB default message limit it fails outright.
    const theirs = await sampled(n, async (tick) => {
      const all = await client.getAll().prefix(prefix).buffers();
      let count = 0;
      for (const v of Object.values(all)) {
        if (v.length !== 100) throw new Error('bad value');
        count++;
        tick();
      }
      return count;
    }).catch((err: unknown) => ({ error: `fails: ${String(err).slice(0, 80)}` }));
    ctx.record({
      scenario: 'range',
      variant: `etcd-coord range, ${n / 1000}k keys, page 1000`,
      extra: { 'keys/s': Math.round(ours.keysPerSec), 'peak live heap MiB': ours.peakMiB },
    });
    ctx.record({
      scenario: 'range',
      variant: `etcd3 getAll().prefix(), ${n / 1000}k keys`,
      extra:
        'error' in theirs
          ? { result: theirs.error }
          : {
              'keys/s': Math.round(theirs.keysPerSec),
              'peak live heap MiB': theirs.peakMiB,
              'ours / theirs keys/s': ours.keysPerSec / theirs.keysPerSec,
            },
    });
  } finally {
    await ctx.client().delete().prefix(prefix);
  }
}

export const scenarios: Scenario[] = [
  { name: 'range-10k', run: (ctx) => rangeScenario(ctx, 10_000) },
  { name: 'range-100k', run: (ctx) => rangeScenario(ctx, 100_000) },
];
