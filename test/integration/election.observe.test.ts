/**
 * observe(): current leader first, every change in order, never an older leader after a newer one,
 * bounded buffer; and interop with `etcdctl elect` both ways.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type LeaderInfo } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

function etcdctl(endpoints: string[], args: string[]): { child: ChildProcess; lines: string[] } {
  const child = spawn('etcdctl', [`--endpoints=${endpoints.join(',')}`, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  return { child, lines };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe('election: observe and etcdctl interop', () => {
  const etcd = useSharedEtcd('election-observe');
  const open: Coordinator[] = [];
  const children: ChildProcess[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(children.splice(0).map(stopChild));
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('yields the current leader first, then each change, null when none, never an older leader', async () => {
    const [a, b, o] = [await coord(), await coord(), await coord()];
    const ta = await a.election('obs').campaign('A');
    const seen: (LeaderInfo | null)[] = [];
    const it = o.election('obs').observe();
    const loop = (async () => {
      for await (const l of it) seen.push(l);
    })();
    await waitFor(() => seen.length === 1);
    expect(seen[0]?.value.toString()).toBe('A');
    const pb = b.election('obs').campaign('B');
    await waitFor(async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}obs/`).count()) === 2);
    await ta.proclaim('A2');
    await waitFor(() => seen.at(-1)?.value.toString() === 'A2');
    await ta.resign();
    const tb = await pb;
    await waitFor(() => seen.at(-1)?.value.toString() === 'B');
    await tb.resign();
    await waitFor(() => seen.at(-1) === null);
    await it.return();
    await loop;
    const values = seen.map((l) => l?.value.toString() ?? null);
    expect(values).toEqual(['A', 'A2', 'B', null]);
    // Never an older leader after a newer one.
    let newest = 0n;
    for (const l of seen) {
      if (!l) continue;
      expect(l.revision).toBeGreaterThanOrEqual(newest);
      newest = l.revision;
    }
  });

  it('a slow consumer gets the latest value; return() cancels the watch', async () => {
    const [a, o] = [await coord(), await coord()];
    const term = await a.election('slow').campaign('v0');
    const it = o.election('slow').observe();
    expect((await it.next()).value?.value.toString()).toBe('v0');
    const watchers = o.watchHub.watcherCount;
    expect(watchers).toBeGreaterThan(0);
    for (let i = 1; i <= 20; i++) await term.proclaim(`v${i}`);
    await waitFor(async () => (await etcd.admin.get(`${etcd.prefix}${term.key}`).string()) === 'v20');
    // Give the watch time to deliver every put: the buffer keeps only the latest.
    await waitFor(async () => {
      const r = await Promise.race([it.next(), new Promise<null>((res) => setTimeout(() => res(null), 200))]);
      return r !== null && !r.done && r.value?.value.toString() === 'v20';
    });
    await it.return();
    expect(o.watchHub.watcherCount).toBe(watchers - 1);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    await term.resign();
  });

  it('observe ends when its signal aborts', async () => {
    const o = await coord();
    const ac = new AbortController();
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const l of o.election('sig').observe({ signal: ac.signal })) seen.push(l);
    })();
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toBeNull();
    ac.abort();
    await loop;
  });

  it('etcdctl elect -l sees our leader; our observe() sees a leader elected by etcdctl elect', async () => {
    const a = await coord();
    const term = await a.election('interop').campaign('ours');
    const listen = etcdctl(etcd.endpoints, ['elect', '-l', `${etcd.prefix}interop`]);
    children.push(listen.child);
    await waitFor(() => listen.lines.includes('ours'), { message: 'etcdctl elect -l prints our value' });
    expect(listen.lines[0]).toBe(`${etcd.prefix}${term.key}`);
    await term.resign();

    const seen: (string | null)[] = [];
    const ac = new AbortController();
    const loop = (async () => {
      for await (const l of a.election('interop2').observe({ signal: ac.signal }))
        seen.push(l?.value.toString() ?? null);
    })();
    await waitFor(() => seen.length === 1);
    const theirs = etcdctl(etcd.endpoints, ['elect', `${etcd.prefix}interop2`, 'theirs']);
    children.push(theirs.child);
    await waitFor(() => seen.at(-1) === 'theirs', { message: 'observe() sees the etcdctl leader' });
    const leader = await a.election('interop2').leader();
    expect(leader?.key).toMatch(/^interop2\/[0-9a-f]+$/);
    // And our campaign queues behind it: etcdctl's key is a normal candidate key.
    const b = await coord();
    let elected = false;
    const pb = b
      .election('interop2')
      .campaign('ours-after')
      .then((t) => ((elected = true), t));
    await waitFor(async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}interop2/`).count()) === 2);
    expect(elected).toBe(false);
    await stopChild(theirs.child); // etcdctl resigns on SIGTERM
    const tb = await pb;
    await waitFor(() => seen.at(-1) === 'ours-after');
    ac.abort();
    await loop;
    await tb.resign();
  });
});
