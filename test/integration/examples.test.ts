import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedEndpoints, spawnNode } from '../support/shared.js';

// Every runnable program in examples/ (and the demo) runs against the shared etcd as a smoke test.
const programs = readdirSync('examples')
  .filter((f) => f.endsWith('.ts'))
  .sort();

describe('examples run against a real etcd', () => {
  const endpoints = sharedEndpoints();

  it.each(programs)('examples/%s exits 0', { timeout: 90_000 }, async (file) => {
    const child = spawnNode(`examples/${file}`, [], {
      env: { ETCD_ENDPOINTS: endpoints.join(','), EXAMPLE_SMOKE: '1' },
    });
    const exit = await child.exited;
    if (exit.code !== 0) console.error(child.output.join('\n'), child.stderr());
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
