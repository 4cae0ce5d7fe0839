/**
 * Interop with `etcdctl lock`: the same key layout `<name>/<leaseId hex>`, so `etcdctl lock <name> -- cmd`
 * and `Mutex` on the same name never hold at the same time, in either order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

/** Runs `etcdctl lock <name> -- sh -c <script>`; collects stdout lines with the time they arrived. */
function etcdctlLock(endpoints: string[], name: string, script: string) {
  const child: ChildProcess = spawn(
    'etcdctl',
    [`--endpoints=${endpoints.join(',')}`, 'lock', name, '--', 'sh', '-c', script],
    {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: { line: string; at: number }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push({ line, at: performance.now() }));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const seen = async (text: string, timeoutMs = 15_000): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = lines.find((l) => l.line === text);
      if (hit) return hit.at;
      if (Date.now() > deadline) throw new Error(`etcdctl never printed ${text}; stderr: ${stderr}`);
      await sleep(10);
    }
  };
  return {
    child,
    lines,
    exited,
    seen,
    kill: () => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'),
  };
}

describe('mutex interop with etcdctl lock', () => {
  const etcd = usePrivateEtcd({ members: 1 });

  it('etcdctl waits while Mutex holds, and Mutex waits while etcdctl holds', async () => {
    const ns = uniquePrefix('interop');
    const coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 2 });
    let second: ReturnType<typeof etcdctlLock> | undefined;
    try {
      // 1. Mutex holds first: etcdctl must not run its command until we unlock.
      const m = coord.mutex('job');
      const lock = await m.lock();
      second = etcdctlLock(etcd.cluster.endpoints, `${ns}job`, 'echo in; sleep 1; echo out');
      // etcdctl's waiter key sits next to ours: the same layout, <name>/<leaseId hex>.
      const client = etcd.cluster.client();
      await waitFor(async () => (await client.getAll().prefix(`${ns}job/`).keys()).length === 2, {
        message: 'etcdctl queued',
      });
      await sleep(1500);
      expect(second.lines.map((l) => l.line)).toEqual([]);
      const releasedAt = performance.now();
      await lock.unlock();
      const inAt = await second.seen('in');
      expect(inAt).toBeGreaterThan(releasedAt);
      // 2. etcdctl holds: Mutex must wait until its command finished.
      const again = await m.lock({ timeoutMs: 15_000 });
      const acquiredAt = performance.now();
      const outAt = await second.seen('out');
      expect(acquiredAt).toBeGreaterThan(outAt);
      expect(await second.exited).toBe(0);
      await again.unlock();
    } finally {
      second?.kill();
      await coord.close();
    }
  }, 60_000);
});
