/**
 * `npm run bench [-- filter…]`: starts a throwaway etcd through the test harness (or uses
 * ETCD_ENDPOINTS), measures the raw-put bound, runs every scenario in bench/scenarios/ side by side,
 * prints a Markdown table and writes bench/results/latest.json.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startEtcd } from '../test/support/etcd.js';
import { formatTable, rawPutBaseline, scenarioContext, type BenchRow, type Scenario } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));

async function loadScenarios(filters: string[]): Promise<Scenario[]> {
  const dir = join(here, 'scenarios');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort();
  const all: Scenario[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { scenarios?: Scenario[] };
    all.push(...(mod.scenarios ?? []));
  }
  return filters.length === 0 ? all : all.filter((s) => filters.some((f) => s.name.includes(f)));
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const scenarios = await loadScenarios(filters);
  const cluster = await startEtcd({ members: 1 });
  const rows: BenchRow[] = [];
  try {
    console.log(`etcd (${cluster.kind}) at ${cluster.endpoints.join(',')}; ${scenarios.length} scenarios`);
    const baseline = {
      rawPut1: await rawPutBaseline(cluster.endpoints, 1, 2000),
      rawPut8: await rawPutBaseline(cluster.endpoints, 8, 8000),
    };
    console.log(
      `raw put: ${baseline.rawPut1.toFixed(0)} ops/s (1 client), ${baseline.rawPut8.toFixed(0)} ops/s (8 clients)`,
    );
    rows.push(
      {
        scenario: 'baseline',
        variant: 'raw put, 1 client, concurrency 1',
        opsPerSec: baseline.rawPut1,
        ratioTo: 'rawPut1',
      },
      {
        scenario: 'baseline',
        variant: 'raw put, 8 clients',
        opsPerSec: baseline.rawPut8,
        ratioTo: 'rawPut8',
      },
    );
    for (const scenario of scenarios) {
      console.log(`\n▶ ${scenario.name}`);
      const ctx = scenarioContext(cluster.endpoints, baseline, rows);
      const t = performance.now();
      try {
        await scenario.run(ctx);
      } catch (err) {
        console.error(`  ✗ ${scenario.name} failed:`, err);
        rows.push({ scenario: scenario.name, variant: 'FAILED', extra: { error: String(err) } });
        process.exitCode = 1;
      } finally {
        await ctx.dispose();
      }
      console.log(`  (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    }
    const table = formatTable(rows, baseline);
    console.log(`\n${table}\n`);
    // A filtered run must not overwrite the full results.
    const name = filters.length === 0 ? 'latest' : 'partial';
    const out = join(here, 'results');
    await mkdir(out, { recursive: true });
    await writeFile(
      join(out, `${name}.json`),
      JSON.stringify(
        { date: new Date().toISOString(), node: process.version, filters, baseline, rows },
        null,
        2,
      ),
    );
    await writeFile(join(out, `${name}.md`), `${table}\n`);
    console.log(`results written to bench/results/${name}.json`);
  } finally {
    await cluster.stop();
  }
}

await main();
