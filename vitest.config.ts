import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Fault tests wait for lease expiry (2 s TTL) and member restarts; a 2-core CI box needs headroom.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    maxWorkers: 3,
    // A suite that leaves handles open is a bug: fail instead of hanging.
    dangerouslyIgnoreUnhandledErrors: false,
  },
});
