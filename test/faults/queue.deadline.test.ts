/**
 * Issue 22: `timeoutMs` is an upper bound. With the only etcd member paused (SIGSTOP), every queue call
 * given `{ timeoutMs: 1000 }` settles within 1000 ms + 1 s with a `CoordError`; `push()` takes the option.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  connect,
  CoordError,
  UnavailableError,
  type Coordinator,
  type Job,
  type Queue,
} from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const TIMEOUT_MS = 1000;
const SLACK_MS = 1000;

describe('queue with etcd paused: every call settles within timeoutMs + 1 s', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let coord: Coordinator;
  let q: Queue<string>;
  let job: Job<string>;

  beforeEach(async () => {
    coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: uniquePrefix('queue-deadline') });
    q = coord.queue<string>('jobs');
    await q.push('a');
    await q.push('b');
    job = await q.pop({ timeoutMs: 5000 });
  });
  afterEach(async () => {
    const member = etcd.cluster.members[0]!;
    if (member.paused) member.resume();
    await coord.close();
  });

  const calls: [string, () => Promise<unknown>][] = [
    ['push', () => q.push('c', { timeoutMs: TIMEOUT_MS })],
    ['size', () => q.size({ timeoutMs: TIMEOUT_MS })],
    ['pop', () => q.pop({ timeoutMs: TIMEOUT_MS }).then(() => q.pop({ timeoutMs: TIMEOUT_MS }))],
    ['job.ack', () => job.ack({ timeoutMs: TIMEOUT_MS })],
    ['job.nack', () => job.nack({ timeoutMs: TIMEOUT_MS })],
    ['job.release', () => job.release({ timeoutMs: TIMEOUT_MS })],
  ];

  for (const [name, call] of calls) {
    it(`${name}({ timeoutMs: ${TIMEOUT_MS} }) settles in time with a CoordError`, async () => {
      etcd.cluster.members[0]!.pause();
      const started = performance.now();
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      expect(err).toBeInstanceOf(CoordError);
      expect(['UNAVAILABLE', 'ABORTED']).toContain((err as CoordError).code);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }, 30_000);
  }

  it('a push cut short by its timeoutMs says it may have been applied', async () => {
    etcd.cluster.members[0]!.pause();
    const err = await q.push('c', { timeoutMs: TIMEOUT_MS }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).mayHaveApplied).toBe(true);
  }, 30_000);
});
