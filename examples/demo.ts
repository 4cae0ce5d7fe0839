/**
 * `npm run demo`: starts a throwaway etcd through the test harness (or uses ETCD_ENDPOINTS), connects,
 * and runs each section in examples/demo/ in file-name order, printing what happens.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connect, type Coordinator } from '../src/index.js';
import { startEtcd } from '../test/support/etcd.js';

interface DemoSection {
  title: string;
  run(coord: Coordinator, log: (line: string) => void): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const cluster = await startEtcd({ members: 1 });
  console.log(`etcd-coord demo — etcd (${cluster.kind}) at ${cluster.endpoints.join(',')}\n`);
  const namespace = `demo-${process.pid}/`;
  const coord = await connect({ endpoints: cluster.endpoints, namespace, ttlSeconds: 5 });
  let failed = false;
  try {
    const files = (await readdir(join(here, 'demo'))).filter((f) => f.endsWith('.ts')).sort();
    for (const file of files) {
      const section = (await import(pathToFileURL(join(here, 'demo', file)).href)) as DemoSection;
      console.log(`── ${section.title} ${'─'.repeat(Math.max(0, 60 - section.title.length))}`);
      try {
        await section.run(coord, (line) => console.log(`   ${line}`));
      } catch (err) {
        failed = true;
        console.log(`   ✗ failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      console.log('');
    }
  } finally {
    await coord.close();
    const admin = cluster.client();
    await admin.delete().prefix(namespace);
    await cluster.stop();
  }
  console.log(
    failed ? 'demo finished with failures' : 'demo finished: every key it wrote is gone, etcd stopped.',
  );
  if (failed) process.exitCode = 1;
}

await main();
