/**
 * Registry worker. Role `registrar`: keeps 2–3 instances registered and churns one every 1–3 s.
 * Role `discovery`: keeps a `ServiceDiscovery` cache. On SIGUSR2 both report: the registrar the ids it
 * believes registered (`live`), the discovery worker the ids in its cache (`instances`).
 *
 * History: `register` {id, write}, `deregister` {id, write}, `final` {live | instances}.
 *
 * @module
 */
import type { Registration } from '../../src/index.js';
import { pause, runWorker } from './common.js';
import { SERVICE } from '../names.js';

await runWorker(async (w) => {
  const { coord, rng } = w;
  if (w.role === 'discovery') {
    // The first snapshot can time out on a loaded machine (before any fault): a service retries it, and
    // so does this worker, or its cache would stay empty and the convergence checker would blame the cache.
    let svc: Awaited<ReturnType<typeof coord.discovery>> | undefined;
    while (svc === undefined) {
      try {
        svc = await coord.discovery(SERVICE);
      } catch (err) {
        if (w.quiesce.aborted) throw err;
        await pause(500, w.quiesce);
      }
    }
    const cache = svc;
    w.onReport(() => ({
      instances: cache
        .instances()
        .map((i) => i.id)
        .sort(),
      revision: cache.revision.toString(),
    }));
    w.onStop(() => cache.close());
    return;
  }
  const registry = coord.registry(SERVICE);
  const live = new Map<string, Registration>();
  w.onReport(() => ({ live: [...live.keys()].sort() }));
  let seq = 0;
  while (!w.quiesce.aborted) {
    if (live.size < 2 || (live.size < 3 && rng.next() < 0.5)) {
      const id = `${w.name}-${seq++}`;
      const port = 10_000 + seq;
      const res = await w.record('register', { id, write: true }, () =>
        registry.register({ id, address: `127.0.0.1:${port}`, metadata: { worker: w.name } }),
      );
      if (res.value !== undefined) live.set(id, res.value);
    } else {
      const ids = [...live.keys()];
      const id = rng.pick(ids);
      const reg = live.get(id);
      live.delete(id);
      if (reg !== undefined) await w.record('deregister', { id, write: true }, () => reg.deregister());
    }
    await pause(rng.int(1_000, 3_000), w.quiesce);
  }
});
