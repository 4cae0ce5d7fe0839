import { describe, expect, it } from 'vitest';
import { usePrivateEtcd } from '../support/shared.js';
import { startCli, useCli } from './cli-helper.js';

describe('etcd-coord ls on 100k keys', { timeout: 120_000 }, () => {
  useCli();
  // A private etcd: 100k keys would bloat the shared one.
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  async function fill(prefix: string, count: number): Promise<void> {
    const client = etcd.cluster.client();
    const value = 'v'.repeat(200);
    const batches: number[][] = [];
    for (let i = 0; i < count; i += 100)
      batches.push(Array.from({ length: Math.min(100, count - i) }, (_, j) => i + j));
    for (let b = 0; b < batches.length; b += 16) {
      await Promise.all(
        batches.slice(b, b + 16).map((batch) => {
          const ops = batch.map((i) => client.put(`${prefix}${String(i).padStart(6, '0')}`).value(value));
          return client
            .if(`${prefix}000000`, 'Version', '>', -1)
            .then(...ops)
            .commit();
        }),
      );
    }
  }

  it('streams every key in flat memory: 100k keys list within a 24 MB heap', async () => {
    await fill('big/', 100_000);
    // Holding the listing (100k keys with their values and revisions) would need well over 24 MB of heap:
    // V8 would abort with "heap out of memory". Streaming page by page needs a few pages at a time.
    const cli = startCli(
      ['--endpoints', etcd.cluster.endpoints.join(','), 'ls', 'big/', '--page-size', '1000'],
      {
        NODE_OPTIONS: '--max-old-space-size=24',
      },
    );
    let lines = 0;
    for await (const _line of cli.lines) lines++;
    const exit = await cli.exited;
    expect(exit.code, cli.stderr()).toBe(0);
    expect(lines).toBe(200_000);
  }, 240_000);
});
