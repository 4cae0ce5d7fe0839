/**
 * The benchmark harness: scenarios run side by side in one process against one etcd, and every
 * throughput is reported next to the machine's own bound (raw puts through the same client library),
 * so the numbers mean something on any machine. Timings live here, never in tests.
 */
import { Etcd3 } from 'etcd3';
import { connect, type Coordinator } from '../src/index.js';
import type { ConnectOptions } from '../src/core/connect.js';

/** One line of the results table. */
export interface BenchRow {
  /** Scenario family, e.g. 'mutex'. */
  scenario: string;
  /** What was measured, e.g. 'etcd-coord Mutex, 8 clients' or 'etcd3 Lock (retry loop)'. */
  variant: string;
  opsPerSec?: number;
  /** ops/s divided by the named raw-put baseline. */
  ratioTo?: 'rawPut1' | 'rawPut8';
  p50Ms?: number;
  p99Ms?: number;
  /** Anything else worth a column: requests per op, wasted attempts, peak heap MiB… */
  extra?: Record<string, string | number>;
}

/** What a scenario gets. Everything it connects through here is closed after it runs. */
export interface BenchContext {
  endpoints: string[];
  /** Raw put throughput (ops/s) with one client at concurrency 1, and with 8 separate clients. */
  baseline: { rawPut1: number; rawPut8: number };
  /** A coordinator on the bench etcd, closed after the scenario. */
  connect(opts?: ConnectOptions): Promise<Coordinator>;
  /** A plain etcd3 client on the bench etcd, closed after the scenario. */
  client(): Etcd3;
  /** A unique key prefix for this scenario. */
  prefix(label: string): string;
  record(row: BenchRow): void;
  log(line: string): void;
}

export interface Scenario {
  /** Unique name; `npm run bench -- <filter>` runs the scenarios whose name contains the filter. */
  name: string;
  run(ctx: BenchContext): Promise<void>;
}

/** Percentile of an unsorted sample (nearest rank). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Runs `op` `workers`-wide until `total` ops are done; returns ops/s and per-op latencies in ms. */
export async function measure(
  total: number,
  workers: number,
  op: (worker: number, i: number) => Promise<void>,
): Promise<{ opsPerSec: number; latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = next++; i < total; i = next++) {
        const t = performance.now();
        await op(w, i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  return { opsPerSec: (total / elapsedMs) * 1000, latencies, elapsedMs };
}

/** Raw put throughput: the machine's bound for anything that writes. */
export async function rawPutBaseline(endpoints: string[], clients: number, total: number): Promise<number> {
  const cs = Array.from({ length: clients }, () => new Etcd3({ hosts: endpoints }));
  try {
    await Promise.all(cs.map((c) => c.put('bench/raw/warmup').value('x')));
    const { opsPerSec } = await measure(total, clients, (w, i) =>
      cs[w]!.put(`bench/raw/${w}/${i % 100}`)
        .value('x')
        .then(() => undefined),
    );
    await cs[0]!.delete().prefix('bench/raw/');
    return opsPerSec;
  } finally {
    for (const c of cs) c.close();
  }
}

/** Builds the context for one scenario; `dispose()` closes what it opened. */
export function scenarioContext(
  endpoints: string[],
  baseline: BenchContext['baseline'],
  rows: BenchRow[],
): BenchContext & { dispose(): Promise<void> } {
  const coords: Coordinator[] = [];
  const clients: Etcd3[] = [];
  let n = 0;
  return {
    endpoints,
    baseline,
    async connect(opts = {}) {
      const coord = await connect({ endpoints, ...opts });
      coords.push(coord);
      return coord;
    },
    client() {
      const c = new Etcd3({ hosts: endpoints });
      clients.push(c);
      return c;
    },
    prefix: (label) => `bench/${label}-${process.pid}-${n++}/`,
    record: (row) => rows.push(row),
    log: (line) => console.log(`  ${line}`),
    async dispose() {
      await Promise.allSettled(coords.map((c) => c.close()));
      for (const c of clients) c.close();
    },
  };
}

/** Formats the results as a Markdown table (the README's benchmark table is pasted from this). */
export function formatTable(rows: BenchRow[], baseline: BenchContext['baseline']): string {
  const fmt = (n: number | undefined, digits = 0) =>
    n === undefined || Number.isNaN(n) ? '' : n.toFixed(digits);
  const lines = [
    `raw put: ${fmt(baseline.rawPut1)} ops/s at concurrency 1, ${fmt(baseline.rawPut8)} ops/s with 8 clients`,
    '',
    '| scenario | variant | ops/s | ratio | p50 ms | p99 ms | notes |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const ratio =
      r.opsPerSec !== undefined && r.ratioTo
        ? `${(r.opsPerSec / baseline[r.ratioTo]).toFixed(3)}× ${r.ratioTo}`
        : '';
    const notes = Object.entries(r.extra ?? {})
      .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : v}`)
      .join(', ');
    lines.push(
      `| ${r.scenario} | ${r.variant} | ${fmt(r.opsPerSec)} | ${ratio} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${notes} |`,
    );
  }
  return lines.join('\n');
}
